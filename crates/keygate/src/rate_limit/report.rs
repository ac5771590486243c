//! What a request's limits looked like after it was counted: every applied limit
//! ([`Policy`]), the tightest one, and the response fields that say so
//! ([`RateLimitHeaders`]: `X-RateLimit-*`, the IETF `RateLimit-Policy` / `RateLimit`
//! fields, or both).

use std::ops::Range;

use super::gcra::{ceil_seconds, ceil_seconds_u64, GcraStep, MICROS_PER_DAY};
use super::name::LimitName;
use super::spec::{RateLimitSpec, RateLimitStatus};

const MICROS_PER_SECOND: i64 = 1_000_000;
/// The window of a daily quota, in seconds.
const DAY_SECONDS: u32 = 86_400;

/// Which rate-limit fields responses carry.
///
/// - [`XRateLimit`](RateLimitHeaders::XRateLimit) (the default): `X-RateLimit-Limit`,
///   `-Remaining` and `-Reset` (Unix seconds) of the tightest applied limit, the
///   convention GitHub and Kong use and the seed services document;
/// - [`Ietf`](RateLimitHeaders::Ietf): the HTTPAPI working group's fields
///   (draft-ietf-httpapi-ratelimit-headers-10), Structured Field lists naming every
///   applied limit: `RateLimit-Policy: "default";q=50;w=180, "default:daily";q=1000;w=86400`
///   and `RateLimit: "default";r=49;t=4, "default:daily";r=999;t=3600`. `q` is how many
///   requests the policy allows at once, `w` the seconds a used-up quota takes to come
///   back, `r` what is left and `t` the seconds until it is all back;
/// - [`Both`](RateLimitHeaders::Both).
///
/// A 429 carries `Retry-After` in every style.
///
/// ```
/// use keygate::rate_limit::RateLimitHeaders;
/// assert_eq!(RateLimitHeaders::default(), RateLimitHeaders::XRateLimit);
/// assert_eq!("ietf".parse::<RateLimitHeaders>(), Ok(RateLimitHeaders::Ietf));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum RateLimitHeaders {
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.
    #[default]
    XRateLimit,
    /// `RateLimit-Policy` and `RateLimit`.
    Ietf,
    /// Both sets.
    Both,
}

impl std::str::FromStr for RateLimitHeaders {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x-ratelimit" | "legacy" => Ok(Self::XRateLimit),
            "ietf" => Ok(Self::Ietf),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "unknown rate-limit header style {other:?}: expected x-ratelimit, ietf or both"
            )),
        }
    }
}

impl RateLimitHeaders {
    fn legacy(self) -> bool {
        matches!(self, Self::XRateLimit | Self::Both)
    }
    fn ietf(self) -> bool {
        matches!(self, Self::Ietf | Self::Both)
    }
}

/// One applied limit after a request: its rate part and, when it has one, its daily
/// quota, each as a [`RateLimitStatus`].
///
/// ```
/// use keygate::RateLimitSpec;
/// use keygate::rate_limit::{GcraState, LimitName, Policy};
/// let spec = RateLimitSpec::per_minute(60).with_burst(10).with_daily_quota(1000);
/// let now = 1_800_000_000_000_000;
/// let step = GcraState::step(None, &spec, now);
/// let policy = Policy::after(LimitName::default_limit(), &spec, &step, true, now);
/// assert_eq!((policy.rate.limit, policy.rate.remaining, policy.window), (10, 9, 10));
/// assert_eq!(policy.daily.map(|d| d.remaining), Some(999));
/// assert!(!policy.exceeded());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The limit's name (`default` for the key's own).
    pub name: LimitName,
    /// Seconds a used-up burst takes to come back: the `w` of `RateLimit-Policy`.
    pub window: u32,
    /// The rate part: `limit` is the burst (`q`).
    pub rate: RateLimitStatus,
    /// The daily quota, when the limit has one (`limit` is the quota; it comes back at
    /// UTC midnight).
    pub daily: Option<RateLimitStatus>,
    /// Whether the rate part refused the request.
    pub rate_exceeded: bool,
    /// Whether the daily quota refused the request.
    pub daily_exceeded: bool,
    /// Seconds until this limit lets a request through (0 when it does now).
    pub retry_after: u64,
    /// In shadow mode: never refuses, never advertised; `rate_exceeded` /
    /// `daily_exceeded` then say what it would have refused.
    pub shadow: bool,
}

impl Policy {
    /// The limit `spec` named `name` after `step` at `now` (Unix µs). `counted`: the
    /// request was counted (every applied limit allowed it); otherwise `step.state` is
    /// the state as kept, and `step.allowed` says whether this limit alone would have
    /// let the request through.
    pub fn after(
        name: LimitName,
        spec: &RateLimitSpec,
        step: &GcraStep,
        counted: bool,
        now: i64,
    ) -> Self {
        let state = &step.state;
        let interval = spec.interval_micros();
        let burst = spec.burst_size();
        let window = interval.saturating_mul(i64::from(burst));
        let next_midnight = (now.div_euclid(MICROS_PER_DAY) + 1).saturating_mul(MICROS_PER_DAY);
        let used_today = if state.day == now.div_euclid(MICROS_PER_DAY) {
            state.used
        } else {
            0
        };
        let daily_exceeded = !step.allowed && spec.daily_quota.is_some_and(|q| used_today >= q);
        let rate_exceeded = !step.allowed && !daily_exceeded;
        let daily = spec.daily_quota.map(|quota| RateLimitStatus {
            limit: quota,
            remaining: quota.saturating_sub(used_today),
            reset: ceil_seconds(next_midnight),
        });
        let (rate, retry_after) = if rate_exceeded {
            let allowed_at = state
                .tat
                .saturating_add(interval)
                .saturating_sub(window)
                .max(now);
            (
                RateLimitStatus {
                    limit: burst,
                    remaining: 0,
                    reset: ceil_seconds(state.tat.max(allowed_at)),
                },
                ceil_seconds_u64(allowed_at - now).max(1),
            )
        } else {
            let room = now.saturating_add(window).saturating_sub(state.tat).max(0) / interval;
            let room = u32::try_from(room).unwrap_or(u32::MAX);
            // A counted request's room is after it; an uncounted one's includes it.
            let remaining = if counted {
                room.min(burst - 1)
            } else {
                room.min(burst)
            };
            let retry = if daily_exceeded {
                ceil_seconds_u64(next_midnight - now).max(1)
            } else {
                0
            };
            (
                RateLimitStatus {
                    limit: burst,
                    remaining,
                    reset: ceil_seconds(state.tat.max(now)),
                },
                retry,
            )
        };
        Self {
            name,
            window: u32::try_from(ceil_seconds(window))
                .unwrap_or(u32::MAX)
                .max(1),
            rate,
            daily: daily.map(|mut d| {
                if daily_exceeded {
                    d.remaining = 0;
                }
                d
            }),
            rate_exceeded,
            daily_exceeded,
            retry_after,
            shadow: spec.shadow,
        }
    }

    /// Whether this limit refused the request (a shadow limit never does).
    pub fn exceeded(&self) -> bool {
        !self.shadow && (self.rate_exceeded || self.daily_exceeded)
    }

    /// Whether this shadow limit would have refused the request.
    pub fn would_have_refused(&self) -> bool {
        self.shadow && (self.rate_exceeded || self.daily_exceeded)
    }

    /// The part that binds: the one that refused, else the one with the least left
    /// (the rate part on a tie).
    fn tightest(&self) -> RateLimitStatus {
        match self.daily {
            Some(daily) if self.daily_exceeded => daily,
            _ if self.rate_exceeded => self.rate,
            Some(daily) if daily.remaining < self.rate.remaining => daily,
            _ => self.rate,
        }
    }
}

/// Every limit applied to one request, in order: the key's own (`default`), its named
/// limits, then the shared ones.
///
/// ```
/// use keygate::RateLimitSpec;
/// use keygate::rate_limit::{GcraState, LimitName, Policy, RateLimitHeaders, RateLimitReport};
/// let spec = RateLimitSpec::per_hour(100);
/// let now = 1_800_000_000_000_000;
/// let step = GcraState::step(None, &spec, now);
/// let report = RateLimitReport::new(now, Policy::after(LimitName::default_limit(), &spec, &step, true, now));
/// assert_eq!(report.summary().remaining, 99);
/// let text = report.header_text(RateLimitHeaders::Ietf);
/// let headers: Vec<_> = text.iter().collect();
/// assert_eq!(headers[0], ("ratelimit-policy", &b"\"default\";q=100;w=3600"[..]));
/// assert_eq!(headers[1], ("ratelimit", &b"\"default\";r=99;t=36"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitReport {
    /// When the request was counted, in Unix seconds (rounded down).
    now: i64,
    first: Policy,
    /// Further limits (empty, and no allocation, for a key with only its own).
    rest: Vec<Policy>,
}

impl RateLimitReport {
    /// A report of one limit at `now_micros`.
    pub fn new(now_micros: i64, first: Policy) -> Self {
        Self {
            now: now_micros.div_euclid(MICROS_PER_SECOND),
            first,
            rest: Vec::new(),
        }
    }

    /// Adds a further limit.
    pub fn push(&mut self, policy: Policy) {
        self.rest.push(policy);
    }

    /// Every enforced limit, in order (shadow limits are left out: they are not
    /// advertised).
    pub fn policies(&self) -> impl Iterator<Item = &Policy> + '_ {
        self.all_policies().filter(|p| !p.shadow)
    }

    /// Every applied limit, shadow ones included.
    pub fn all_policies(&self) -> impl Iterator<Item = &Policy> + '_ {
        std::iter::once(&self.first).chain(&self.rest)
    }

    /// The shadow limits that would have refused the request.
    pub fn shadow_refusals(&self) -> impl Iterator<Item = &Policy> + '_ {
        self.all_policies().filter(|p| p.would_have_refused())
    }

    /// Whether any limit is enforced (else there is nothing to advertise).
    pub fn is_enforced(&self) -> bool {
        self.policies().next().is_some()
    }

    /// The limit that binds, for `X-RateLimit-*`: of a refused request, the refusing
    /// part that lasts longest; otherwise the part with the least left (the first on a
    /// tie, so a key with one limit reports it as before).
    pub fn summary(&self) -> RateLimitStatus {
        let refused = self
            .policies()
            .filter(|p| p.exceeded())
            .max_by_key(|p| p.retry_after);
        if let Some(policy) = refused {
            return policy.tightest();
        }
        let mut best: Option<RateLimitStatus> = None;
        for policy in self.policies() {
            let candidate = policy.tightest();
            if best.is_none_or(|b| candidate.remaining < b.remaining) {
                best = Some(candidate);
            }
        }
        best.unwrap_or_default()
    }

    /// Seconds until the request could go through: the longest wait of the limits that
    /// refused it (0 when none did).
    pub fn retry_after(&self) -> u64 {
        self.policies().map(|p| p.retry_after).max().unwrap_or(0)
    }

    /// Whether some limit refused the request.
    pub fn exceeded(&self) -> bool {
        self.policies().any(Policy::exceeded)
    }

    /// The names of the limits that refused the request, as `violated-policies` lists
    /// them: a daily quota as `<name>:daily`.
    pub fn violated(&self) -> Vec<String> {
        let mut names = Vec::new();
        for p in self.policies() {
            if p.rate_exceeded {
                names.push(p.name.to_string());
            }
            if p.daily_exceeded {
                names.push(format!("{}:daily", p.name));
            }
        }
        names
    }

    /// The response fields of `style`, written into one buffer.
    pub fn header_text(&self, style: RateLimitHeaders) -> RateLimitHeaderText {
        let mut out = RateLimitHeaderText::default();
        if !self.is_enforced() {
            return out;
        }
        // Room for every value at once (no growth on the request path): three numbers,
        // and per limit part two list members of at most name + 40 bytes.
        let parts: usize = self
            .policies()
            .map(|p| (p.name.as_str().len() + 48) * (1 + usize::from(p.daily.is_some())))
            .sum();
        out.text
            .reserve(60 + if style.ietf() { 2 * parts } else { 0 });
        if style.legacy() {
            let summary = self.summary();
            let mut digits = itoa::Buffer::new();
            for (field, value) in [
                (0, i64::from(summary.limit)),
                (1, i64::from(summary.remaining)),
                (2, summary.reset),
            ] {
                let start = out.text.len();
                out.text.extend_from_slice(digits.format(value).as_bytes());
                out.push(field, start);
            }
        }
        if style.ietf() {
            let start = out.text.len();
            self.write_items(&mut out.text, |text, digits, window, part| {
                text.extend_from_slice(b";q=");
                text.extend_from_slice(digits.format(part.limit).as_bytes());
                text.extend_from_slice(b";w=");
                text.extend_from_slice(digits.format(window).as_bytes());
            });
            out.push(3, start);
            let start = out.text.len();
            self.write_items(&mut out.text, |text, digits, _, part| {
                text.extend_from_slice(b";r=");
                text.extend_from_slice(digits.format(part.remaining).as_bytes());
                text.extend_from_slice(b";t=");
                text.extend_from_slice(digits.format((part.reset - self.now).max(0)).as_bytes());
            });
            out.push(4, start);
        }
        out
    }

    /// Writes one Structured Field list member per part, `"name"` and
    /// `"name:daily"`, each followed by what `params` writes (given the part's window
    /// in seconds and its state).
    fn write_items(
        &self,
        text: &mut Vec<u8>,
        params: impl Fn(&mut Vec<u8>, &mut itoa::Buffer, u32, &RateLimitStatus),
    ) {
        let mut digits = itoa::Buffer::new();
        let mut first = true;
        for p in self.policies() {
            let daily = p.daily.as_ref().map(|d| (true, DAY_SECONDS, d));
            for (is_daily, window, part) in std::iter::once((false, p.window, &p.rate)).chain(daily)
            {
                if !first {
                    text.extend_from_slice(b", ");
                }
                first = false;
                text.push(b'"');
                text.extend_from_slice(p.name.as_str().as_bytes());
                if is_daily {
                    text.extend_from_slice(b":daily");
                }
                text.push(b'"');
                params(text, &mut digits, window, part);
            }
        }
    }
}

/// The rate-limit response fields keygate writes, lowercase, in the order they are
/// written: adapters build their header names once, by index into this list.
pub const RATE_LIMIT_FIELDS: [&str; 5] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-policy",
    "ratelimit",
];

/// Rate-limit response fields in one buffer: up to five fields of
/// [`RATE_LIMIT_FIELDS`], their values as ranges of [`RateLimitHeaderText::text`], so an
/// adapter makes one shared allocation and slices every value from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaderText {
    /// Every value, one after the other.
    pub text: Vec<u8>,
    /// (field index, start, end) per field written.
    slots: [(u8, u32, u32); 5],
    len: u8,
}

impl RateLimitHeaderText {
    /// Records field `field` (an index into [`RATE_LIMIT_FIELDS`]) as the text from
    /// `start` to the end.
    fn push(&mut self, field: u8, start: usize) {
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let start = u32::try_from(start).unwrap_or(end);
        if let Some(slot) = self.slots.get_mut(usize::from(self.len)) {
            *slot = (field, start, end);
            self.len += 1;
        }
    }

    /// Each field as (index into [`RATE_LIMIT_FIELDS`], range of `text`).
    pub fn ranges(&self) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        self.slots[..usize::from(self.len)]
            .iter()
            .map(|&(index, start, end)| (usize::from(index), start as usize..end as usize))
    }

    /// Each field's lowercase name and value.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        self.ranges()
            .map(|(index, range)| (RATE_LIMIT_FIELDS[index], &self.text[range]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::GcraState;

    const NOW: i64 = 1_800_000_000_000_000;

    /// A Structured Field list parsed by `sfv`: each member's string and integer
    /// parameters.
    fn sf_list(text: &[u8]) -> Vec<(String, Vec<(String, i64)>)> {
        let list: sfv::List = sfv::Parser::new(text).parse().unwrap_or_else(|e| {
            panic!(
                "{:?} is no Structured Field list: {e}",
                String::from_utf8_lossy(text)
            )
        });
        list.into_iter()
            .map(|entry| match entry {
                sfv::ListEntry::Item(item) => (
                    item.bare_item
                        .as_string()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| panic!("a member is not a string: {item:?}")),
                    item.params
                        .iter()
                        .map(|(k, v)| {
                            let n = v
                                .as_integer()
                                .unwrap_or_else(|| panic!("{k:?} not an integer"));
                            (k.as_str().to_owned(), i64::from(n))
                        })
                        .collect(),
                ),
                sfv::ListEntry::InnerList(inner) => panic!("an inner list: {inner:?}"),
            })
            .collect()
    }

    fn policy(name: &str, spec: &RateLimitSpec, prev: Option<&GcraState>, counted: bool) -> Policy {
        let step = GcraState::step(prev, spec, NOW);
        let name = if name == "default" {
            LimitName::default_limit()
        } else {
            name.parse().expect("a valid name")
        };
        Policy::after(name, spec, &step, counted, NOW)
    }

    #[test]
    fn ietf_fields_list_every_limit_and_parse_as_structured_fields() {
        let own = RateLimitSpec::per_minute(60)
            .with_burst(10)
            .with_daily_quota(1000);
        let burst = RateLimitSpec::per_second(5);
        let mut report = RateLimitReport::new(NOW, policy("default", &own, None, true));
        report.push(policy("burst", &burst, None, true));
        let text = report.header_text(RateLimitHeaders::Ietf);
        let fields: Vec<_> = text.iter().collect();
        assert_eq!(fields.len(), 2, "no X-RateLimit-* in the IETF style");
        assert_eq!(fields[0].0, "ratelimit-policy");
        let p = |q: i64, w: i64| vec![("q".to_owned(), q), ("w".to_owned(), w)];
        assert_eq!(
            sf_list(fields[0].1),
            vec![
                ("default".to_owned(), p(10, 10)),
                ("default:daily".to_owned(), p(1000, 86_400)),
                ("burst".to_owned(), p(5, 1)),
            ]
        );
        assert_eq!(fields[1].0, "ratelimit");
        let midnight = (NOW / MICROS_PER_DAY + 1) * MICROS_PER_DAY / MICROS_PER_SECOND;
        let r = |r: i64, t: i64| vec![("r".to_owned(), r), ("t".to_owned(), t)];
        assert_eq!(
            sf_list(fields[1].1),
            vec![
                ("default".to_owned(), r(9, 1)),
                (
                    "default:daily".to_owned(),
                    r(999, midnight - NOW / MICROS_PER_SECOND)
                ),
                ("burst".to_owned(), r(4, 1)),
            ]
        );
        let both = report.header_text(RateLimitHeaders::Both);
        let names: Vec<_> = both.iter().map(|(n, _)| n).collect();
        assert_eq!(names, RATE_LIMIT_FIELDS.to_vec());
    }

    #[test]
    fn the_summary_is_the_tightest_limit_and_a_refusal_names_what_refused() {
        let own = RateLimitSpec::per_hour(100);
        let tiny = RateLimitSpec::per_hour(2);
        // After one request: 99 left of the own limit, 1 of `tiny`.
        let mut report = RateLimitReport::new(NOW, policy("default", &own, None, true));
        report.push(policy("tiny", &tiny, None, true));
        assert_eq!((report.summary().limit, report.summary().remaining), (2, 1));
        assert!(!report.exceeded());
        assert!(report.violated().is_empty());

        // `tiny` used up: it refuses, the own limit would have allowed (not counted).
        let used = GcraState::step(None, &tiny, NOW).state;
        let used = GcraState::step(Some(&used), &tiny, NOW).state;
        let first = GcraState::step(None, &own, NOW).state;
        let kept_own = GcraStep {
            state: GcraState::kept(Some(&first), &own, NOW),
            allowed: true,
        };
        let refused = GcraState::step(Some(&used), &tiny, NOW);
        assert!(!refused.allowed);
        let mut report = RateLimitReport::new(
            NOW,
            Policy::after(LimitName::default_limit(), &own, &kept_own, false, NOW),
        );
        report.push(Policy::after(
            "tiny".parse().expect("valid"),
            &tiny,
            &refused,
            false,
            NOW,
        ));
        assert!(report.exceeded());
        assert_eq!(report.violated(), vec!["tiny".to_owned()]);
        assert_eq!(report.retry_after(), 1800);
        assert_eq!(report.summary().limit, 2, "the refusing limit binds");
        let own_left = report.policies().next().map(|p| p.rate.remaining);
        assert_eq!(own_left, Some(99), "the uncounted request is not spent");
    }

    #[test]
    fn a_daily_quota_that_refuses_is_named_as_such() {
        let spec = RateLimitSpec::per_second(100).with_daily_quota(1);
        let first = GcraState::step(None, &spec, NOW);
        let second = GcraState::step(Some(&first.state), &spec, NOW);
        let report = RateLimitReport::new(
            NOW,
            Policy::after(LimitName::default_limit(), &spec, &second, false, NOW),
        );
        assert_eq!(report.violated(), vec!["default:daily".to_owned()]);
        assert_eq!(report.summary().limit, 1);
        assert!(report.retry_after() >= 1);
    }
}

//! The generic cell rate algorithm (GCRA), as a pure function over one key's state.
//!
//! Every limiter backend runs this same arithmetic: [`MemoryRateLimiter`] in process,
//! and `keygate-redis` in a Lua script that mirrors [`GcraState::step`] line by line, so
//! an instance that falls back from Redis to its local limiter keeps the same rules.
//!
//! GCRA keeps one number per key, the *theoretical arrival time* (TAT): when the key's
//! bucket would be empty again if no more requests came. A request at `now` is allowed
//! when `max(TAT, now) + interval - burst * interval <= now`; it then moves TAT forward
//! by one interval. There are no windows, so no double burst at a window edge: after a
//! burst the key gets exactly one request per interval until it rests.
//!
//! [`MemoryRateLimiter`]: crate::rate_limit::MemoryRateLimiter

use super::limiter::RateLimited;
use super::spec::{RateLimitSpec, RateLimitStatus};

/// Microseconds in a (UTC, leap-second-free) day: daily quotas reset when
/// `unix_micros / MICROS_PER_DAY` changes, i.e. at UTC midnight.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// One key's limiter state. All times are Unix microseconds.
///
/// Backends store it as they like; [`GcraState::step`] is the only way it changes.
///
/// ```
/// use keygate::RateLimitSpec;
/// use keygate::rate_limit::GcraState;
/// let spec = RateLimitSpec::per_hour(2);
/// let now = 1_800_000_000_000_000;
/// let first = GcraState::step(None, &spec, now);
/// assert!(first.allowed);
/// let status = first.state.outcome(&spec, now, first.allowed)?;
/// assert_eq!((status.limit, status.remaining), (2, 1));
/// # Ok::<(), keygate::rate_limit::RateLimited>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcraState {
    /// Theoretical arrival time: when the burst is fully available again.
    pub tat: i64,
    /// The interval (µs between requests) `tat` was computed with; when a key's limit
    /// changes, the requests already counted are re-expressed in the new interval.
    pub interval: i64,
    /// The UTC day (`unix_micros / MICROS_PER_DAY`) that `used` counts.
    pub day: i64,
    /// Requests counted against the daily quota on `day` (only counted while the key
    /// has a quota).
    pub used: u32,
}

/// What [`GcraState::step`] decided, and the state to keep afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraStep {
    /// The state to store (also after a refusal: a limit change is applied to it).
    pub state: GcraState,
    /// Whether the request may go ahead.
    pub allowed: bool,
}

impl GcraState {
    /// The state `prev` becomes at `now` under `spec` without counting a request: a
    /// changed limit re-expressed, a new day's quota unused, a lowered burst capped.
    /// [`GcraState::step`] starts from it; a request refused by another limit leaves
    /// it as it is.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::GcraState;
    /// let spec = RateLimitSpec::per_second(1);
    /// let kept = GcraState::kept(None, &spec, 5_000_000);
    /// assert_eq!((kept.tat, kept.used), (5_000_000, 0));
    /// ```
    pub fn kept(prev: Option<&GcraState>, spec: &RateLimitSpec, now: i64) -> GcraState {
        let interval = spec.interval_micros();
        let window = interval.saturating_mul(i64::from(spec.burst_size()));
        let today = now.div_euclid(MICROS_PER_DAY);
        let (tat, used) = match prev {
            None => (now, 0),
            Some(p) => {
                let mut tat = p.tat;
                if p.interval != interval && tat > now {
                    // Keep the number of requests in flight, not the time they cover.
                    let in_flight = i128::from(tat - now) * i128::from(interval)
                        / i128::from(p.interval.max(1));
                    tat = now.saturating_add(i64::try_from(in_flight).unwrap_or(i64::MAX));
                }
                (tat, if p.day == today { p.used } else { 0 })
            }
        };
        // A lowered burst must not leave the key blocked for longer than a full window.
        let tat = tat.max(now).min(now.saturating_add(window));
        GcraState {
            tat,
            interval,
            day: today,
            used,
        }
    }

    /// The shared state `prev` after an instance tells it its requests since its last
    /// sync: they moved the arrival time by `advance` µs from `base` (the state as the
    /// instance last knew it), `requests` of them. Counted, never refused: they were
    /// let through already (see [`SyncedRateLimiter`](crate::rate_limit::SyncedRateLimiter)).
    /// Unlike [`GcraState::kept`] the arrival time is not capped at one burst window:
    /// what a fleet let through beyond the limit is charged, and refused until it drains.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::GcraState;
    /// let spec = RateLimitSpec::per_second(1);
    /// // One instance let 3 requests through from an idle counter at 5 s.
    /// let shared = GcraState::synced(None, &spec, 6_000_000, 5_000_000, 3_000_000, 3);
    /// assert_eq!(shared.tat, 8_000_000);
    /// // Another, which knew the counter at 5 s too, let 2 through: both are charged.
    /// let shared = GcraState::synced(Some(&shared), &spec, 6_000_000, 5_000_000, 2_000_000, 2);
    /// assert_eq!(shared.tat, 10_000_000);
    /// ```
    pub fn synced(
        prev: Option<&GcraState>,
        spec: &RateLimitSpec,
        now: i64,
        base: i64,
        advance: i64,
        requests: u32,
    ) -> GcraState {
        let interval = spec.interval_micros();
        let today = now.div_euclid(MICROS_PER_DAY);
        let (tat, used) = match prev {
            Some(p) if p.interval == interval => (p.tat, if p.day == today { p.used } else { 0 }),
            _ => (base, 0),
        };
        GcraState {
            tat: tat.max(base).saturating_add(advance.max(0)),
            interval,
            day: today,
            used: if spec.daily_quota.is_some() {
                used.saturating_add(requests)
            } else {
                used
            },
        }
    }

    /// Checks one request at `now` (Unix µs) against `spec`, starting from `prev`
    /// (`None` for a key not seen yet or evicted while idle).
    ///
    /// A limit change on an existing key takes effect here, on its next request: the
    /// requests already counted in the current burst carry over to the new rate, so
    /// raising a limit gives room at once and lowering it cannot be dodged.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::GcraState;
    /// let spec = RateLimitSpec::per_second(1).with_burst(2);
    /// let now = 1_000_000;
    /// let a = GcraState::step(None, &spec, now);
    /// let b = GcraState::step(Some(&a.state), &spec, now);
    /// let c = GcraState::step(Some(&b.state), &spec, now);
    /// assert_eq!((a.allowed, b.allowed, c.allowed), (true, true, false));
    /// ```
    pub fn step(prev: Option<&GcraState>, spec: &RateLimitSpec, now: i64) -> GcraStep {
        let mut state = Self::kept(prev, spec, now);
        let (tat, used) = (state.tat, state.used);
        let interval = state.interval;
        let window = interval.saturating_mul(i64::from(spec.burst_size()));
        if spec.daily_quota.is_some_and(|quota| used >= quota) {
            return GcraStep {
                state,
                allowed: false,
            };
        }
        let next = tat.saturating_add(interval);
        if next.saturating_sub(window) > now {
            return GcraStep {
                state,
                allowed: false,
            };
        }
        state.tat = next;
        if spec.daily_quota.is_some() {
            state.used = used.saturating_add(1);
        }
        GcraStep {
            state,
            allowed: true,
        }
    }

    /// What to report for a request at `now` that left this state: the headers'
    /// numbers when `allowed`, or when to retry.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::GcraState;
    /// let spec = RateLimitSpec::per_hour(1);
    /// let now = 1_800_000_000_000_000;
    /// let first = GcraState::step(None, &spec, now);
    /// let second = GcraState::step(Some(&first.state), &spec, now);
    /// let refused = second.state.outcome(&spec, now, second.allowed).unwrap_err();
    /// assert_eq!(refused.retry_after, 3600);
    /// assert_eq!(refused.status.reset, 1_800_003_600);
    /// ```
    pub fn outcome(
        &self,
        spec: &RateLimitSpec,
        now: i64,
        allowed: bool,
    ) -> Result<RateLimitStatus, RateLimited> {
        let interval = spec.interval_micros();
        let burst = spec.burst_size();
        let window = interval.saturating_mul(i64::from(burst));
        let quota_left = spec.daily_quota.map(|quota| {
            let used = if self.day == now.div_euclid(MICROS_PER_DAY) {
                self.used
            } else {
                0
            };
            (quota, quota.saturating_sub(used))
        });
        let next_midnight = (now.div_euclid(MICROS_PER_DAY) + 1).saturating_mul(MICROS_PER_DAY);
        if !allowed {
            if let Some((quota, 0)) = quota_left {
                return Err(RateLimited::new(
                    ceil_seconds_u64(next_midnight - now).max(1),
                    RateLimitStatus {
                        limit: quota,
                        remaining: 0,
                        reset: ceil_seconds(next_midnight),
                    },
                ));
            }
            let allowed_at = self
                .tat
                .saturating_add(interval)
                .saturating_sub(window)
                .max(now);
            return Err(RateLimited::new(
                ceil_seconds_u64(allowed_at - now).max(1),
                RateLimitStatus {
                    limit: burst,
                    remaining: 0,
                    reset: ceil_seconds(self.tat.max(allowed_at)),
                },
            ));
        }
        let room = now.saturating_add(window).saturating_sub(self.tat).max(0) / interval;
        let rate_left = u32::try_from(room).unwrap_or(u32::MAX).min(burst - 1);
        match quota_left {
            Some((quota, left)) if left < rate_left => Ok(RateLimitStatus {
                limit: quota,
                remaining: left,
                reset: ceil_seconds(next_midnight),
            }),
            _ => Ok(RateLimitStatus {
                limit: burst,
                remaining: rate_left,
                reset: ceil_seconds(self.tat.max(now)),
            }),
        }
    }

    /// Whether forgetting this state at `now` changes nothing: the burst is full again
    /// and no quota is counted for today.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::GcraState;
    /// let spec = RateLimitSpec::per_second(10);
    /// let step = GcraState::step(None, &spec, 0);
    /// assert!(!step.state.is_idle(0));
    /// assert!(step.state.is_idle(100_000));
    /// ```
    pub fn is_idle(&self, now: i64) -> bool {
        self.tat <= now && (self.used == 0 || self.day < now.div_euclid(MICROS_PER_DAY))
    }
}

/// Unix microseconds rounded up to whole seconds.
pub(super) fn ceil_seconds(micros: i64) -> i64 {
    let secs = micros.div_euclid(MICROS_PER_SECOND);
    if micros.rem_euclid(MICROS_PER_SECOND) == 0 {
        secs
    } else {
        secs + 1
    }
}

/// Unix microseconds rounded up to whole seconds, as a duration.
pub(super) fn ceil_seconds_u64(micros: i64) -> u64 {
    u64::try_from(ceil_seconds(micros)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000 * MICROS_PER_SECOND;

    fn run(spec: &RateLimitSpec, state: &mut Option<GcraState>, now: i64) -> bool {
        let step = GcraState::step(state.as_ref(), spec, now);
        *state = Some(step.state);
        step.allowed
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_seconds(0), 0);
        assert_eq!(ceil_seconds(1), 1);
        assert_eq!(ceil_seconds(1_000_000), 1);
        assert_eq!(ceil_seconds(1_000_001), 2);
        assert_eq!(ceil_seconds(-1), 0);
        assert_eq!(ceil_seconds_u64(-5_000_000), 0);
    }

    #[test]
    fn burst_then_steady_rate() {
        let spec = RateLimitSpec::per_second(10); // interval 100 ms, burst 10
        let mut state = None;
        assert!((0..10).all(|_| run(&spec, &mut state, NOW)));
        assert!(!run(&spec, &mut state, NOW));
        assert!(!run(&spec, &mut state, NOW + 99_999));
        assert!(run(&spec, &mut state, NOW + 100_000));
        assert!(!run(&spec, &mut state, NOW + 100_000));
        // One per interval from then on: no window edge lets a second burst through.
        let allowed = (1..=50)
            .filter(|i| run(&spec, &mut state, NOW + 100_000 + i * 20_000))
            .count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn remaining_counts_down_and_reset_is_when_the_burst_is_back() {
        let spec = RateLimitSpec::per_hour(2);
        let mut state = None;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let step = GcraState::step(state.as_ref(), &spec, NOW);
            statuses.push(step.state.outcome(&spec, NOW, step.allowed));
            state = Some(step.state);
        }
        let base = NOW / MICROS_PER_SECOND;
        assert_eq!(
            statuses[0],
            Ok(RateLimitStatus {
                limit: 2,
                remaining: 1,
                reset: base + 1800
            })
        );
        assert_eq!(
            statuses[1],
            Ok(RateLimitStatus {
                limit: 2,
                remaining: 0,
                reset: base + 3600
            })
        );
        assert_eq!(
            statuses[2],
            Err(RateLimited::new(
                1800,
                RateLimitStatus {
                    limit: 2,
                    remaining: 0,
                    reset: base + 3600
                }
            ))
        );
    }

    #[test]
    fn explicit_burst_smaller_than_the_rate() {
        let spec: RateLimitSpec = "1000/h,burst=5".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut state = None;
        assert!((0..5).all(|_| run(&spec, &mut state, NOW)));
        assert!(!run(&spec, &mut state, NOW));
        assert!(run(&spec, &mut state, NOW + 3_600_000)); // 3.6 s later
    }

    #[test]
    fn daily_quota_resets_at_utc_midnight() {
        let spec = RateLimitSpec::per_second(100).with_daily_quota(3);
        let midnight = (NOW / MICROS_PER_DAY + 1) * MICROS_PER_DAY;
        let late = midnight - 10 * MICROS_PER_SECOND;
        let mut state = None;
        assert!((0..3).all(|i| run(&spec, &mut state, late + i * MICROS_PER_SECOND)));
        let now = late + 5 * MICROS_PER_SECOND;
        let step = GcraState::step(state.as_ref(), &spec, now);
        assert!(!step.allowed);
        assert_eq!(
            step.state.outcome(&spec, now, false),
            Err(RateLimited::new(
                5,
                RateLimitStatus {
                    limit: 3,
                    remaining: 0,
                    reset: midnight / MICROS_PER_SECOND
                }
            ))
        );
        assert!(!run(&spec, &mut state, midnight - 1));
        assert!(run(&spec, &mut state, midnight));
    }

    #[test]
    fn the_tighter_limit_is_reported() {
        let spec = RateLimitSpec::per_hour(100).with_daily_quota(2);
        let first = GcraState::step(None, &spec, NOW);
        let status = first.state.outcome(&spec, NOW, true);
        assert_eq!(status.map(|s| (s.limit, s.remaining)), Ok((2, 1)));
        let loose = RateLimitSpec::per_hour(2).with_daily_quota(100);
        let first = GcraState::step(None, &loose, NOW);
        let status = first.state.outcome(&loose, NOW, true);
        assert_eq!(status.map(|s| (s.limit, s.remaining)), Ok((2, 1)));
    }

    #[test]
    fn limit_change_keeps_the_requests_already_counted() {
        let slow = RateLimitSpec::per_hour(2);
        let mut state = None;
        assert!(run(&slow, &mut state, NOW) && run(&slow, &mut state, NOW));
        assert!(!run(&slow, &mut state, NOW));
        // Raised: two requests counted out of 100; 98 left.
        let fast = RateLimitSpec::per_hour(100);
        let step = GcraState::step(state.as_ref(), &fast, NOW);
        assert!(step.allowed);
        assert_eq!(
            step.state.outcome(&fast, NOW, true).map(|s| s.remaining),
            Ok(97)
        );
        state = Some(step.state);
        // Lowered again: the 3 counted exceed the burst of 2; wait one interval.
        assert!(!run(&slow, &mut state, NOW));
        assert!(run(&slow, &mut state, NOW + 1800 * MICROS_PER_SECOND));
    }

    #[test]
    fn no_header_goes_past_a_year_whatever_the_spec() {
        // A spec built field by field (or stored before specs were bounded): one
        // request a century, with a huge burst. Reset and Retry-After stay within the
        // one-year bound instead of landing in the 22nd century.
        let spec = RateLimitSpec {
            requests: 1,
            per_seconds: u32::MAX,
            burst: Some(u32::MAX),
            daily_quota: None,
            shadow: false,
        };
        let year = 31_536_000;
        let base = NOW / MICROS_PER_SECOND;
        let mut state = None;
        for _ in 0..3 {
            let step = GcraState::step(state.as_ref(), &spec, NOW);
            state = Some(step.state);
            let (reset, retry) = match step.state.outcome(&spec, NOW, step.allowed) {
                Ok(status) => (status.reset, 0),
                Err(limited) => (limited.status.reset, limited.retry_after),
            };
            assert!(
                reset <= base + year,
                "reset {reset} is {} s away",
                reset - base
            );
            assert!(retry <= 31_536_000, "retry {retry}");
        }
        let one_a_century = RateLimitSpec {
            burst: None,
            ..spec
        };
        let first = GcraState::step(None, &one_a_century, NOW);
        let reset = first.state.outcome(&one_a_century, NOW, first.allowed);
        assert!(reset.is_ok_and(|s| s.reset <= base + year));
    }

    #[test]
    fn idle_only_when_nothing_would_be_lost() {
        let spec = RateLimitSpec::per_second(1).with_daily_quota(10);
        let step = GcraState::step(None, &spec, NOW);
        assert!(!step.state.is_idle(NOW));
        assert!(
            !step.state.is_idle(NOW + 2 * MICROS_PER_SECOND),
            "quota used today"
        );
        assert!(step.state.is_idle(NOW + MICROS_PER_DAY));
        let no_quota = GcraState::step(None, &RateLimitSpec::per_second(1), NOW);
        assert!(no_quota.state.is_idle(NOW + MICROS_PER_SECOND));
    }
}

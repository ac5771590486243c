//! Rate-limit settings carried by a key, and the state reported in response headers.
//!
//! These types are the contract between a limiter, the store and the adapters (which
//! turn [`RateLimitStatus`] into `X-RateLimit-*` headers).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key's limit: `requests` per `per_seconds`, an optional burst and daily quota.
///
/// Written as `1000/h`, `50/s`, `100/m`, `10000/day`, or with a window in seconds,
/// `100/90s` (how a window that is not one of those units is displayed), optionally
/// with a burst and a quota per UTC day: `1000/h,burst=50,quota=10000`. What
/// [`Display`](fmt::Display) writes parses back to the same spec.
///
/// # Bounds
/// A spec that comes from outside (parsed with [`FromStr`], or checked with
/// [`RateLimitSpec::validate`], as the admin API and the CLI do) must be one that can
/// ever let a request through and whose headers stay meaningful:
/// - `requests` at least 1;
/// - `per_seconds` from 1 to [`RateLimitSpec::MAX_PERIOD_SECONDS`] (one year);
/// - `burst`, when set, from 1 to [`RateLimitSpec::MAX_BURST`], and a full burst must
///   refill within a year: `per_seconds × burst / requests ≤ MAX_PERIOD_SECONDS`;
/// - `daily_quota`, when set, at least 1 (leave it out for no quota).
///
/// The fields are public, so a spec built field by field (or stored before these
/// bounds existed) may break them: the limiter then uses the nearest valid spec (see
/// [`RateLimitSpec::burst_size`] and [`RateLimitSpec::interval_micros`]), so no
/// `X-RateLimit-Reset` or `Retry-After` is ever more than a year away.
///
/// ```
/// use keygate::RateLimitSpec;
/// let spec: RateLimitSpec = "1000/h,burst=50".parse()?;
/// assert_eq!((spec.requests, spec.per_seconds, spec.burst), (1000, 3600, Some(50)));
/// assert_eq!(spec.to_string(), "1000/h,burst=50");
/// assert!("1000/h,burst=0".parse::<RateLimitSpec>().is_err());
/// # Ok::<(), keygate::rate_limit::RateLimitSpecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length in seconds.
    pub per_seconds: u32,
    /// Requests allowed at once above the steady rate (defaults to `requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Requests allowed per UTC day, on top of the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_quota: Option<u32>,
    /// Shadow mode (`,shadow`): the limit is counted but never refuses; what it would
    /// have refused is counted (analytics outcome `shadow_limited`), logged and audited
    /// (`key.shadow_limit`), so a new limit can be rolled out safely. It is not
    /// advertised in rate-limit headers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// A rate limit that does not parse, or is outside the bounds of [`RateLimitSpec`]; the
/// message names what is wrong and the accepted range.
///
/// ```
/// let err = "10/h,quota=0".parse::<keygate::RateLimitSpec>().unwrap_err();
/// assert!(err.to_string().contains("quota must be at least 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RateLimitSpecError(String);

impl RateLimitSpecError {
    fn syntax(input: &str) -> Self {
        let shown: String = input.chars().take(64).collect();
        Self(format!(
            "invalid rate limit {shown:?}: expected N/s, N/m, N/h, N/day or N/<seconds>s, \
             optionally ',burst=N', ',quota=N' and ',shadow'"
        ))
    }
}

impl RateLimitSpec {
    /// The longest window (and the longest a full burst may take to refill): one year
    /// of 365 days, in seconds.
    pub const MAX_PERIOD_SECONDS: u32 = 31_536_000;

    /// The largest explicit burst.
    pub const MAX_BURST: u32 = 1_000_000;

    /// Checks the bounds listed on [`RateLimitSpec`]; the error names the rule broken
    /// and the accepted range.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert!(RateLimitSpec::per_hour(1000).with_burst(50).validate().is_ok());
    /// assert!(RateLimitSpec::per_hour(1000).with_burst(0).validate().is_err());
    /// assert!(RateLimitSpec::per_hour(1000).with_daily_quota(0).validate().is_err());
    /// assert!(RateLimitSpec::new(1, u32::MAX).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), RateLimitSpecError> {
        let max_period = Self::MAX_PERIOD_SECONDS;
        if self.requests == 0 {
            return Err(RateLimitSpecError(
                "a rate limit must allow at least 1 request per window".to_owned(),
            ));
        }
        if self.per_seconds == 0 || self.per_seconds > max_period {
            return Err(RateLimitSpecError(format!(
                "a rate limit window must be 1 to {max_period} seconds (one year), not {}",
                self.per_seconds
            )));
        }
        if let Some(burst) = self.burst {
            if burst == 0 || burst > Self::MAX_BURST {
                return Err(RateLimitSpecError(format!(
                    "burst must be 1 to {}, not {burst}",
                    Self::MAX_BURST
                )));
            }
            let refill = u64::from(self.per_seconds) * u64::from(burst) / u64::from(self.requests);
            if refill > u64::from(max_period) {
                return Err(RateLimitSpecError(format!(
                    "a full burst of {burst} at {} per {} s would take {refill} s to refill; \
                     it must refill within a year (window × burst / requests ≤ {max_period} s)",
                    self.requests, self.per_seconds
                )));
            }
        }
        if self.daily_quota == Some(0) {
            return Err(RateLimitSpecError(
                "a daily quota must be at least 1 (0 would refuse every request); leave it \
                 out for no quota"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// `requests` per `per_seconds` seconds, no explicit burst, no daily quota.
    ///
    /// The constructors are for specs written in code and do not check the bounds;
    /// check a spec from outside with [`RateLimitSpec::validate`] (parsing does).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::new(50, 1).to_string(), "50/s");
    /// ```
    #[must_use]
    pub fn new(requests: u32, per_seconds: u32) -> Self {
        Self {
            requests,
            per_seconds,
            burst: None,
            daily_quota: None,
            shadow: false,
        }
    }

    /// `requests` per second.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_second(50).to_string(), "50/s");
    /// ```
    #[must_use]
    pub fn per_second(requests: u32) -> Self {
        Self::new(requests, 1)
    }

    /// `requests` per minute.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_minute(100).to_string(), "100/m");
    /// ```
    #[must_use]
    pub fn per_minute(requests: u32) -> Self {
        Self::new(requests, 60)
    }

    /// `requests` per hour.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).to_string(), "1000/h");
    /// ```
    #[must_use]
    pub fn per_hour(requests: u32) -> Self {
        Self::new(requests, 3600)
    }

    /// The same rate with this burst.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).with_burst(50).to_string(), "1000/h,burst=50");
    /// ```
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The same limit in shadow mode: counted, never refusing (see
    /// [`RateLimitSpec::shadow`]).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// let spec = RateLimitSpec::per_second(10).in_shadow();
    /// assert_eq!(spec.to_string(), "10/s,shadow");
    /// assert_eq!("10/s,shadow".parse(), Ok(spec));
    /// ```
    #[must_use]
    pub fn in_shadow(mut self) -> Self {
        self.shadow = true;
        self
    }

    /// The same rate with a quota per UTC day.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// let spec = RateLimitSpec::per_hour(1000).with_daily_quota(10_000);
    /// assert_eq!(spec.to_string(), "1000/h,quota=10000");
    /// ```
    #[must_use]
    pub fn with_daily_quota(mut self, quota: u32) -> Self {
        self.daily_quota = Some(quota);
        self
    }

    /// How many requests may arrive at once: `burst`, or `requests` when unset; at
    /// least 1, and no more than refill within [`RateLimitSpec::MAX_PERIOD_SECONDS`] at
    /// the steady rate (which only a spec outside the bounds would exceed).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).burst_size(), 1000);
    /// assert_eq!(RateLimitSpec::per_hour(1000).with_burst(50).burst_size(), 50);
    /// assert_eq!(RateLimitSpec::per_hour(1000).with_burst(0).burst_size(), 1);
    /// assert_eq!(RateLimitSpec::new(1, 86_400).with_burst(1000).burst_size(), 365);
    /// ```
    pub fn burst_size(&self) -> u32 {
        let refill_cap = MAX_PERIOD_MICROS / self.interval_micros();
        let cap = u32::try_from(refill_cap).unwrap_or(u32::MAX).max(1);
        self.burst.unwrap_or(self.requests).clamp(1, cap)
    }

    /// The steady spacing between requests, in microseconds (`per_seconds / requests`,
    /// at least 1, at most [`RateLimitSpec::MAX_PERIOD_SECONDS`]).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).interval_micros(), 3_600_000);
    /// assert_eq!(RateLimitSpec::new(1, u32::MAX).interval_micros(), 31_536_000_000_000);
    /// ```
    pub fn interval_micros(&self) -> i64 {
        let window = i64::from(self.per_seconds.min(Self::MAX_PERIOD_SECONDS)) * 1_000_000;
        (window / i64::from(self.requests.max(1))).max(1)
    }
}

/// [`RateLimitSpec::MAX_PERIOD_SECONDS`] in microseconds.
const MAX_PERIOD_MICROS: i64 = RateLimitSpec::MAX_PERIOD_SECONDS as i64 * 1_000_000;

/// Parses `N/unit[,burst=N][,quota=N]` and checks the bounds
/// ([`RateLimitSpec::validate`]).
impl FromStr for RateLimitSpec {
    type Err = RateLimitSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RateLimitSpecError::syntax(s);
        let mut parts = s.split(',').map(str::trim);
        let rate = parts.next().ok_or_else(err)?;
        let (n, unit) = rate.split_once('/').ok_or_else(err)?;
        let requests: u32 = n.trim().parse().map_err(|_| err())?;
        let per_seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            // A window in seconds, as `Display` writes one that is not a unit.
            other => other
                .strip_suffix('s')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .ok_or_else(err)?,
        };
        let mut spec = Self::new(requests, per_seconds);
        for extra in parts {
            if extra == "shadow" {
                spec.shadow = true;
                continue;
            }
            let (k, v) = extra.split_once('=').ok_or_else(err)?;
            let v: u32 = v.trim().parse().map_err(|_| err())?;
            match k.trim() {
                "burst" => spec.burst = Some(v),
                "quota" | "daily" => spec.daily_quota = Some(v),
                _ => return Err(err()),
            }
        }
        spec.validate()?;
        Ok(spec)
    }
}

impl fmt::Display for RateLimitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per_seconds {
            1 => "s".to_owned(),
            60 => "m".to_owned(),
            3600 => "h".to_owned(),
            86_400 => "day".to_owned(),
            other => format!("{other}s"),
        };
        write!(f, "{}/{unit}", self.requests)?;
        if let Some(b) = self.burst {
            write!(f, ",burst={b}")?;
        }
        if let Some(q) = self.daily_quota {
            write!(f, ",quota={q}")?;
        }
        if self.shadow {
            f.write_str(",shadow")?;
        }
        Ok(())
    }
}

/// The rate-limit state after a request: what `X-RateLimit-*` headers report.
///
/// `limit` and `remaining` describe whichever of the key's two limits is tighter right
/// now: the rate (`limit` = the burst size, by default the rate's request count;
/// `reset` = when the full burst is available again) or, when it has fewer requests
/// left, the daily quota (`limit` = the quota; `reset` = the next UTC midnight).
///
/// ```
/// use keygate::rate_limit::RateLimitStatus;
/// let status = RateLimitStatus { limit: 100, remaining: 99, reset: 1_700_000_036 };
/// assert_eq!(status.headers()[1], ("x-ratelimit-remaining", "99".to_owned()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitStatus {
    /// `X-RateLimit-Limit`: the most requests allowed at once (see above).
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests that would be allowed right now.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds when `remaining` is back to `limit`.
    pub reset: i64,
}

impl RateLimitStatus {
    /// The three headers, by name, for adapters to set on a response.
    ///
    /// ```
    /// use keygate::rate_limit::RateLimitStatus;
    /// let status = RateLimitStatus { limit: 2, remaining: 0, reset: 1_800_003_600 };
    /// assert_eq!(status.headers()[2], ("x-ratelimit-reset", "1800003600".to_owned()));
    /// ```
    pub fn headers(&self) -> [(&'static str, String); 3] {
        // One list of names: the one adapters write on every response.
        rate_limit_headers(self).map(|(name, value)| (name, value.to_string()))
    }
}

/// The `X-RateLimit-*` headers of `status`: static lower-case names and their values,
/// so an adapter writes them without building names or strings.
///
/// ```
/// use keygate::rate_limit::{rate_limit_headers, RateLimitStatus};
/// let status = RateLimitStatus { limit: 10, remaining: 9, reset: 1_700_000_060 };
/// assert_eq!(rate_limit_headers(&status)[2], ("x-ratelimit-reset", 1_700_000_060));
/// ```
pub fn rate_limit_headers(status: &RateLimitStatus) -> [(&'static str, i64); 3] {
    [
        ("x-ratelimit-limit", i64::from(status.limit)),
        ("x-ratelimit-remaining", i64::from(status.remaining)),
        ("x-ratelimit-reset", status.reset),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_extras() {
        let p = |s: &str| s.parse::<RateLimitSpec>();
        assert_eq!(p("50/s").map(|s| s.per_seconds), Ok(1));
        assert_eq!(p("100/m").map(|s| s.per_seconds), Ok(60));
        assert_eq!(p("10000/day").map(|s| s.per_seconds), Ok(86_400));
        assert_eq!(
            p("1000/h, burst=50, quota=10000").map(|s| (s.burst, s.daily_quota)),
            Ok((Some(50), Some(10000)))
        );
        for bad in [
            "",
            "1000",
            "0/h",
            "-1/h",
            "10/week",
            "10/h,burst",
            "10/h,x=1",
            "abc/h",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_window_in_seconds_parses_back_from_its_display() {
        // Found by the admin_json fuzz target: a key made with `perSeconds: 61` was shown
        // as `"100/61s,…"`, which the same API then refused as a rate limit.
        let spec = RateLimitSpec::new(100, 61)
            .with_burst(10)
            .with_daily_quota(1);
        assert_eq!(spec.to_string(), "100/61s,burst=10,quota=1");
        assert_eq!(spec.to_string().parse(), Ok(spec));
        assert_eq!("100/60s".parse(), Ok(RateLimitSpec::per_minute(100)));
        assert_eq!(
            "5/31536000s"
                .parse::<RateLimitSpec>()
                .map(|s| s.per_seconds),
            Ok(31_536_000)
        );
        for bad in [
            "5/0s",
            "5/31536001s",
            "5/s1",
            "5/+3s",
            "5/ss",
            "5/-1s",
            "5/99999999999s",
        ] {
            assert!(bad.parse::<RateLimitSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shadow_mode_parses_prints_and_serializes() {
        let spec: RateLimitSpec = "100/m,shadow,burst=10".parse().expect("valid");
        assert!(spec.shadow);
        assert_eq!(spec.to_string(), "100/m,burst=10,shadow");
        assert_eq!(spec.to_string().parse(), Ok(spec));
        for bad in ["100/m,shadow=1", "100/m,shadows", "shadow", "100/m,,shadow"] {
            assert!(bad.parse::<RateLimitSpec>().is_err(), "{bad:?}");
        }
        let json = serde_json::to_value(spec).expect("serializes");
        assert_eq!(json["shadow"], true);
        let plain = serde_json::to_value(RateLimitSpec::per_hour(1)).expect("serializes");
        assert!(plain.get("shadow").is_none(), "{plain}");
        let back: RateLimitSpec = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, spec);
    }

    #[test]
    fn zero_burst_and_zero_quota_are_refused_by_name() {
        let err = |s: &str| match s.parse::<RateLimitSpec>() {
            Ok(spec) => panic!("{s:?} parsed as {spec:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err("10/h,burst=0").contains("burst must be 1 to 1000000"));
        assert!(err("10/h,quota=0").contains("quota must be at least 1"));
        assert!(err("10/h,daily=0").contains("quota must be at least 1"));
    }

    #[test]
    fn out_of_range_specs_are_refused_naming_the_bounds() {
        let huge = RateLimitSpec {
            requests: 1,
            per_seconds: u32::MAX,
            burst: Some(u32::MAX),
            daily_quota: None,
            shadow: false,
        };
        let msg = huge.validate().map_err(|e| e.to_string());
        assert!(
            msg.as_ref()
                .is_err_and(|m| m.contains("1 to 31536000 seconds")),
            "{msg:?}"
        );
        let burst = RateLimitSpec::per_hour(10).with_burst(1_000_001);
        assert!(burst
            .validate()
            .is_err_and(|e| e.to_string().contains("burst must be 1 to 1000000")));
        // Each rule fine alone, but the full burst would take 10 years to come back.
        let slow = RateLimitSpec::new(1, 31_536_000).with_burst(10);
        assert!(slow
            .validate()
            .is_err_and(|e| e.to_string().contains("within a year")));
        assert!(RateLimitSpec::new(0, 60)
            .validate()
            .is_err_and(|e| e.to_string().contains("at least 1 request")));
        for ok in [
            RateLimitSpec::per_hour(1000)
                .with_burst(50)
                .with_daily_quota(1),
            RateLimitSpec::new(1, 31_536_000),
            RateLimitSpec::per_second(u32::MAX),
            RateLimitSpec::per_second(10).with_burst(1_000_000),
        ] {
            assert_eq!(ok.validate(), Ok(()), "{ok}");
        }
        assert!("1/day,burst=366".parse::<RateLimitSpec>().is_err());
        assert!("1/day,burst=365".parse::<RateLimitSpec>().is_ok());
    }

    #[test]
    fn specs_built_field_by_field_are_clamped_when_used() {
        // Stored before the bounds existed, or built by hand: the limiter never sees
        // more than a one-year refill, whatever the fields say.
        let huge = RateLimitSpec {
            requests: 1,
            per_seconds: u32::MAX,
            burst: Some(u32::MAX),
            daily_quota: None,
            shadow: false,
        };
        let window = huge
            .interval_micros()
            .saturating_mul(i64::from(huge.burst_size()));
        assert!(
            window <= i64::from(RateLimitSpec::MAX_PERIOD_SECONDS) * 1_000_000,
            "{window}"
        );
        assert!(huge.burst_size() >= 1);
        let zero = RateLimitSpec {
            burst: Some(0),
            ..RateLimitSpec::per_hour(10)
        };
        assert_eq!(zero.burst_size(), 1);
    }
}

//! Rate-limit settings carried by a key, and the state reported in response headers.
//!
//! These types are the contract between a limiter, the store and the adapters (which
//! turn [`RateLimitStatus`] into `X-RateLimit-*` headers).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key's limit: `requests` per `per_seconds`, an optional burst and daily quota.
///
/// Written as `1000/h`, `50/s`, `100/m`, `10000/day`, optionally with a burst and a
/// quota per UTC day: `1000/h,burst=50,quota=10000`.
///
/// ```
/// use keygate::RateLimitSpec;
/// let spec: RateLimitSpec = "1000/h,burst=50".parse()?;
/// assert_eq!((spec.requests, spec.per_seconds, spec.burst), (1000, 3600, Some(50)));
/// assert_eq!(spec.to_string(), "1000/h,burst=50");
/// # Ok::<(), keygate::RateLimitSpecError>(())
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
}

/// A rate limit string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {0:?}: expected N/s, N/m, N/h or N/day, optionally ',burst=N'")]
pub struct RateLimitSpecError(String);

impl RateLimitSpec {
    /// `requests` per `per_seconds` seconds, no explicit burst, no daily quota.
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
    /// least 1.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).burst_size(), 1000);
    /// assert_eq!(RateLimitSpec::per_hour(1000).with_burst(50).burst_size(), 50);
    /// ```
    pub fn burst_size(&self) -> u32 {
        self.burst.unwrap_or(self.requests).max(1)
    }

    /// The steady spacing between requests, in microseconds (`per_seconds / requests`,
    /// at least 1).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// assert_eq!(RateLimitSpec::per_hour(1000).interval_micros(), 3_600_000);
    /// ```
    pub fn interval_micros(&self) -> i64 {
        let window = i64::from(self.per_seconds) * 1_000_000;
        (window / i64::from(self.requests.max(1))).max(1)
    }
}

impl FromStr for RateLimitSpec {
    type Err = RateLimitSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RateLimitSpecError(s.chars().take(64).collect());
        let mut parts = s.split(',').map(str::trim);
        let rate = parts.next().ok_or_else(err)?;
        let (n, unit) = rate.split_once('/').ok_or_else(err)?;
        let requests: u32 = n.trim().parse().map_err(|_| err())?;
        let per_seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(err()),
        };
        if requests == 0 {
            return Err(err());
        }
        let mut spec = Self {
            requests,
            per_seconds,
            burst: None,
            daily_quota: None,
        };
        for extra in parts {
            let (k, v) = extra.split_once('=').ok_or_else(err)?;
            let v: u32 = v.trim().parse().map_err(|_| err())?;
            match k.trim() {
                "burst" => spec.burst = Some(v),
                "quota" | "daily" => spec.daily_quota = Some(v),
                _ => return Err(err()),
            }
        }
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
/// use keygate::RateLimitStatus;
/// let status = RateLimitStatus { limit: 100, remaining: 99, reset: 1_700_000_036 };
/// assert_eq!(status.headers()[1], ("x-ratelimit-remaining", "99".to_owned()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// use keygate::RateLimitStatus;
    /// let status = RateLimitStatus { limit: 2, remaining: 0, reset: 1_800_003_600 };
    /// assert_eq!(status.headers()[2], ("x-ratelimit-reset", "1800003600".to_owned()));
    /// ```
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ]
    }
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
}

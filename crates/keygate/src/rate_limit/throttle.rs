//! Brute-force protection: too many failed verifications from one client IP get 429
//! before any store lookup.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::gcra::GcraState;
use super::limiter::RateLimited;
use super::memory::MemoryRateLimiter;
use super::spec::RateLimitSpec;
use super::table::{Entry, Table};

/// Counts failed verifications per client IP and refuses an IP that has too many.
///
/// The limit is a [`RateLimitSpec`] over *failures*: `10/m` lets an IP fail 10 times at
/// once, then once every 6 seconds; past that, every request from the IP (even with a
/// valid key) gets 429 with `Retry-After`, before its key is parsed or looked up.
/// What counts as a failure: a key that is malformed, has a bad checksum, a wrong
/// prefix or environment, is unknown, revoked or rotated out
/// ([`AuthError::InvalidKey`](crate::AuthError::InvalidKey)). Expired keys, 403s and
/// 429s do not count, and requests without a known client IP are never throttled.
///
/// IPv6 clients are counted per /64 (one host usually holds the whole /64). Memory is
/// bounded like [`MemoryRateLimiter`](crate::rate_limit::MemoryRateLimiter)'s: idle IPs are
/// forgotten first. Each instance counts on its own.
///
/// Configure it with [`KeyGateBuilder::failure_throttle`](crate::KeyGateBuilder::failure_throttle);
/// the verifier then appends one `key.verify` audit event with reason `throttled` per
/// throttling episode of an IP (not one per refused request: a flood must not turn
/// into a flood of store writes).
///
/// ```
/// use keygate::RateLimitSpec;
/// use keygate::rate_limit::FailureThrottle;
/// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(3));
/// let ip = "192.0.2.7".parse()?;
/// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
/// for _ in 0..3 {
///     assert!(throttle.check(ip, now).is_ok());
///     throttle.record_failure(ip, now);
/// }
/// let throttled = throttle.check(ip, now).unwrap_err();
/// assert_eq!(throttled.limited.retry_after, 20);
/// assert!(throttled.first, "the first refusal of an episode is audited");
/// assert!(!throttle.check(ip, now).unwrap_err().first);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone)]
pub struct FailureThrottle {
    inner: Arc<Inner>,
}

struct Inner {
    spec: RateLimitSpec,
    table: Table<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    gcra: GcraState,
    /// The current throttling episode was audited; no more events until then.
    audited_until: i64,
}

impl Entry for Failures {
    fn is_idle(&self, now: i64) -> bool {
        self.gcra.is_idle(now) && self.audited_until <= now
    }
    fn busy_until(&self) -> i64 {
        self.gcra.tat.max(self.audited_until)
    }
}

/// An IP refused by a [`FailureThrottle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// When to retry, for the 429.
    pub limited: RateLimited,
    /// The first refusal of this episode (the one to audit).
    pub first: bool,
}

impl fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("spec", &self.inner.spec.to_string())
            .field("tracked_ips", &self.inner.table.len())
            .finish()
    }
}

impl FailureThrottle {
    /// Allows `spec` failures per IP (e.g. `"10/m".parse()?`), tracking up to 100,000
    /// IPs.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(10));
    /// assert_eq!(throttle.spec().to_string(), "10/m");
    /// ```
    pub fn new(spec: RateLimitSpec) -> Self {
        Self::with_capacity(spec, MemoryRateLimiter::DEFAULT_CAPACITY)
    }

    /// Allows `spec` failures per IP, tracking up to about `capacity` IPs.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::with_capacity(RateLimitSpec::per_minute(10), 1000);
    /// assert_eq!(throttle.tracked_ips(), 0);
    /// ```
    pub fn with_capacity(spec: RateLimitSpec, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                spec,
                table: Table::new(capacity),
            }),
        }
    }

    /// The failures allowed per IP.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// assert_eq!(FailureThrottle::new(RateLimitSpec::per_hour(20)).spec().requests, 20);
    /// ```
    pub fn spec(&self) -> &RateLimitSpec {
        &self.inner.spec
    }

    /// IPs tracked now.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(5));
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// throttle.record_failure("2001:db8::1".parse().unwrap(), now);
    /// throttle.record_failure("2001:db8::2".parse().unwrap(), now); // same /64
    /// assert_eq!(throttle.tracked_ips(), 1);
    /// ```
    pub fn tracked_ips(&self) -> usize {
        self.inner.table.len()
    }

    /// Whether `ip` may try a key at `now`: refused once it has used up its failures.
    /// Counts nothing.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(1));
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let ip = "198.51.100.1".parse().unwrap();
    /// assert!(throttle.check(ip, now).is_ok());
    /// throttle.record_failure(ip, now);
    /// assert!(throttle.check(ip, now).is_err());
    /// assert!(throttle.check(ip, now + chrono::Duration::minutes(1)).is_ok());
    /// ```
    pub fn check(&self, ip: IpAddr, now: DateTime<Utc>) -> Result<(), Throttled> {
        let now = now.timestamp_micros();
        let spec = &self.inner.spec;
        self.inner.table.update(&client_key(ip), now, |prev| {
            let Some(prev) = prev else {
                return (Ok(()), None);
            };
            let step = GcraState::step(Some(&prev.gcra), spec, now);
            if step.allowed {
                return (Ok(()), None);
            }
            let limited = match step.state.outcome(spec, now, false) {
                Err(limited) => limited,
                Ok(_) => return (Ok(()), None),
            };
            let first = prev.audited_until <= now;
            let audited_until = if first {
                now.saturating_add(
                    i64::try_from(limited.retry_after)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1_000_000),
                )
            } else {
                prev.audited_until
            };
            let kept = Failures {
                gcra: step.state,
                audited_until,
            };
            (Err(Throttled { limited, first }), Some(kept))
        })
    }

    /// Whether [`check`](FailureThrottle::check) would let `ip` through at `now`,
    /// changing nothing (no episode is started): the verifier's fast path asks this,
    /// and leaves a refusal to the full path, which audits it. Free while no IP has
    /// failed.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(1));
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let ip = "198.51.100.1".parse().unwrap();
    /// assert!(throttle.lets_through(ip, now));
    /// throttle.record_failure(ip, now);
    /// assert!(!throttle.lets_through(ip, now));
    /// assert!(throttle.check(ip, now).unwrap_err().first, "the episode starts at check");
    /// ```
    pub fn lets_through(&self, ip: IpAddr, now: DateTime<Utc>) -> bool {
        self.lets_through_micros(ip, now.timestamp_micros())
    }

    /// [`FailureThrottle::lets_through`] at Unix microseconds.
    pub(crate) fn lets_through_micros(&self, ip: IpAddr, now: i64) -> bool {
        if self.inner.table.is_empty() {
            return true;
        }
        let spec = &self.inner.spec;
        self.inner.table.update(&client_key(ip), now, |prev| {
            // As `check` decides, without keeping anything.
            let allowed = prev.is_none_or(|prev| {
                let step = GcraState::step(Some(&prev.gcra), spec, now);
                step.allowed || step.state.outcome(spec, now, false).is_ok()
            });
            (allowed, None)
        })
    }

    /// Counts one failed verification from `ip` at `now`.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::FailureThrottle;
    /// let throttle = FailureThrottle::new(RateLimitSpec::per_minute(2));
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let ip = "203.0.113.9".parse().unwrap();
    /// throttle.record_failure(ip, now);
    /// assert!(throttle.check(ip, now).is_ok(), "one failure left");
    /// ```
    pub fn record_failure(&self, ip: IpAddr, now: DateTime<Utc>) {
        let now = now.timestamp_micros();
        let spec = &self.inner.spec;
        self.inner.table.update(&client_key(ip), now, |prev| {
            let step = GcraState::step(prev.map(|p| &p.gcra), spec, now);
            let kept = Failures {
                gcra: step.state,
                audited_until: prev.map_or(i64::MIN, |p| p.audited_until),
            };
            ((), Some(kept))
        });
    }
}

/// The address failures are counted under: IPv4 as is (also when mapped into IPv6),
/// IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn client_keys() {
        assert_eq!(client_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn ips_are_counted_apart_and_one_audit_per_episode() {
        let throttle = FailureThrottle::new(RateLimitSpec::per_minute(2));
        let clock = ManualClock::at_unix(1_800_000_000);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        throttle.record_failure(a, clock.now());
        throttle.record_failure(a, clock.now());
        assert!(throttle.check(b, clock.now()).is_ok());
        let first = throttle.check(a, clock.now());
        assert_eq!(
            first.map_err(|t| (t.first, t.limited.retry_after)),
            Err((true, 30))
        );
        clock.advance(Duration::seconds(10));
        assert_eq!(
            throttle.check(a, clock.now()).map_err(|t| t.first),
            Err(false)
        );
        clock.advance(Duration::seconds(20));
        assert!(throttle.check(a, clock.now()).is_ok(), "one failure back");
        throttle.record_failure(a, clock.now());
        assert_eq!(
            throttle.check(a, clock.now()).map_err(|t| t.first),
            Err(true),
            "a new episode is audited again"
        );
    }
}

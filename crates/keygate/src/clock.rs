//! Time, behind a trait: no keygate code reads the system clock directly.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
///
/// The verifier, the key manager and the rate limiter read time only through a `Clock`,
/// so expiry, rotation grace periods and rate windows can be tested by advancing a
/// [`ManualClock`] instead of sleeping.
///
/// ```
/// use keygate::clock::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.timestamp() > 1_700_000_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// The current time as Unix microseconds: what the hot path compares with (no
    /// calendar arithmetic). Must agree with [`Clock::now`].
    fn now_micros(&self) -> i64 {
        self.now().timestamp_micros()
    }
}

/// The operating system's clock. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn now_micros(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_micros()).unwrap_or(i64::MAX),
            // A clock set before 1970: let chrono handle it.
            Err(_) => Utc::now().timestamp_micros(),
        }
    }
}

/// A clock that only moves when told to: for tests of expiry, grace periods and limits.
///
/// Clones share the same time, so a test can keep one handle and give another to the
/// verifier.
///
/// ```
/// use chrono::Duration;
/// use keygate::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let handle = clock.clone();
/// handle.advance(Duration::hours(24));
/// assert_eq!(clock.now().timestamp(), 1_700_000_000 + 86_400);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// A clock stopped at the given Unix time (seconds).
    ///
    /// # Panics
    /// If `secs` is outside chrono's representable range.
    pub fn at_unix(secs: i64) -> Self {
        #[allow(clippy::expect_used)]
        let at = DateTime::from_timestamp(secs, 0).expect("unix time in range");
        Self::new(at)
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(100);
        assert_eq!(clock.now().timestamp(), 100);
        clock.advance(Duration::seconds(5));
        assert_eq!(clock.now().timestamp(), 105);
        clock.set(DateTime::from_timestamp(7, 0).expect("a valid timestamp"));
        assert_eq!(clock.now().timestamp(), 7);
    }
}

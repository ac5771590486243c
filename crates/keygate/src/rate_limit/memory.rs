//! The in-process limiter: GCRA states in a bounded map.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::counter::{Counter, CounterKey, LimitCheck};
use super::gcra::{GcraState, GcraStep};
use super::limiter::{report_of, Counted, RateLimitError, RateLimited, RateLimiter};
use super::spec::{RateLimitSpec, RateLimitStatus};
use super::table::{Entry, Table, INLINE};
use crate::id::KeyId;
use smallvec::SmallVec;

/// An in-process [`RateLimiter`]: one [`GcraState`] per key, in memory.
///
/// Memory is bounded: at most `capacity` keys are tracked. A key whose burst is full
/// again and which has no daily quota counted today is *idle*: forgetting it changes no
/// decision, so idle keys are dropped as the map is swept (every few thousand checks,
/// and whenever a new key finds its shard full). Only when every tracked key is busy
/// does a new key push out the one that would be free soonest.
///
/// Several limits of one request ([`RateLimiter::check_all`]) are decided under the
/// locks of all their counters at once: every counter moves, or none does.
///
/// It limits one process. N instances behind a load balancer each allow a key its
/// full limit; share `keygate_redis::RedisRateLimiter` to enforce one limit together.
///
/// # Why not `governor`
/// governor's keyed limiter applies one quota to every key, while keygate keys each
/// carry their own limit (and a daily quota, and limits that change while the key is
/// in use). A direct governor limiter per key would still need this map, its eviction
/// and the quota; and the Redis limiter must run the same arithmetic in Lua. So the
/// algorithm is written once, as [`GcraState::step`] over keygate's
/// [`Clock`](crate::clock::Clock) time, and both backends use it.
///
/// ```
/// use keygate::{KeyId, RateLimitSpec};
/// use keygate::rate_limit::MemoryRateLimiter;
/// let limiter = MemoryRateLimiter::with_capacity(10_000);
/// let key = KeyId::generate();
/// let spec = RateLimitSpec::per_second(5);
/// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
/// let allowed = (0..10).filter(|_| limiter.check_now(&key, &spec, now).is_ok()).count();
/// assert_eq!(allowed, 5);
/// assert_eq!(limiter.len(), 1);
/// assert_eq!(limiter.evict_idle(now + chrono::Duration::seconds(1)), 1);
/// ```
pub struct MemoryRateLimiter {
    /// Key ids are made by keygate from the OS CSPRNG, and only verified keys reach
    /// the limiter: a fast hash suffices (the failure throttle, keyed by client IP,
    /// keeps SipHash).
    table: Table<CounterKey, GcraState, foldhash::fast::RandomState>,
}

impl Entry for GcraState {
    fn is_idle(&self, now: i64) -> bool {
        GcraState::is_idle(self, now)
    }
    fn busy_until(&self) -> i64 {
        self.tat
    }
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("keys", &self.len())
            .field("capacity", &self.table.capacity())
            .finish()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// Keys tracked by default (about 100 bytes each) before the busy ones are pushed
    /// out.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A limiter tracking up to [`MemoryRateLimiter::DEFAULT_CAPACITY`] keys.
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// assert!(MemoryRateLimiter::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A limiter tracking up to about `capacity` keys (rounded up to a multiple of 16).
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// assert_eq!(MemoryRateLimiter::with_capacity(1000).capacity(), 1008);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            table: Table::new(capacity),
        }
    }

    /// The most keys it tracks.
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// assert_eq!(MemoryRateLimiter::with_capacity(16).capacity(), 16);
    /// ```
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Keys tracked now.
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// assert_eq!(MemoryRateLimiter::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no key is tracked.
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// assert!(MemoryRateLimiter::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every key that is idle at `now`; returns how many. Sweeps also happen on
    /// their own as keys are checked: call this only to free memory at a quiet time.
    ///
    /// ```
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// assert_eq!(MemoryRateLimiter::new().evict_idle(now), 0);
    /// ```
    pub fn evict_idle(&self, now: DateTime<Utc>) -> usize {
        self.table.evict_idle(now.timestamp_micros())
    }

    /// [`RateLimiter::check`] without the `async`: it never waits.
    ///
    /// ```
    /// use keygate::{KeyId, RateLimitSpec};
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// let limiter = MemoryRateLimiter::new();
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let status = limiter.check_now(&KeyId::generate(), &RateLimitSpec::per_hour(10), now)?;
    /// assert_eq!((status.limit, status.remaining, status.reset), (10, 9, 1_800_000_360));
    /// # Ok::<(), keygate::rate_limit::RateLimited>(())
    /// ```
    pub fn check_now(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now: DateTime<Utc>,
    ) -> Result<RateLimitStatus, RateLimited> {
        self.check_micros(key, spec, now.timestamp_micros())
    }

    fn check_micros(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now: i64,
    ) -> Result<RateLimitStatus, RateLimited> {
        let checks = [LimitCheck {
            counter: Counter::Key(key),
            spec: *spec,
        }];
        let counted = self.count(&checks, now);
        report_of(&checks, &counted, now).map(|report| report.summary())
    }

    /// Counts one request against every check, all or none.
    fn count(&self, checks: &[LimitCheck<'_>], now: i64) -> Counted {
        count_in(&self.table, checks, now)
    }
}

/// A limiter's value per counter: its GCRA state, and whatever else the limiter keeps
/// beside it (the synced limiter: requests not yet told to the shared store).
pub(crate) trait Counts: Entry + Copy + Default {
    /// The GCRA state.
    fn gcra(&self) -> &GcraState;
    /// `prev` (`None`: a new counter) after a decision at `state` under `spec`, one
    /// more request counted in it when `counted`.
    fn after(prev: Option<&Self>, state: GcraState, spec: &RateLimitSpec, counted: bool) -> Self;
    /// Refused at `now` before the algorithm runs (a state charged beyond the burst by
    /// a shared store); never for an in-process state.
    #[inline]
    fn blocked(&self, spec: &RateLimitSpec, now: i64) -> bool {
        let _ = (spec, now);
        false
    }
}

impl Counts for GcraState {
    fn gcra(&self) -> &GcraState {
        self
    }
    fn after(_: Option<&Self>, state: GcraState, _: &RateLimitSpec, _: bool) -> Self {
        state
    }
}

/// One limit's decision for a request at `now`.
#[inline]
fn decide<V: Counts>(prev: Option<&V>, spec: &RateLimitSpec, now: i64) -> GcraStep {
    match prev {
        Some(v) if v.blocked(spec, now) => GcraStep {
            state: *v.gcra(),
            allowed: false,
        },
        _ => GcraState::step(prev.map(V::gcra), spec, now),
    }
}

/// Counts one request against every check in `table`, all or none.
pub(crate) fn count_in<V: Counts, S: std::hash::BuildHasher + Default>(
    table: &Table<CounterKey, V, S>,
    checks: &[LimitCheck<'_>],
    now: i64,
) -> Counted {
    if let [check] = checks {
        let counter = check.counter;
        let step = table.update_by(
            &counter,
            |k| k.as_counter() == counter,
            || counter.to_owned_key(),
            now,
            |prev| {
                let step = decide(prev, &check.spec, now);
                let kept = V::after(prev, step.state, &check.spec, step.allowed);
                (step, Some(kept))
            },
        );
        return Counted::one(check, step);
    }
    let counters: SmallVec<[Counter<'_>; INLINE]> = checks.iter().map(|c| c.counter).collect();
    table.update_many(
        &counters,
        |counter, k| k.as_counter() == *counter,
        |counter| counter.to_owned_key(),
        now,
        |prev, new| {
            let steps = checks
                .iter()
                .zip(prev)
                .map(|(check, prev)| decide(prev.as_ref(), &check.spec, now));
            let counted = Counted::many(checks, steps);
            // Allowed: every limit keeps its step's state (counted, or as kept by a
            // shadow limit that would have refused). Refused: nothing moves.
            if counted.allowed() {
                for (((slot, step), check), prev) in
                    new.iter_mut().zip(counted.steps()).zip(checks).zip(prev)
                {
                    *slot = V::after(prev.as_ref(), step.state, &check.spec, step.allowed);
                }
                return (counted, true);
            }
            let gcra: SmallVec<[Option<GcraState>; INLINE]> =
                prev.iter().map(|p| p.as_ref().map(|v| *v.gcra())).collect();
            (uncount(counted, checks, &gcra, now), false)
        },
    )
}

/// A refused decision as kept: the limits that would have allowed the request report
/// the state they had (the request was not counted in them).
fn uncount(
    counted: Counted,
    checks: &[LimitCheck<'_>],
    prev: &[Option<GcraState>],
    now: i64,
) -> Counted {
    if counted.allowed() {
        return counted;
    }
    let steps = counted
        .steps()
        .iter()
        .zip(checks.iter().zip(prev))
        .map(|(step, (check, prev))| {
            if step.allowed {
                GcraStep {
                    state: GcraState::kept(prev.as_ref(), &check.spec, now),
                    allowed: true,
                }
            } else {
                *step
            }
        })
        .collect::<Vec<_>>();
    Counted::many(checks, steps)
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check_all(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, RateLimitError> {
        Ok(self.count(checks, now))
    }

    fn check_all_sync(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Option<Result<Counted, RateLimitError>> {
        Some(Ok(self.count(checks, now)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn clock() -> ManualClock {
        ManualClock::at_unix(1_800_000_000)
    }

    #[test]
    fn keys_are_limited_independently_with_their_own_specs() {
        let limiter = MemoryRateLimiter::new();
        let clock = clock();
        let (a, b) = (KeyId::generate(), KeyId::generate());
        let two = RateLimitSpec::per_hour(2);
        let five = RateLimitSpec::per_hour(5);
        let count = |key: &KeyId, spec: &RateLimitSpec| {
            (0..10)
                .filter(|_| limiter.check_now(key, spec, clock.now()).is_ok())
                .count()
        };
        assert_eq!((count(&a, &two), count(&b, &five)), (2, 5));
    }

    #[test]
    fn steady_rate_after_the_burst() {
        let limiter = MemoryRateLimiter::new();
        let clock = clock();
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_minute(60).with_burst(3);
        let mut allowed = 0;
        for _ in 0..600 {
            // 10 attempts per second for a minute
            allowed += usize::from(limiter.check_now(&key, &spec, clock.now()).is_ok());
            clock.advance(Duration::milliseconds(100));
        }
        assert_eq!(allowed, 3 + 59, "the burst, then one per second");
    }

    #[test]
    fn refusal_says_when_to_retry() {
        let limiter = MemoryRateLimiter::new();
        let clock = clock();
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_hour(1);
        assert!(limiter.check_now(&key, &spec, clock.now()).is_ok());
        clock.advance(Duration::seconds(3570) + Duration::milliseconds(500));
        let refused = limiter.check_now(&key, &spec, clock.now());
        assert_eq!(refused.map_err(|r| r.retry_after), Err(30), "rounded up");
        clock.advance(Duration::seconds(30));
        assert!(limiter.check_now(&key, &spec, clock.now()).is_ok());
    }

    #[test]
    fn quota_resets_at_utc_midnight() {
        let limiter = MemoryRateLimiter::new();
        let clock = ManualClock::new(
            "2027-01-15T23:59:00Z"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_second(10).with_daily_quota(5);
        for _ in 0..5 {
            assert!(limiter.check_now(&key, &spec, clock.now()).is_ok());
            clock.advance(Duration::seconds(1));
        }
        let refused = limiter.check_now(&key, &spec, clock.now());
        let midnight = "2027-01-16T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .map(|t| t.timestamp())
            .expect("a valid timestamp");
        assert_eq!(
            refused.map_err(|r| (r.retry_after, r.status.limit, r.status.reset)),
            Err((55, 5, midnight))
        );
        clock.set(DateTime::from_timestamp(midnight, 0).expect("a valid timestamp"));
        let status = limiter.check_now(&key, &spec, clock.now());
        assert_eq!(status.map(|s| (s.limit, s.remaining)), Ok((5, 4)));
    }

    #[test]
    fn limit_change_on_an_existing_key_applies_to_the_next_request() {
        let limiter = MemoryRateLimiter::new();
        let clock = clock();
        let key = KeyId::generate();
        let before = RateLimitSpec::per_hour(2);
        assert!(limiter.check_now(&key, &before, clock.now()).is_ok());
        assert!(limiter.check_now(&key, &before, clock.now()).is_ok());
        assert!(limiter.check_now(&key, &before, clock.now()).is_err());
        let after = RateLimitSpec::per_hour(1000);
        let status = limiter.check_now(&key, &after, clock.now());
        assert_eq!(status.map(|s| (s.limit, s.remaining)), Ok((1000, 997)));
    }

    #[test]
    fn idle_keys_are_evicted_and_memory_stays_bounded() {
        let limiter = MemoryRateLimiter::with_capacity(64);
        let clock = clock();
        let spec = RateLimitSpec::per_second(1);
        for _ in 0..1000 {
            let _ = limiter.check_now(&KeyId::generate(), &spec, clock.now());
        }
        assert!(limiter.len() <= limiter.capacity(), "{}", limiter.len());
        assert_eq!(limiter.evict_idle(clock.now()), 0, "all busy for 1 s");
        clock.advance(Duration::seconds(1));
        let held = limiter.len();
        assert_eq!(limiter.evict_idle(clock.now()), held);
        assert!(limiter.is_empty());
    }

    #[test]
    fn a_full_map_of_busy_keys_stays_bounded() {
        let limiter = MemoryRateLimiter::with_capacity(16);
        let clock = clock();
        let spec = RateLimitSpec::per_hour(1);
        let hot = KeyId::generate();
        assert!(limiter.check_now(&hot, &spec, clock.now()).is_ok());
        assert!(limiter.check_now(&hot, &spec, clock.now()).is_err());
        for _ in 0..10 {
            let _ = limiter.check_now(&KeyId::generate(), &spec, clock.now());
        }
        assert!(limiter.len() <= 16);
    }

    fn named(name: &str) -> crate::rate_limit::LimitName {
        name.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// unkey #1995: with several limits, a request that one limit refuses must not
    /// spend any other's.
    #[test]
    fn a_refusal_by_one_limit_moves_no_other_counter() {
        let limiter = MemoryRateLimiter::new();
        let now = clock().now().timestamp_micros();
        let key = KeyId::generate();
        let tiny = named("tiny");
        let checks = [
            LimitCheck {
                counter: Counter::Key(&key),
                spec: RateLimitSpec::per_hour(100),
            },
            LimitCheck {
                counter: Counter::KeyLimit {
                    key: &key,
                    name: &tiny,
                },
                spec: RateLimitSpec::per_hour(1),
            },
        ];
        assert!(limiter.count(&checks, now).allowed());
        for _ in 0..50 {
            let refused = limiter.count(&checks, now);
            assert!(!refused.allowed());
            assert_eq!(
                refused
                    .steps()
                    .iter()
                    .map(|s| s.allowed)
                    .collect::<Vec<_>>(),
                [true, false]
            );
        }
        // The own limit counted the one allowed request only: 99 left.
        let own = limiter.check_now(&key, &RateLimitSpec::per_hour(100), clock().now());
        assert_eq!(own.map(|s| s.remaining), Ok(98), "one before, this one now");
    }

    #[test]
    fn a_shared_limit_holds_exactly_under_concurrent_keys() {
        let limiter = std::sync::Arc::new(MemoryRateLimiter::new());
        let now = clock().now().timestamp_micros();
        let org = named("org");
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let limiter = limiter.clone();
                let (org, allowed) = (&org, &allowed);
                scope.spawn(move || {
                    let key = KeyId::generate();
                    for _ in 0..100 {
                        let checks = [
                            LimitCheck {
                                counter: Counter::Key(&key),
                                spec: RateLimitSpec::per_hour(60),
                            },
                            LimitCheck {
                                counter: Counter::Tenant {
                                    tenant: "acme",
                                    env: "live",
                                    name: org,
                                },
                                spec: RateLimitSpec::per_hour(250),
                            },
                        ];
                        if limiter.count(&checks, now).allowed() {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 8 keys x 60 own = 480 > 250 shared: the shared limit binds, exactly.
        assert_eq!(allowed.into_inner(), 250);
    }
}

//! [`SyncedRateLimiter`]: limits decided in process, reconciled with a shared store in
//! the background (a fleet's approximate mode).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::counter::{Counter, CounterKey, LimitCheck};
use super::gcra::GcraState;
use super::limiter::{Counted, RateLimitError, RateLimiter};
use super::memory::{count_in, Counts};
use super::spec::RateLimitSpec;
use super::table::{Entry, Table};
use crate::clock::{Clock, SystemClock};

/// One counter to reconcile: how far this instance's requests moved it since its last
/// sync (zero: only read the shared state).
#[derive(Debug, Clone, Copy)]
pub struct SyncCounter<'a> {
    /// The counter.
    pub counter: Counter<'a>,
    /// Its limit, as the last request here saw it.
    pub spec: RateLimitSpec,
    /// The counter's theoretical arrival time (Unix µs) as this instance last knew it
    /// (after its previous sync, or before its first request): the shared state is at
    /// least that.
    pub base: i64,
    /// How far this instance's requests moved the arrival time since (µs).
    pub advance: i64,
    /// How many requests that was (for daily quotas).
    pub requests: u32,
}

/// Where a [`SyncedRateLimiter`] reconciles: adds each instance's requests to a shared
/// state and answers the state every instance's requests made (`keygate_redis`'s
/// approximate limiter, one Lua script per sync).
#[async_trait]
pub trait CounterSync: Send + Sync + fmt::Debug + 'static {
    /// Adds each counter's requests to its shared state ([`GcraState::synced`]: counted,
    /// never refused) and answers each one's state afterwards, in order.
    async fn sync(
        &self,
        counters: &[SyncCounter<'_>],
        now: i64,
    ) -> Result<Vec<GcraState>, RateLimitError>;
}

/// What a [`SyncedRateLimiter`] does while it cannot reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenUnsynced {
    /// Answer 503 once the last good sync is older than this: the overshoot bound
    /// stays stated, and nothing passes unlimited.
    Refuse {
        /// How stale the shared view may get.
        after: Duration,
    },
    /// Keep deciding locally: each instance still enforces every limit on its own, so
    /// a fleet of N allows up to N times a limit until the store answers again.
    DecideLocally,
}

/// A counter's state here: its GCRA state and what is still to be told.
#[derive(Debug, Clone, Copy, Default)]
struct Synced {
    gcra: GcraState,
    /// Requests counted here since the last sync.
    pending: u32,
    /// The arrival time this instance's requests since the last sync started from.
    base: i64,
    /// The limit as the last request saw it.
    spec: Option<RateLimitSpec>,
}

impl Entry for Synced {
    fn is_idle(&self, now: i64) -> bool {
        self.unsynced() == 0 && self.gcra.is_idle(now)
    }
    fn busy_until(&self) -> i64 {
        if self.unsynced() > 0 {
            i64::MAX
        } else {
            self.gcra.tat
        }
    }
}

impl Synced {
    /// How far this instance moved the counter since its last sync (µs), plus its
    /// requests (a quota's count).
    fn unsynced(&self) -> i64 {
        (self.gcra.tat - self.base).max(0) + i64::from(self.pending)
    }
}

impl Counts for Synced {
    fn gcra(&self) -> &GcraState {
        &self.gcra
    }
    fn after(prev: Option<&Self>, state: GcraState, spec: &RateLimitSpec, counted: bool) -> Self {
        Self {
            gcra: state,
            pending: prev
                .map_or(0, |p| p.pending)
                .saturating_add(u32::from(counted)),
            // A new counter starts where it stood before its first request.
            base: prev.map_or_else(
                || state.tat - if counted { state.interval } else { 0 },
                |p| p.base,
            ),
            spec: Some(*spec),
        }
    }
    /// The shared state may run ahead of the burst (other instances' requests charged
    /// to it): refused until it drains, never capped as a changed limit would be.
    fn blocked(&self, spec: &RateLimitSpec, now: i64) -> bool {
        let window = spec
            .interval_micros()
            .saturating_mul(i64::from(spec.burst_size()));
        self.gcra.interval == spec.interval_micros() && self.gcra.tat.saturating_sub(window) > now
    }
}

/// A [`RateLimiter`] for a fleet without a round trip per request: every decision is
/// made in process (the same GCRA and atomic multi-limit check as
/// [`MemoryRateLimiter`](super::MemoryRateLimiter), no I/O), and every `sync_every` a
/// background task adds this instance's requests to the shared store and takes back
/// the state every instance's requests made ([`CounterSync`]).
///
/// **Overshoot bound.** An instance learns of the others' requests at its next sync, so
/// between syncs each of N instances may admit what the shared state allowed at its
/// last sync. Together they admit at most (N − 1) × (burst + 2 × rate × `sync_every`)
/// requests more than the limit; the excess is then charged to the shared state, which
/// refuses until it has drained (at most one burst window later). With one instance it
/// is exact. `tests/` checks the bound with three instances.
///
/// **When the store is down** it does what [`WhenUnsynced`] says: by default it keeps
/// deciding locally for `3 × sync_every` (at least 1 s), then answers 503.
///
/// ```
/// use std::time::Duration;
/// use keygate::rate_limit::{CounterSync, SyncedRateLimiter, MemorySync, RateLimiter};
/// use keygate::{KeyId, RateLimitSpec};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let shared = std::sync::Arc::new(MemorySync::default()); // Redis in a fleet
/// let a = SyncedRateLimiter::new(shared.clone(), Duration::from_millis(100));
/// let b = SyncedRateLimiter::new(shared.clone(), Duration::from_millis(100));
/// let key = KeyId::generate();
/// let spec = RateLimitSpec::per_hour(4);
/// let now = chrono::Utc::now();
/// assert!(a.check(&key, &spec, now).await.is_ok());
/// assert!(a.check(&key, &spec, now).await.is_ok());
/// a.sync_now(now.timestamp_micros()).await?;
/// // b has not heard of them yet: its first request sees a full burst.
/// assert_eq!(b.check(&key, &spec, now).await?.remaining, 3);
/// b.sync_now(now.timestamp_micros()).await?;
/// // Now it has: 4 less a's two and its own one, so one more, then none.
/// assert_eq!(b.check(&key, &spec, now).await?.remaining, 0);
/// assert!(b.check(&key, &spec, now).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct SyncedRateLimiter<S: CounterSync> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    table: Table<CounterKey, Synced, foldhash::fast::RandomState>,
    sync: S,
    every: Duration,
    when_unsynced: WhenUnsynced,
    clock: Arc<dyn Clock>,
    /// Unix µs of the last good sync (of the limiter's start, before the first).
    synced_at: AtomicI64,
}

impl<S: CounterSync> Clone for SyncedRateLimiter<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: CounterSync> fmt::Debug for SyncedRateLimiter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncedRateLimiter")
            .field("sync", &self.inner.sync)
            .field("every", &self.inner.every)
            .field("when_unsynced", &self.inner.when_unsynced)
            .finish_non_exhaustive()
    }
}

impl<S: CounterSync> SyncedRateLimiter<S> {
    /// A limiter reconciling through `sync` every `every` (on its own tokio task when a
    /// runtime is running; the task ends with the last clone), refusing with 503 after
    /// `3 × every` (at least 1 s) without a good sync.
    pub fn new(sync: S, every: Duration) -> Self {
        let after = (every * 3).max(Duration::from_secs(1));
        Self::with(
            sync,
            every,
            WhenUnsynced::Refuse { after },
            Arc::new(SystemClock),
        )
    }

    /// The same, with what to do while unsynced and the clock its task reads.
    pub fn with(
        sync: S,
        every: Duration,
        when_unsynced: WhenUnsynced,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let limiter = Self {
            inner: Arc::new(Inner {
                table: Table::new(super::MemoryRateLimiter::DEFAULT_CAPACITY),
                sync,
                every,
                when_unsynced,
                synced_at: AtomicI64::new(clock.now_micros()),
                clock,
            }),
        };
        limiter.spawn_syncer();
        limiter
    }

    /// The shared store it reconciles with.
    pub fn sync_backend(&self) -> &S {
        &self.inner.sync
    }

    /// Reconciles now: tells the store the requests counted here since the last sync,
    /// and takes back every instance's state for each counter in use. On failure the
    /// requests are kept for the next sync.
    pub async fn sync_now(&self, now: i64) -> Result<usize, RateLimitError> {
        let inner = &*self.inner;
        let mut batch: Vec<(CounterKey, SyncCounterOwned)> = Vec::new();
        inner.table.for_each_mut(|key, value| {
            if let Some(spec) = value.spec {
                if value.unsynced() > 0 || !value.gcra.is_idle(now) {
                    let taken = SyncCounterOwned {
                        spec,
                        base: value.base,
                        advance: (value.gcra.tat - value.base).max(0),
                        requests: std::mem::take(&mut value.pending),
                    };
                    value.base = value.gcra.tat;
                    batch.push((key.clone(), taken));
                }
            }
        });
        if batch.is_empty() {
            inner.synced_at.store(now, Ordering::Relaxed);
            return Ok(0);
        }
        let counters: Vec<SyncCounter<'_>> = batch
            .iter()
            .map(|(key, taken)| SyncCounter {
                counter: key.as_counter(),
                spec: taken.spec,
                base: taken.base,
                advance: taken.advance,
                requests: taken.requests,
            })
            .collect();
        let shared = match inner.sync.sync(&counters, now).await {
            Ok(shared) if shared.len() == batch.len() => shared,
            Ok(shared) => {
                self.restore(&batch, now);
                return Err(RateLimitError::unavailable(format!(
                    "the shared store answered {} states for {} counters",
                    shared.len(),
                    batch.len()
                )));
            }
            Err(err) => {
                self.restore(&batch, now);
                return Err(err);
            }
        };
        for ((key, _), global) in batch.iter().zip(&shared) {
            inner.table.update(key, now, |local| {
                let Some(local) = local else {
                    return ((), None);
                };
                ((), Some(merge(local, global)))
            });
        }
        inner.synced_at.store(now, Ordering::Relaxed);
        Ok(batch.len())
    }

    /// Puts requests that could not be told back, for the next sync.
    fn restore(&self, batch: &[(CounterKey, SyncCounterOwned)], now: i64) {
        for (key, taken) in batch {
            self.inner.table.update(key, now, |local| match local {
                Some(local) => (
                    (),
                    Some(Synced {
                        pending: local.pending.saturating_add(taken.requests),
                        base: local.base.saturating_sub(taken.advance),
                        ..*local
                    }),
                ),
                None => ((), None),
            });
        }
    }

    /// Whether decisions may still be made here at `now`.
    fn usable(&self, now: i64) -> Result<(), RateLimitError> {
        match self.inner.when_unsynced {
            WhenUnsynced::DecideLocally => Ok(()),
            WhenUnsynced::Refuse { after } => {
                let stale = now.saturating_sub(self.inner.synced_at.load(Ordering::Relaxed));
                if stale > i64::try_from(after.as_micros()).unwrap_or(i64::MAX) {
                    Err(RateLimitError::unavailable(format!(
                        "rate limits not reconciled for {} ms",
                        stale / 1000
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }

    #[cfg(feature = "tokio")]
    fn spawn_syncer(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.every;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let limiter = SyncedRateLimiter { inner };
                let now = limiter.inner.clock.now_micros();
                if let Err(e) = limiter.sync_now(now).await {
                    tracing::warn!(error = %e, "keygate: could not reconcile rate limits; deciding locally meanwhile");
                }
            }
        });
    }

    #[cfg(not(feature = "tokio"))]
    fn spawn_syncer(&self) {}
}

/// What a sync took from a counter, owned while the store answers.
#[derive(Debug, Clone, Copy)]
struct SyncCounterOwned {
    spec: RateLimitSpec,
    base: i64,
    advance: i64,
    requests: u32,
}

/// The local state after a sync: the shared state (every instance's requests up to the
/// sync) plus what this instance counted since, never below what it knows itself.
fn merge(local: &Synced, shared: &GcraState) -> Synced {
    if shared.interval != local.gcra.interval {
        return *local; // the limit changed meanwhile: the next sync aligns them
    }
    let since = (local.gcra.tat - local.base).max(0);
    let tat = local.gcra.tat.max(shared.tat.saturating_add(since));
    let used = if shared.day == local.gcra.day {
        local
            .gcra
            .used
            .max(shared.used.saturating_add(local.pending))
    } else {
        local.gcra.used
    };
    Synced {
        gcra: GcraState {
            tat,
            used,
            ..local.gcra
        },
        base: tat - since,
        ..*local
    }
}

#[async_trait]
impl<S: CounterSync> RateLimiter for SyncedRateLimiter<S> {
    async fn check_all(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, RateLimitError> {
        self.usable(now)?;
        Ok(count_in(&self.inner.table, checks, now))
    }

    fn check_all_sync(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Option<Result<Counted, RateLimitError>> {
        Some(
            self.usable(now)
                .map(|()| count_in(&self.inner.table, checks, now)),
        )
    }
}

/// A [`CounterSync`] in memory: the shared store of instances in one process (tests,
/// examples). `keygate_redis` has the one for a fleet.
#[derive(Debug, Default)]
pub struct MemorySync {
    states: std::sync::Mutex<std::collections::HashMap<String, GcraState>>,
}

#[async_trait]
impl CounterSync for MemorySync {
    async fn sync(
        &self,
        counters: &[SyncCounter<'_>],
        now: i64,
    ) -> Result<Vec<GcraState>, RateLimitError> {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(counters
            .iter()
            .map(|c| {
                let key = c.counter.storage_key();
                let synced = GcraState::synced(
                    states.get(&key),
                    &c.spec,
                    now,
                    c.base,
                    c.advance,
                    c.requests,
                );
                states.insert(key, synced);
                synced
            })
            .collect())
    }
}

#[async_trait]
impl<S: CounterSync + ?Sized> CounterSync for Arc<S> {
    async fn sync(
        &self,
        counters: &[SyncCounter<'_>],
        now: i64,
    ) -> Result<Vec<GcraState>, RateLimitError> {
        (**self).sync(counters, now).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use chrono::Duration as Span;

    use super::*;
    use crate::clock::ManualClock;
    use crate::rate_limit::MemoryRateLimiter;
    use crate::KeyId;

    fn instances(
        shared: &Arc<MemorySync>,
        n: usize,
        clock: &ManualClock,
    ) -> Vec<SyncedRateLimiter<Arc<MemorySync>>> {
        (0..n)
            .map(|_| {
                SyncedRateLimiter::with(
                    shared.clone(),
                    Duration::from_secs(1),
                    WhenUnsynced::DecideLocally,
                    Arc::new(clock.clone()),
                )
            })
            .collect()
    }

    fn allowed(limiter: &impl RateLimiter, key: &KeyId, spec: &RateLimitSpec, now: i64) -> bool {
        let check = [LimitCheck {
            counter: Counter::Key(key),
            spec: *spec,
        }];
        matches!(limiter.check_all_sync(&check, now), Some(Ok(c)) if c.allowed())
    }

    /// Three instances hammer one key for 10 s, 5 attempts each per 100 ms, each
    /// syncing once a second at its own offset: returns how many were let through.
    async fn fleet_run(sync: bool) -> usize {
        let clock = ManualClock::at_unix(1_800_000_000);
        let shared = Arc::new(MemorySync::default());
        let fleet = instances(&shared, 3, &clock);
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_second(10); // burst 10
        let mut passed = 0;
        for tick in 0..100 {
            for (i, limiter) in fleet.iter().enumerate() {
                if sync && tick % 10 == (i * 3) % 10 {
                    limiter
                        .sync_now(clock.now_micros())
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                for _ in 0..5 {
                    passed += usize::from(allowed(limiter, &key, &spec, clock.now_micros()));
                }
            }
            clock.advance(Span::milliseconds(100));
        }
        passed
    }

    #[tokio::test]
    async fn a_fleet_stays_within_the_stated_overshoot() {
        // Exact: the burst, then one per 100 ms tick after the first: 10 + 99.
        let exact = 109;
        let (n, burst, rate, every) = (3, 10, 10, 1);
        let bound = exact + (n - 1) * (burst + 2 * rate * every);
        let synced = fleet_run(true).await;
        assert!(synced <= bound, "{synced} > {bound}");
        eprintln!(
            "3 instances, synced every second: {synced} let through (exact {exact}, bound {bound})"
        );
        assert!(synced >= exact - 10, "{synced}: far below the limit");
        // Without syncing each instance allows the full limit: three times as much.
        let unsynced = fleet_run(false).await;
        assert_eq!(unsynced, 3 * exact);
    }

    #[tokio::test]
    async fn one_instance_decides_exactly_like_the_in_process_limiter() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let shared = Arc::new(MemorySync::default());
        let synced = &instances(&shared, 1, &clock)[0];
        let memory = MemoryRateLimiter::new();
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_minute(60).with_burst(3);
        for tick in 0..300 {
            if tick % 7 == 0 {
                synced
                    .sync_now(clock.now_micros())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let now = clock.now_micros();
            assert_eq!(
                allowed(synced, &key, &spec, now),
                allowed(&memory, &key, &spec, now),
                "tick {tick}"
            );
            clock.advance(Span::milliseconds(250));
        }
    }

    /// A shared store that can be switched off; counts the requests it was told.
    #[derive(Debug, Default)]
    struct Flaky {
        down: AtomicBool,
        told: std::sync::atomic::AtomicU64,
        inner: MemorySync,
    }

    #[async_trait]
    impl CounterSync for Flaky {
        async fn sync(
            &self,
            counters: &[SyncCounter<'_>],
            now: i64,
        ) -> Result<Vec<GcraState>, RateLimitError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(RateLimitError::unavailable("down"));
            }
            let told: u64 = counters.iter().map(|c| u64::from(c.requests)).sum();
            self.told.fetch_add(told, Ordering::Relaxed);
            self.inner.sync(counters, now).await
        }
    }

    #[tokio::test]
    async fn a_store_that_is_down_keeps_the_requests_and_fails_closed_after_the_bound() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let flaky = Arc::new(Flaky::default());
        let limiter = SyncedRateLimiter::with(
            flaky.clone(),
            Duration::from_secs(1),
            WhenUnsynced::Refuse {
                after: Duration::from_secs(3),
            },
            Arc::new(clock.clone()),
        );
        let key = KeyId::generate();
        let spec = RateLimitSpec::per_second(100);
        flaky.down.store(true, Ordering::Relaxed);
        for _ in 0..4 {
            assert!(allowed(&limiter, &key, &spec, clock.now_micros()));
        }
        assert!(limiter.sync_now(clock.now_micros()).await.is_err());
        clock.advance(Span::seconds(2));
        assert!(
            allowed(&limiter, &key, &spec, clock.now_micros()),
            "within the bound"
        );
        clock.advance(Span::seconds(2));
        let check = [LimitCheck {
            counter: Counter::Key(&key),
            spec,
        }];
        assert!(
            matches!(
                limiter.check_all_sync(&check, clock.now_micros()),
                Some(Err(RateLimitError::Unavailable(_)))
            ),
            "stale past the bound: 503, never unlimited"
        );
        // Back up: every request let through is told, once.
        flaky.down.store(false, Ordering::Relaxed);
        limiter
            .sync_now(clock.now_micros())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(flaky.told.load(Ordering::Relaxed), 5);
        assert!(allowed(&limiter, &key, &spec, clock.now_micros()));
        limiter
            .sync_now(clock.now_micros())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(flaky.told.load(Ordering::Relaxed), 6);
    }
}

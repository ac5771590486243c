//! One cached lookup (keys by hash, roles by name): freshness, coalesced loads,
//! invalidation that also catches loads in flight, and stale-if-error.
//!
//! moka holds the entries, bounds their number, frees them after a hard time limit and
//! makes concurrent misses share one load (`try_get_with`). Freshness is judged with
//! keygate's [`Clock`], so tests move time with a `ManualClock` instead of sleeping.
//!
//! Invalidation races with loads: a load that read the store before a revoke committed
//! may insert its answer after the invalidation ran. Every load therefore notes the
//! invalidation epoch it started in; an invalidation bumps the epoch and remembers,
//! per key, the epoch it happened in. An entry whose load started before a later
//! invalidation of its key (or before an "invalidate all") is not trusted.

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use keygate::clock::Clock;
use keygate::StoreError;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use moka::Expiry;

use crate::front::Front;
use crate::shared_error::unshare;
use crate::stats::Counters;

/// A cached answer: the value (or `None`: the store has no such item), when it was
/// loaded, the invalidation epoch its load started in, and a unique number.
#[derive(Debug)]
pub(crate) struct Slot<V> {
    pub(crate) value: Option<Arc<V>>,
    loaded_at: DateTime<Utc>,
    epoch: u64,
    seq: u64,
}

impl<V> Clone for Slot<V> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            loaded_at: self.loaded_at,
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

/// How long entries count as fresh, and how long a stale one may stand in for a
/// failed load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TierConfig {
    pub(crate) ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) max_capacity: u64,
}

impl TierConfig {
    /// How long moka keeps a positive entry: fresh, then usable as a stale fallback.
    fn positive_lifetime(&self) -> Duration {
        self.ttl
            .saturating_add(self.stale_if_error.unwrap_or_default())
    }

    /// The longest any entry lives, plus a margin for loads still in flight.
    fn longest_lifetime(&self) -> Duration {
        self.positive_lifetime()
            .max(self.negative_ttl)
            .saturating_add(Duration::from_secs(5))
    }
}

/// moka's hard limit per entry: positive entries outlive their freshness by the
/// stale-if-error window; negative entries go when they stop being fresh.
struct HardExpiry {
    positive: Duration,
    negative: Duration,
}

impl HardExpiry {
    fn of<V>(&self, slot: &Slot<V>) -> Duration {
        if slot.value.is_some() {
            self.positive
        } else {
            self.negative
        }
    }
}

impl<K, V> Expiry<K, Slot<V>> for HardExpiry {
    fn expire_after_create(&self, _: &K, slot: &Slot<V>, _: Instant) -> Option<Duration> {
        Some(self.of(slot))
    }

    fn expire_after_update(
        &self,
        _: &K,
        slot: &Slot<V>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.of(slot))
    }
}

enum Freshness {
    Fresh,
    Stale,
    Untrusted,
}

pub(crate) struct Tier<K, V> {
    main: Cache<K, Slot<V>>,
    /// Positive entries past their TTL, kept for stale-if-error (when enabled).
    fallback: Option<Cache<K, Slot<V>>>,
    /// Per key: the epoch of its latest invalidation.
    invalidated: Cache<K, u64>,
    epoch: AtomicU64,
    /// Entries loaded before this epoch are not trusted ("invalidate all").
    all_before: Arc<AtomicU64>,
    seq: AtomicU64,
    config: TierConfig,
    clock: Arc<dyn Clock>,
    pub(crate) counters: Counters,
    /// Fresh positive answers readable without waiting (the keys tier only).
    front: Option<Front<K, V>>,
}

/// How many shared loads a miss tries before it asks the store alone (each retry means
/// the load it joined began before an invalidation it must see).
const JOIN_ATTEMPTS: usize = 3;

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl<K, V> Tier<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub(crate) fn new(config: TierConfig, clock: Arc<dyn Clock>, front: bool) -> Self {
        let main = Cache::builder()
            .max_capacity(config.max_capacity)
            .expire_after(HardExpiry {
                positive: config.positive_lifetime(),
                negative: config.negative_ttl,
            })
            .build();
        let fallback = config.stale_if_error.map(|_| {
            Cache::builder()
                .max_capacity(config.max_capacity)
                .time_to_live(config.positive_lifetime())
                .build()
        });
        let all_before = Arc::new(AtomicU64::new(0));
        let on_evict = Arc::clone(&all_before);
        // If remembered invalidations are pushed out for lack of room, distrust
        // everything loaded before them: correct, if costly, and very unlikely.
        let invalidated = Cache::builder()
            .max_capacity(config.max_capacity.clamp(1024, 65_536))
            .time_to_live(config.longest_lifetime())
            .eviction_listener(move |_, epoch: u64, cause| {
                if cause == RemovalCause::Size {
                    on_evict.fetch_max(epoch, Ordering::SeqCst);
                }
            })
            .build();
        Self {
            main,
            fallback,
            invalidated,
            epoch: AtomicU64::new(0),
            all_before,
            seq: AtomicU64::new(0),
            front: front.then(|| Front::new(config.max_capacity)),
            config,
            clock,
            counters: Counters::default(),
        }
    }

    /// The fresh, trusted answer for `key` if the front holds one: no waiting, no
    /// store call, no moka bookkeeping (`None`: ask [`Tier::get`]).
    pub(crate) fn get_now(&self, key: &K) -> Option<Arc<V>> {
        let front = self.front.as_ref()?;
        let value = front.get(
            key,
            self.clock.now_micros(),
            self.epoch.load(Ordering::SeqCst),
        )?;
        self.counters.hit(true);
        Some(value)
    }

    /// Lets the front answer for `key` with `value` until its freshness ends.
    fn vouch(&self, key: &K, value: &Option<Arc<V>>, loaded_at: DateTime<Utc>, epoch: u64) {
        if let (Some(front), Some(value)) = (&self.front, value) {
            let fresh_until = loaded_at
                .timestamp_micros()
                .saturating_add(i64::try_from(self.config.ttl.as_micros()).unwrap_or(i64::MAX));
            front.put(key, value, fresh_until, epoch);
        }
    }

    /// The cached answer for `key`, or `load`'s, shared with concurrent callers. The
    /// value is shared, never copied: every hit hands out the same `Arc`.
    /// The entry for `key`; on a miss, `load()` is called (once per concurrent miss).
    /// `load` is a function so a hit builds no load future (a store's boxed future is
    /// an allocation).
    ///
    /// A miss may join a load already in flight. If that load began before an
    /// invalidation of `key` that came before this call, its answer may predate the
    /// change (a revoke, a role edit): it is not handed out, the key is loaded again.
    pub(crate) async fn get<L, F>(&self, key: &K, load: L) -> Result<Option<Arc<V>>, StoreError>
    where
        L: Fn() -> F,
        F: Future<Output = Result<Option<Arc<V>>, StoreError>>,
    {
        // Any invalidation this call must see happened before this read.
        let start = self.epoch.load(Ordering::SeqCst);
        if let Some(slot) = self.main.get(key).await {
            // Read before the trust check: an invalidation after it moves past it.
            let epoch = self.epoch.load(Ordering::SeqCst);
            match self.freshness(key, &slot).await {
                Freshness::Fresh => {
                    self.counters.hit(slot.value.is_some());
                    self.vouch(key, &slot.value, slot.loaded_at, epoch);
                    return Ok(slot.value);
                }
                Freshness::Stale => self.retire(key, &slot, true).await,
                Freshness::Untrusted => self.retire(key, &slot, false).await,
            }
        }
        self.counters.miss();
        for _ in 0..JOIN_ATTEMPTS {
            let init = async {
                let epoch = self.epoch.load(Ordering::SeqCst);
                self.counters.load();
                match load().await {
                    Ok(value) => Ok(Slot {
                        value,
                        loaded_at: self.clock.now(),
                        epoch,
                        seq: self.seq.fetch_add(1, Ordering::Relaxed),
                    }),
                    Err(err) => {
                        self.counters.load_error();
                        Err(err)
                    }
                }
            };
            match self.main.try_get_with(key.clone(), init).await {
                Ok(slot) => {
                    if slot.epoch < start && !self.trusted(key, &slot).await {
                        // A load begun before an invalidation this call came after.
                        self.retire(key, &slot, false).await;
                        continue;
                    }
                    // Vouched for in the epoch its load started in: any invalidation
                    // since keeps the front from answering with it.
                    self.vouch(key, &slot.value, slot.loaded_at, slot.epoch);
                    return Ok(slot.value);
                }
                Err(err) => {
                    return match self.serve_stale(key, &err).await {
                        Some(value) => Ok(Some(value)),
                        None => Err(unshare(err)),
                    }
                }
            }
        }
        // Invalidations keep overtaking the shared loads: ask the store, uncached.
        self.counters.load();
        load().await
    }

    async fn freshness(&self, key: &K, slot: &Slot<V>) -> Freshness {
        if !self.trusted(key, slot).await {
            return Freshness::Untrusted;
        }
        let ttl = if slot.value.is_some() {
            self.config.ttl
        } else {
            self.config.negative_ttl
        };
        if self.clock.now() < slot.loaded_at + delta(ttl) {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }

    /// Whether no invalidation of `key` happened after `slot`'s load started.
    async fn trusted(&self, key: &K, slot: &Slot<V>) -> bool {
        if slot.epoch == self.epoch.load(Ordering::SeqCst) {
            return true;
        }
        if slot.epoch < self.all_before.load(Ordering::SeqCst) {
            return false;
        }
        match self.invalidated.get(key).await {
            Some(at) => at <= slot.epoch,
            None => true,
        }
    }

    /// Removes `slot` from the main cache unless a newer load replaced it; keeps a
    /// trusted positive one for stale-if-error.
    async fn retire(&self, key: &K, slot: &Slot<V>, keep: bool) {
        let seq = slot.seq;
        let result = self
            .main
            .entry(key.clone())
            .and_compute_with(|current| {
                std::future::ready(match current {
                    Some(entry) if entry.value().seq == seq => Op::Remove,
                    _ => Op::Nop,
                })
            })
            .await;
        if let (CompResult::Removed(entry), Some(fallback), true) = (result, &self.fallback, keep) {
            let slot = entry.into_value();
            if slot.value.is_some() {
                fallback.insert(key.clone(), slot).await;
            }
        }
    }

    /// A stale positive entry to answer with while the store is unavailable.
    async fn serve_stale(&self, key: &K, err: &StoreError) -> Option<Arc<V>> {
        let window = self.config.stale_if_error?;
        if !matches!(err, StoreError::Unavailable(_)) {
            return None;
        }
        let slot = self.fallback.as_ref()?.get(key).await?;
        let value = slot.value.clone()?;
        let limit = slot.loaded_at + delta(self.config.ttl.saturating_add(window));
        if self.clock.now() >= limit || !self.trusted(key, &slot).await {
            return None;
        }
        self.counters.stale_serve();
        tracing::warn!("keygate: store unavailable; answering from a stale cache entry");
        Some(value)
    }

    /// Forgets `key`, including a load of it in flight.
    pub(crate) async fn invalidate(&self, key: &K) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(front) = &self.front {
            front.remove(key);
        }
        self.invalidated.insert(key.clone(), epoch).await;
        self.main.invalidate(key).await;
        if let Some(fallback) = &self.fallback {
            fallback.invalidate(key).await;
        }
    }

    /// Forgets every entry whose value matches `pred`; returns how many keys matched.
    ///
    /// The front may still hold a key moka has already evicted, where this scan cannot
    /// see it: the epoch moves first, so the front answers nothing until the full path
    /// has vouched for each key again.
    pub(crate) async fn invalidate_matching(&self, pred: impl Fn(&V) -> bool) -> usize {
        if self.front.is_some() {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        let matches = |cache: &Cache<K, Slot<V>>| -> Vec<K> {
            cache
                .iter()
                .filter(|(_, slot)| slot.value.as_deref().is_some_and(&pred))
                .map(|(key, _)| K::clone(&key))
                .collect()
        };
        let mut keys = matches(&self.main);
        if let Some(fallback) = &self.fallback {
            keys.extend(matches(fallback));
        }
        for key in &keys {
            self.invalidate(key).await;
        }
        keys.len()
    }

    /// Forgets everything, including loads in flight.
    pub(crate) fn invalidate_all(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.all_before.fetch_max(epoch, Ordering::SeqCst);
        if let Some(front) = &self.front {
            front.clear();
        }
        self.main.invalidate_all();
        if let Some(fallback) = &self.fallback {
            fallback.invalidate_all();
        }
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.main.entry_count()
    }

    pub(crate) async fn run_pending_tasks(&self) {
        self.main.run_pending_tasks().await;
        self.invalidated.run_pending_tasks().await;
        if let Some(fallback) = &self.fallback {
            fallback.run_pending_tasks().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use keygate::clock::ManualClock;
    use keygate::hash::KeyHasher;
    use keygate::KeyRecord;

    use super::*;

    fn tier() -> Tier<keygate::hash::KeyHash, KeyRecord> {
        let config = TierConfig {
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            stale_if_error: None,
            max_capacity: 100,
        };
        Tier::new(config, Arc::new(ManualClock::at_unix(1_800_000_000)), true)
    }

    #[tokio::test]
    async fn a_match_invalidation_distrusts_keys_moka_no_longer_holds() {
        let tier = tier();
        let (_, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
            .unwrap_or_else(|e| panic!("{e}"));
        let hash = record.hash;
        let id = record.id.clone();
        let stored = Arc::new(record);
        let loaded = tier
            .get(&hash, || async { Ok(Some(Arc::clone(&stored))) })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.is_some());
        assert!(tier.get_now(&hash).is_some(), "vouched for after its load");
        // moka lets the entry go (size pressure), the front still holds it ...
        tier.main.invalidate(&hash).await;
        // ... and the key is revoked elsewhere, announced by id.
        let matched = tier.invalidate_matching(|r| r.id == id).await;
        assert_eq!(matched, 0, "moka had nothing to match");
        assert!(
            tier.get_now(&hash).is_none(),
            "the front must not answer for a key an invalidation may concern"
        );
    }
}

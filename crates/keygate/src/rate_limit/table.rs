//! A bounded, sharded map of per-key limiter states that forgets idle keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A value the table can judge: whether dropping it changes nothing, and, when memory
/// runs out, how long it still matters.
pub(crate) trait Entry {
    /// Forgetting it at `now` (Unix µs) changes no decision.
    fn is_idle(&self, now: i64) -> bool;
    /// Until when it constrains its key; the table drops the earliest first when full.
    fn busy_until(&self) -> i64;
}

const SHARDS: usize = 16;
/// How many queries [`Table::update_many`] handles without allocating.
pub(crate) const INLINE: usize = 8;
/// Every this many operations a shard drops its idle entries.
const SWEEP_EVERY: u32 = 4096;

/// Sixteen mutex-guarded shards, so concurrent checks of different keys rarely wait on
/// each other. Each shard holds at most `capacity / 16` entries: a new key in a full
/// shard first sweeps its idle entries, then (if none) drops the entry that is free
/// soonest.
pub(crate) struct Table<K, V, S = RandomState> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: S,
    shard_capacity: usize,
    /// Entries in all shards (kept up to date under each shard's lock).
    entries: AtomicUsize,
}

/// One shard: entries found by the hash that also chose the shard (each key is hashed
/// once per operation).
struct Shard<K, V> {
    map: HashTable<(K, V)>,
    ops: u32,
}

impl<K: Hash + Eq + Clone, V: Entry + Clone, S: BuildHasher + Default> Table<K, V, S> {
    /// A table for about `capacity` keys (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashTable::new(),
                        ops: 0,
                    })
                })
                .collect(),
            hasher: S::default(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            entries: AtomicUsize::new(0),
        }
    }

    /// The most entries it keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    /// The shard of `hash`. The table indexes with the hash's low bits and tags with
    /// its top seven: the shard comes from bits in between.
    fn shard_index(hash: u64) -> usize {
        // The modulo keeps the index below SHARDS, so it always fits.
        ((hash >> 40) % SHARDS as u64) as usize
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard<K, V>> {
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the key's entry (`None` if absent) under the shard's lock and stores
    /// the value it returns, if any.
    pub(crate) fn update<R>(
        &self,
        key: &K,
        now: i64,
        f: impl FnOnce(Option<&V>) -> (R, Option<V>),
    ) -> R {
        self.update_by(key, |k| k == key, || key.clone(), now, f)
    }

    /// [`update`](Table::update) for the entry found by `query`, a borrowed form of the
    /// key that hashes as the key does (`eq` compares it with a stored key): a lookup
    /// builds no key; `make` builds one only to insert.
    pub(crate) fn update_by<Q: Hash + ?Sized, R>(
        &self,
        query: &Q,
        eq: impl Fn(&K) -> bool,
        make: impl FnOnce() -> K,
        now: i64,
        f: impl FnOnce(Option<&V>) -> (R, Option<V>),
    ) -> R {
        let hash = self.hasher.hash_one(query);
        let mut shard = self.lock(Self::shard_index(hash));
        let before = shard.map.len();
        Self::tick(&mut shard, now);
        // One probe for a key already held (the common case): updated in place.
        if let Some((_, value)) = shard.map.find_mut(hash, |(k, _)| eq(k)) {
            let (result, new) = f(Some(value));
            if let Some(new) = new {
                *value = new;
            }
            self.count(before, shard.map.len());
            return result;
        }
        let (result, new) = f(None);
        if let Some(new) = new {
            self.store(&mut shard, hash, &eq, make, new, now);
        }
        self.count(before, shard.map.len());
        result
    }

    /// Runs `f` on the entries of every query at once (`None` for an absent one),
    /// holding all their shards' locks (each taken once, in shard order, so two calls
    /// never wait on each other in a cycle), and stores the values it writes into its
    /// second argument (one per query) when it answers `true`. Nothing another thread
    /// does can fall between reading the entries and storing them. Up to [`INLINE`]
    /// queries take no allocation.
    pub(crate) fn update_many<Q: Hash, R>(
        &self,
        queries: &[Q],
        eq: impl Fn(&Q, &K) -> bool,
        make: impl Fn(&Q) -> K,
        now: i64,
        f: impl FnOnce(&[Option<V>], &mut [V]) -> (R, bool),
    ) -> R
    where
        V: Copy + Default,
    {
        let hashes: SmallVec<[u64; INLINE]> =
            queries.iter().map(|q| self.hasher.hash_one(q)).collect();
        let mut indexes: SmallVec<[usize; INLINE]> =
            hashes.iter().map(|&h| Self::shard_index(h)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut guards: SmallVec<[MutexGuard<'_, Shard<K, V>>; INLINE]> =
            indexes.iter().map(|&i| self.lock(i)).collect();
        let before: usize = guards.iter().map(|g| g.map.len()).sum();
        let guard_of = |hash: u64| {
            let index = Self::shard_index(hash);
            indexes.binary_search(&index).unwrap_or(0)
        };
        let found: SmallVec<[Option<V>; INLINE]> = queries
            .iter()
            .zip(&hashes)
            .map(|(q, &hash)| {
                let shard = &mut guards[guard_of(hash)];
                Self::find(shard, hash, &|k: &K| eq(q, k), now)
            })
            .collect();
        let mut new: SmallVec<[V; INLINE]> = smallvec::smallvec![V::default(); queries.len()];
        let (result, store) = f(&found, &mut new);
        if store {
            for ((q, &hash), value) in queries.iter().zip(&hashes).zip(new) {
                let shard = &mut guards[guard_of(hash)];
                self.store(shard, hash, &|k: &K| eq(q, k), || make(q), value, now);
            }
        }
        let after: usize = guards.iter().map(|g| g.map.len()).sum();
        self.count(before, after);
        result
    }

    fn count(&self, before: usize, after: usize) {
        if after > before {
            self.entries.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.entries.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Whether the table holds no entry at all (one atomic read, no lock).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.load(Ordering::Relaxed) == 0
    }

    /// The entry of `hash` that `eq` accepts, copied out (a sweep of idle entries runs
    /// every [`SWEEP_EVERY`] lookups of the shard).
    fn find(shard: &mut Shard<K, V>, hash: u64, eq: &impl Fn(&K) -> bool, now: i64) -> Option<V> {
        Self::tick(shard, now);
        shard.map.find(hash, |(k, _)| eq(k)).map(|(_, v)| v.clone())
    }

    /// Counts one lookup of the shard; every [`SWEEP_EVERY`] it drops the idle entries.
    fn tick(shard: &mut Shard<K, V>, now: i64) {
        shard.ops = shard.ops.wrapping_add(1);
        if shard.ops % SWEEP_EVERY == 0 {
            shard.map.retain(|(_, v)| !v.is_idle(now));
        }
    }

    /// Stores `value` for the key of `hash` (replacing its entry, or inserting one built
    /// by `make`, first making room in a full shard).
    fn store(
        &self,
        shard: &mut Shard<K, V>,
        hash: u64,
        eq: &impl Fn(&K) -> bool,
        make: impl FnOnce() -> K,
        value: V,
        now: i64,
    ) {
        if let Some((_, slot)) = shard.map.find_mut(hash, |(k, _)| eq(k)) {
            *slot = value;
            return;
        }
        let rehash = |(k, _): &(K, V)| self.hasher.hash_one(k);
        if shard.map.len() >= self.shard_capacity {
            shard.map.retain(|(_, v)| !v.is_idle(now));
        }
        if shard.map.len() >= self.shard_capacity {
            let victim = shard
                .map
                .iter()
                .min_by_key(|(_, v)| v.busy_until())
                .map(|(k, _)| (self.hasher.hash_one(k), k.clone()));
            if let Some((victim_hash, victim)) = victim {
                if let Ok(entry) = shard.map.find_entry(victim_hash, |(k, _)| *k == victim) {
                    entry.remove();
                }
            }
        }
        shard.map.insert_unique(hash, (make(), value), rehash);
    }

    /// Runs `f` on every entry, one shard's lock at a time.
    pub(crate) fn for_each_mut(&self, mut f: impl FnMut(&K, &mut V)) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (k, v) in shard.map.iter_mut() {
                f(k, v);
            }
        }
    }

    /// Drops every idle entry; returns how many were dropped.
    pub(crate) fn evict_idle(&self, now: i64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let before = shard.map.len();
                shard.map.retain(|(_, v)| !v.is_idle(now));
                self.count(before, shard.map.len());
                before - shard.map.len()
            })
            .sum()
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .map
                    .len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, Default)]
    struct Until(i64);

    impl Entry for Until {
        fn is_idle(&self, now: i64) -> bool {
            self.0 <= now
        }
        fn busy_until(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn stays_within_capacity_dropping_idle_then_soonest_free() {
        let table: Table<u32, Until> = Table::new(32);
        assert_eq!(table.capacity(), 32);
        for key in 0..1000u32 {
            table.update(&key, 0, |_| ((), Some(Until(i64::from(key) + 10))));
        }
        assert!(table.len() <= 32, "{}", table.len());
        // The most recent (latest busy_until) keys survived.
        let kept = table.update(&999, 0, |v| (v.map(|v| v.0), None));
        assert_eq!(kept, Some(1009));
        let held = table.len();
        assert_eq!(table.evict_idle(2000), held);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn update_without_a_value_stores_nothing() {
        let table: Table<&str, Until> = Table::new(8);
        let seen = table.update(&"a", 0, |v| (v.is_some(), None));
        assert!(!seen);
        assert_eq!(table.len(), 0);
        assert!(table.is_empty());
        table.update(&"a", 0, |_| ((), Some(Until(5))));
        assert!(!table.is_empty());
        assert_eq!(table.evict_idle(10), 1);
        assert!(table.is_empty());
    }

    #[test]
    fn update_many_reads_and_writes_all_or_nothing() {
        let table: Table<u32, Until> = Table::new(64);
        let keys = [1u32, 2, 3, 1000];
        let seen = table.update_many(
            &keys,
            |q, k| q == k,
            |q| *q,
            0,
            |found, _| (found.iter().filter(|v| v.is_some()).count(), false),
        );
        assert_eq!((seen, table.len()), (0, 0), "nothing stored when told so");
        table.update_many(
            &keys,
            |q, k| q == k,
            |q| *q,
            0,
            |_, new| {
                new.fill(Until(10));
                ((), true)
            },
        );
        assert_eq!(table.len(), 4);
        assert!(!table.is_empty());
        let values = table.update_many(
            &[3u32, 1],
            |q, k| q == k,
            |q| *q,
            0,
            |found, _| {
                (
                    found.iter().map(|v| v.map(|u| u.0)).collect::<Vec<_>>(),
                    false,
                )
            },
        );
        assert_eq!(values, [Some(10), Some(10)]);
        assert_eq!(table.evict_idle(10), 4);
        assert!(table.is_empty(), "the entry count follows removals");
    }
}

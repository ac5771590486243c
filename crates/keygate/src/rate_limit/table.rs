//! A bounded, sharded map of per-key limiter states that forgets idle keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// A value the table can judge: whether dropping it changes nothing, and, when memory
/// runs out, how long it still matters.
pub(crate) trait Entry {
    /// Forgetting it at `now` (Unix µs) changes no decision.
    fn is_idle(&self, now: i64) -> bool;
    /// Until when it constrains its key; the table drops the earliest first when full.
    fn busy_until(&self) -> i64;
}

const SHARDS: usize = 16;
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

impl<K: Hash + Eq + Clone, V: Entry, S: BuildHasher + Default> Table<K, V, S> {
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

    /// The key's hash and its shard, locked. The table indexes with the hash's low bits
    /// and tags with its top seven: the shard comes from bits in between.
    fn shard(&self, key: &K) -> (u64, std::sync::MutexGuard<'_, Shard<K, V>>) {
        let hash = self.hasher.hash_one(key);
        // The modulo keeps the index below SHARDS, so it always fits.
        let index = ((hash >> 40) % SHARDS as u64) as usize;
        let shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (hash, shard)
    }

    /// Runs `f` on the key's entry (`None` if absent) under the shard's lock and stores
    /// the value it returns, if any.
    pub(crate) fn update<R>(
        &self,
        key: &K,
        now: i64,
        f: impl FnOnce(Option<&V>) -> (R, Option<V>),
    ) -> R {
        let (hash, mut shard) = self.shard(key);
        let before = shard.map.len();
        let result = self.update_shard(&mut shard, hash, key, now, f);
        self.count(before, shard.map.len());
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

    fn update_shard<R>(
        &self,
        shard: &mut Shard<K, V>,
        hash: u64,
        key: &K,
        now: i64,
        f: impl FnOnce(Option<&V>) -> (R, Option<V>),
    ) -> R {
        let rehash = |(k, _): &(K, V)| self.hasher.hash_one(k);
        shard.ops = shard.ops.wrapping_add(1);
        if shard.ops % SWEEP_EVERY == 0 {
            shard.map.retain(|(_, v)| !v.is_idle(now));
        }
        if let Some((_, value)) = shard.map.find_mut(hash, |(k, _)| k == key) {
            let (result, new) = f(Some(value));
            if let Some(new) = new {
                *value = new;
            }
            return result;
        }
        let (result, new) = f(None);
        if let Some(new) = new {
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
            shard.map.insert_unique(hash, (key.clone(), new), rehash);
        }
        result
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

    #[derive(Debug, Clone, Copy)]
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
}

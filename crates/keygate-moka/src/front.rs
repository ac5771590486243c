//! The hot path of a cached tier: its fresh, trusted, positive answers, readable
//! without waiting and for a few dozen instructions.
//!
//! moka stays the cache of record (bounds, coalesced loads, expiry, stale-if-error);
//! its hit path, though, costs more than the whole rest of a verification. The front
//! keeps, per key, the shared value, until when it is fresh, and the invalidation
//! epoch it was vouched for in. An answer is given only while the tier's epoch has not
//! moved since: any invalidation makes every front entry fall back once to the tier's
//! full path, which vouches for it again in the new epoch if it is still trusted.
//! Unknown keys never enter the front (their refusals go the full way to be audited,
//! and a flood of random keys must not fill it).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use keygate::hash::PrehashedBuilder;

const SHARDS: usize = 16;

struct Entry<V> {
    value: Arc<V>,
    /// Unix microseconds.
    fresh_until: i64,
    epoch: u64,
}

/// One lock's share of the front's entries.
type Shard<K, V> = RwLock<HashMap<K, Entry<V>, PrehashedBuilder>>;

pub(crate) struct Front<K, V> {
    shards: Box<[Shard<K, V>]>,
    shard_capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Front<K, V> {
    /// A front for about `capacity` entries.
    pub(crate) fn new(capacity: u64) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        Self {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::with_hasher(PrehashedBuilder)))
                .collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &K) -> &Shard<K, V> {
        use std::hash::BuildHasher;
        // hashbrown indexes with the low bits and tags with the top seven: shard with
        // bits in between.
        let hash = PrehashedBuilder.hash_one(key);
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The value for `key` if it is fresh at `now` (Unix microseconds) and was vouched for in `epoch`.
    pub(crate) fn get(&self, key: &K, now: i64, epoch: u64) -> Option<Arc<V>> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(key)?;
        (entry.epoch == epoch && now < entry.fresh_until).then(|| Arc::clone(&entry.value))
    }

    /// Vouches for `value` under `key` until `fresh_until`, in `epoch` (read before the
    /// value was judged trusted, so an invalidation since then moved past it).
    pub(crate) fn put(&self, key: &K, value: &Arc<V>, fresh_until: i64, epoch: u64) {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = shard.get_mut(key) {
            if entry.epoch <= epoch {
                *entry = Entry {
                    value: Arc::clone(value),
                    fresh_until,
                    epoch,
                };
            }
            return;
        }
        if shard.len() >= self.shard_capacity {
            // Full: forget one entry (it answers from the tier's full path until it is
            // vouched for again).
            if let Some(victim) = shard.keys().next().cloned() {
                shard.remove(&victim);
            }
        }
        shard.insert(
            key.clone(),
            Entry {
                value: Arc::clone(value),
                fresh_until,
                epoch,
            },
        );
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &K) {
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use keygate::hash::KeyHasher;

    use super::*;

    fn at(secs: i64) -> i64 {
        secs * 1_000_000
    }

    #[test]
    fn answers_only_fresh_entries_of_the_current_epoch() {
        let front = Front::new(100);
        let key = KeyHasher::Sha256.hash("k");
        let value = Arc::new(7);
        assert!(front.get(&key, at(0), 0).is_none());
        front.put(&key, &value, at(30), 0);
        assert_eq!(front.get(&key, at(29), 0).as_deref(), Some(&7));
        assert!(front.get(&key, at(30), 0).is_none(), "stale");
        assert!(
            front.get(&key, at(1), 1).is_none(),
            "an invalidation happened since"
        );
        // Vouched for again in the new epoch; an older vouching never wins.
        front.put(&key, &Arc::new(8), at(60), 1);
        front.put(&key, &Arc::new(9), at(90), 0);
        assert_eq!(front.get(&key, at(1), 1).as_deref(), Some(&8));
        front.remove(&key);
        assert!(front.get(&key, at(1), 1).is_none());
    }

    #[test]
    fn stays_within_capacity() {
        let front = Front::new(32);
        for i in 0..1000 {
            front.put(
                &KeyHasher::Sha256.hash(&i.to_string()),
                &Arc::new(i),
                at(30),
                0,
            );
        }
        let held: usize = front
            .shards
            .iter()
            .map(|s| s.read().map_or(0, |s| s.len()))
            .sum();
        assert!(held <= 32, "{held}");
        front.clear();
        assert!(front
            .get(&KeyHasher::Sha256.hash("999"), at(0), 0)
            .is_none());
    }
}

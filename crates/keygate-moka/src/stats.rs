//! Counters kept by the cache, and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// How lookups of one kind (keys or roles) went, since the cache was built.
///
/// ```
/// use keygate_moka::LookupStats;
/// let mut stats = LookupStats::default();
/// (stats.hits, stats.misses) = (9, 1);
/// assert_eq!(stats.hit_ratio(), 0.9);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupStats {
    /// Answered from a fresh cache entry (known or unknown).
    pub hits: u64,
    /// Of the hits, how many answered "unknown" from a negative entry.
    pub negative_hits: u64,
    /// Not answered from a fresh entry: waited on a load (its own or a shared one).
    pub misses: u64,
    /// Calls made to the store. Concurrent misses for one key share one load.
    pub loads: u64,
    /// Loads that failed.
    pub load_errors: u64,
    /// Failed loads answered with a stale entry (stale-if-error).
    pub stale_serves: u64,
}

impl LookupStats {
    /// `hits / (hits + misses)`, or 0 before any lookup.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// A snapshot of a [`CachedStore`](crate::CachedStore)'s counters.
///
/// ```
/// use keygate::MemoryStore;
/// use keygate_moka::CachedStore;
/// let cached = CachedStore::new(MemoryStore::new());
/// let stats = cached.stats();
/// assert_eq!(stats.keys.loads, 0);
/// assert_eq!(stats.invalidations, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Key lookups (`find_by_hash`).
    pub keys: LookupStats,
    /// Role lookups (`get_role`).
    pub roles: LookupStats,
    /// Invalidations applied (by hash, id, role or all).
    pub invalidations: u64,
    /// Key entries held now (approximate: moka applies writes lazily).
    pub key_entries: u64,
}

/// The live counters behind [`LookupStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    load_errors: AtomicU64,
    stale_serves: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn hit(&self, known: bool) {
        bump(&self.hits);
        if !known {
            bump(&self.negative_hits);
        }
    }

    pub(crate) fn miss(&self) {
        bump(&self.misses);
    }

    pub(crate) fn load(&self) {
        bump(&self.loads);
    }

    pub(crate) fn load_error(&self) {
        bump(&self.load_errors);
    }

    pub(crate) fn stale_serve(&self) {
        bump(&self.stale_serves);
    }

    pub(crate) fn snapshot(&self) -> LookupStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LookupStats {
            hits: get(&self.hits),
            negative_hits: get(&self.negative_hits),
            misses: get(&self.misses),
            loads: get(&self.loads),
            load_errors: get(&self.load_errors),
            stale_serves: get(&self.stale_serves),
        }
    }
}

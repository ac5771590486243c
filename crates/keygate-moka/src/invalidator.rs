//! The caches a [`CachedStore`](crate::CachedStore) holds, and a handle that drops
//! entries from them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keygate::hash::KeyHash;
use keygate::role::Role;
use keygate::{KeyId, KeyRecord};

use crate::invalidation::{Invalidation, InvalidationSource};
use crate::stats::CacheStats;
use crate::tier::Tier;

/// A role lookup: `(tenant, env, name)` of the key asking. The cached answer is the
/// resolved one (that namespace's role, else the global one, or none).
pub(crate) type RoleKey = (String, String, String);

/// Keys by hash and resolved role lookups by `(tenant, env, name)`.
pub(crate) struct Caches {
    pub(crate) keys: Tier<KeyHash, KeyRecord>,
    pub(crate) roles: Tier<RoleKey, Role>,
    invalidations: AtomicU64,
}

impl Caches {
    pub(crate) fn new(keys: Tier<KeyHash, KeyRecord>, roles: Tier<RoleKey, Role>) -> Self {
        Self {
            keys,
            roles,
            invalidations: AtomicU64::new(0),
        }
    }

    fn counted(&self) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) async fn apply(&self, invalidation: &Invalidation) {
        self.counted();
        match invalidation {
            Invalidation::Key(hash) => self.keys.invalidate(hash).await,
            Invalidation::Id(id) => {
                self.keys.invalidate_matching(|r| &r.id == id).await;
            }
            Invalidation::Role(name) => {
                // A role of one name resolves differently per namespace, and a load of
                // any namespace's lookup may be in flight: every cached role goes (and
                // every load in flight is distrusted). Role writes are rare; dropping
                // too much is safe, keeping a stale answer is not.
                self.roles.invalidate_all();
                // A cached key keeps the principal built with its role's scopes: keys
                // holding the role are dropped too, so the edit applies at once.
                self.keys
                    .invalidate_matching(|r| r.role.as_deref() == Some(name.as_str()))
                    .await;
            }
            Invalidation::All => {
                self.keys.invalidate_all();
                self.roles.invalidate_all();
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            keys: self.keys.counters.snapshot(),
            roles: self.roles.counters.snapshot(),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            key_entries: self.keys.entry_count(),
        }
    }
}

/// A cheap, cloneable handle that drops entries from one [`CachedStore`]'s caches:
/// give it to whatever hears about changes (a message-bus subscriber, an admin hook).
///
/// Dropping an entry also discards a load of it that is in flight, so an answer read
/// before a revoke committed is never kept.
///
/// [`CachedStore`]: crate::CachedStore
///
/// ```
/// use keygate::MemoryStore;
/// use keygate::hash::KeyHasher;
/// use keygate_moka::{CachedStore, Invalidation};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cached = CachedStore::new(MemoryStore::new());
/// let invalidator = cached.invalidator();
/// invalidator.apply(&Invalidation::Key(KeyHasher::Sha256.hash("sk_live_x"))).await;
/// invalidator.invalidate_role("viewer").await;
/// assert_eq!(cached.stats().invalidations, 2);
/// # });
/// ```
#[derive(Clone)]
pub struct Invalidator {
    pub(crate) caches: Arc<Caches>,
}

impl std::fmt::Debug for Invalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidator")
            .field("stats", &self.caches.stats())
            .finish()
    }
}

impl Invalidator {
    /// Applies one invalidation.
    pub async fn apply(&self, invalidation: &Invalidation) {
        self.caches.apply(invalidation).await;
    }

    /// Drops the key with this hash (known or unknown).
    pub async fn invalidate(&self, hash: &KeyHash) {
        self.apply(&Invalidation::Key(*hash)).await;
    }

    /// Drops the key with this id. It scans the cache (for admin paths, not the hot
    /// path); a load of that key in flight right now is only caught by
    /// [`Invalidator::invalidate`] with its hash.
    pub async fn invalidate_id(&self, id: &KeyId) {
        self.apply(&Invalidation::Id(id.clone())).await;
    }

    /// Drops the role with this name in every namespace (in fact every cached role),
    /// and the cached keys holding it.
    pub async fn invalidate_role(&self, name: &str) {
        self.apply(&Invalidation::Role(name.to_owned())).await;
    }

    /// Drops every key and role.
    pub async fn invalidate_all(&self) {
        self.apply(&Invalidation::All).await;
    }

    /// Applies what `source` yields, in a background task. A failed source is retried
    /// (100 ms, doubling to 10 s). The task ends when the source ends, or when the
    /// cache has been dropped (noticed at the next batch); abort the returned handle
    /// to stop it at once.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn follow(&self, source: impl InvalidationSource) -> tokio::task::JoinHandle<()> {
        crate::follow::spawn(Arc::downgrade(&self.caches), source)
    }
}

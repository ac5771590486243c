//! [`CachedStore`]: a moka cache in front of any [`KeyStore`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::audit::{AuditEvent, AuditFilter};
use keygate::hash::KeyHash;
use keygate::role::{Role, RoleNamespace};
use keygate::store::{KeyFilter, Page, PageRequest, Write, Written};
use keygate::{KeyId, KeyRecord, KeyStore, StoreError};

use crate::builder::CachedStoreBuilder;
use crate::invalidation::{Invalidation, InvalidationSource};
use crate::invalidator::{Caches, Invalidator, RoleKey};
use crate::stats::CacheStats;

/// A [`KeyStore`] that answers the hot-path lookups (`find_by_hash`, `get_role`) from
/// a moka cache and passes everything else to the store it wraps.
///
/// - Known keys are cached for a TTL, unknown keys for a shorter one.
/// - Concurrent misses for one key make one store call; the others wait for it.
/// - Cached records are shared (`Arc<KeyRecord>`): a hit copies nothing.
/// - Writes made through it (`insert`, `update`, `revoke`, `rotate`, owner
///   deactivation, `put_role`, `delete_role`) drop what they change, in this process, before they
///   return; changes made by other processes arrive through [`CachedStore::follow`].
/// - A store error is never cached. With
///   [`stale_if_error`](CachedStoreBuilder::stale_if_error), a known key whose entry
///   went stale recently is served while the store is unavailable; otherwise the
///   error reaches the verifier, which answers 503.
///
/// Clones share one cache: keep one to read [`CachedStore::stats`] or invalidate, and
/// give another to the verifier.
///
/// ```
/// use keygate::{KeyGate, KeyRecord, KeyStore, MemoryStore, VerifyRequest};
/// use keygate::hash::KeyHasher;
/// use keygate_moka::CachedStore;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cached = CachedStore::new(MemoryStore::new());
/// let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
/// cached.insert(&record).await?;
///
/// let gate = KeyGate::builder(cached.clone()).build();
/// gate.verify(VerifyRequest::key(key.expose())).await?;
/// gate.verify(VerifyRequest::key(key.expose())).await?;
/// let stats = cached.stats();
/// assert_eq!((stats.keys.loads, stats.keys.hits), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct CachedStore<S> {
    store: Arc<S>,
    caches: Arc<Caches>,
}

impl<S> Clone for CachedStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            caches: Arc::clone(&self.caches),
        }
    }
}

impl<S> std::fmt::Debug for CachedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("stats", &self.caches.stats())
            .finish_non_exhaustive()
    }
}

impl<S: KeyStore> CachedStore<S> {
    /// A cache with the defaults of [`CachedStoreBuilder`] in front of `store`.
    pub fn new(store: S) -> Self {
        Self::builder(store).build()
    }

    /// Starts a builder.
    pub fn builder(store: S) -> CachedStoreBuilder<S> {
        CachedStoreBuilder::new(store)
    }

    pub(crate) fn from_parts(store: S, caches: Caches) -> Self {
        Self {
            store: Arc::new(store),
            caches: Arc::new(caches),
        }
    }

    /// The wrapped store. Writes made directly to it bypass invalidation.
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        self.caches.stats()
    }

    /// A handle that drops entries from this cache, for invalidation sources that
    /// push (see [`Invalidator`]).
    pub fn invalidator(&self) -> Invalidator {
        Invalidator {
            caches: Arc::clone(&self.caches),
        }
    }

    /// Applies one invalidation.
    pub async fn apply(&self, invalidation: &Invalidation) {
        self.caches.apply(invalidation).await;
    }

    /// Drops the key with this hash (known or unknown), including a load of it in
    /// flight.
    ///
    /// ```
    /// use keygate::{KeyRecord, KeyStore, MemoryStore};
    /// use keygate::hash::KeyHasher;
    /// use keygate_moka::CachedStore;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cached = CachedStore::new(MemoryStore::new());
    /// let (_, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
    /// cached.inner().insert(&record).await?; // behind the cache's back
    /// cached.find_by_hash(&record.hash).await?;
    /// cached.invalidate(&record.hash).await;
    /// cached.find_by_hash(&record.hash).await?;
    /// assert_eq!(cached.stats().keys.loads, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn invalidate(&self, hash: &KeyHash) {
        self.apply(&Invalidation::Key(*hash)).await;
    }

    /// Drops the key with this id (scans the cache: for admin paths).
    pub async fn invalidate_id(&self, id: &KeyId) {
        self.apply(&Invalidation::Id(id.clone())).await;
    }

    /// Drops the role with this name in every namespace (in fact every cached role,
    /// loads in flight included), and the cached keys holding it.
    pub async fn invalidate_role(&self, name: &str) {
        self.apply(&Invalidation::Role(name.to_owned())).await;
    }

    /// Drops every key and role.
    pub async fn invalidate_all(&self) {
        self.apply(&Invalidation::All).await;
    }

    /// Drops the personal keys of `owner` of `tenant` (after its deactivation or
    /// reactivation), by hash: see [`Invalidation::owner_keys`]. If the store cannot
    /// list them, drops every key.
    pub async fn invalidate_owner(&self, tenant: &str, owner: &str) {
        match Invalidation::owner_keys(&*self.store, tenant, owner).await {
            Ok(keys) => {
                for invalidation in &keys {
                    self.apply(invalidation).await;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "keygate: cannot list an owner's keys; dropping every cached key");
                self.invalidate_all().await;
            }
        }
    }

    /// Applies what `source` yields (Postgres `LISTEN`, a polled change table, a
    /// Redis channel…) in a background task for as long as this cache lives; see
    /// [`Invalidator::follow`].
    ///
    /// ```
    /// use keygate::MemoryStore;
    /// use keygate::hash::KeyHasher;
    /// use keygate_moka::{CachedStore, Invalidation};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cached = CachedStore::new(MemoryStore::new());
    /// let (tx, rx) = tokio::sync::mpsc::channel(64);
    /// let task = cached.follow(rx);
    /// tx.send(Invalidation::Key(KeyHasher::Sha256.hash("sk_live_x"))).await?;
    /// drop(tx);
    /// task.await?;
    /// assert_eq!(cached.stats().invalidations, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn follow(&self, source: impl InvalidationSource) -> tokio::task::JoinHandle<()> {
        self.invalidator().follow(source)
    }

    /// Runs moka's pending maintenance (expiry, eviction, counts) now; for tests.
    pub async fn run_pending_tasks(&self) {
        self.caches.keys.run_pending_tasks().await;
        self.caches.roles.run_pending_tasks().await;
    }
}

impl<S: KeyStore> CachedStore<S> {
    /// What a write through this cache drops, whether or not it succeeded (a failed
    /// reply may hide a committed write): every way the changed keys or roles can be
    /// cached. `revoked` is a revoke's record, when it answered.
    async fn after(&self, change: Write<'_>, revoked: Option<&KeyRecord>) {
        match change {
            // A negative entry may be cached for this hash.
            Write::Insert(record) => self.invalidate(&record.hash).await,
            Write::Update(record) => {
                self.invalidate(&record.hash).await;
                self.invalidate_id(&record.id).await;
            }
            Write::Revoke { id, .. } => match revoked {
                // By hash: this also distrusts a lookup of the key already in flight.
                Some(record) => self.invalidate(&record.hash).await,
                // It may have committed all the same (a lost reply): drop what is cached.
                None => self.invalidate_id(id).await,
            },
            Write::Rotate { old, new, .. } => {
                self.invalidate(&old.hash).await;
                self.invalidate_id(&old.id).await;
                // A negative entry may be cached for the successor's hash.
                self.invalidate(&new.hash).await;
            }
            Write::PutRole(role) => self.invalidate_role(role.name()).await,
            Write::DeleteRole { name, .. } => self.invalidate_role(name).await,
            // Every key of the tenant resolves its shared limits again.
            Write::PutSharedLimits { .. } => self.invalidate_all().await,
        }
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for CachedStore<S> {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.caches
            .keys
            .get(hash, || self.store.find_by_hash(hash))
            .await
    }

    /// A fresh cached record, from the front of the cache (no waiting, no moka
    /// bookkeeping); `None` otherwise, unknown keys included (their lookups and
    /// refusals take the full path).
    fn find_by_hash_now(&self, hash: &KeyHash) -> Option<Option<Arc<KeyRecord>>> {
        self.caches.keys.get_now(hash).map(Some)
    }

    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.store.get(id).await
    }

    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let result = self.store.insert(record).await;
        self.after(Write::Insert(record), None).await;
        result
    }

    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let result = self.store.update(record).await;
        self.after(Write::Update(record), None).await;
        result
    }

    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        let result = self.store.revoke(id, at).await;
        self.after(Write::Revoke { id, at }, result.as_ref().ok())
            .await;
        result
    }

    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        let result = self.store.rotate(old, grace_until, new).await;
        self.after(
            Write::Rotate {
                old,
                grace_until,
                new,
            },
            None,
        )
        .await;
        result
    }

    async fn write(&self, change: Write<'_>, event: &AuditEvent) -> Result<Written, StoreError> {
        let result = self.store.write(change, event).await;
        let revoked = match &result {
            Ok(Written::Revoked(record)) => Some(&**record),
            _ => None,
        };
        self.after(change, revoked).await;
        result
    }

    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        self.store.list(filter, page).await
    }

    /// Cached per `(tenant, env, name)`: the resolved answer (the namespace's role, else
    /// the global one, or none). Any write of a role name drops every cached role and
    /// the cached keys holding that name (see [`Invalidation::Role`]).
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        let key: RoleKey = (tenant.to_owned(), env.to_owned(), name.to_owned());
        let found = self
            .caches
            .roles
            .get(&key, || async {
                Ok(self.store.get_role(tenant, env, name).await?.map(Arc::new))
            })
            .await?;
        Ok(found.map(|role| Role::clone(&role)))
    }

    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        let result = self.store.put_role(role).await;
        self.after(Write::PutRole(role), None).await;
        result
    }

    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        let result = self.store.delete_role(namespace, name).await;
        self.after(Write::DeleteRole { namespace, name }, None)
            .await;
        result
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        self.store.list_roles().await
    }

    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self.store.deactivate_owner(tenant, owner, at).await;
        self.invalidate_owner(tenant, owner).await;
        result
    }

    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        let result = self.store.reactivate_owner(tenant, owner).await;
        self.invalidate_owner(tenant, owner).await;
        result
    }

    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.owner_deactivated_at(tenant, owner).await
    }

    /// Passed through; cached entries keep their older `last_used_at` (it plays no part
    /// in verification).
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.store.record_usage(usage).await
    }
    async fn settle_credits(
        &self,
        spends: &[keygate::credits::CreditSpend],
    ) -> Result<Vec<Option<keygate::credits::CreditBalance>>, StoreError> {
        self.store.settle_credits(spends).await
    }
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
        self.store.shared_limits(tenant, env, owner).await
    }
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &keygate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .put_shared_limits(tenant, env, owner, limits)
            .await;
        self.after(
            Write::PutSharedLimits {
                tenant,
                env,
                owner,
                limits,
            },
            None,
        )
        .await;
        result
    }
    async fn record_verifications(
        &self,
        counts: &[keygate::analytics::VerificationCount],
    ) -> Result<(), StoreError> {
        self.store.record_verifications(counts).await
    }
    async fn verification_counts(
        &self,
        filter: &keygate::analytics::VerificationFilter,
    ) -> Result<Vec<keygate::analytics::VerificationCount>, StoreError> {
        self.store.verification_counts(filter).await
    }
    async fn prune_verifications(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.store.prune_verifications(before).await
    }
    async fn record_scope_use(
        &self,
        uses: &[keygate::analytics::ScopeUse],
    ) -> Result<(), StoreError> {
        self.store.record_scope_use(uses).await
    }
    async fn scope_use(
        &self,
        key: &KeyId,
    ) -> Result<Vec<keygate::analytics::ScopeUse>, StoreError> {
        self.store.scope_use(key).await
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.store.append_audit(event).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        self.store.list_audit(filter, page).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.prune_audit(before).await
    }
}

//! `PublishingStore`: announce every write on Redis so other instances' caches drop it.

use async_trait::async_trait;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keygate::audit::{AuditEvent, AuditFilter};
use keygate::hash::KeyHash;
use keygate::role::{Role, RoleNamespace};
use keygate::store::{KeyFilter, Page, PageRequest, Write, Written};
use keygate::{KeyId, KeyRecord, KeyStore, StoreError};
use keygate_moka::Invalidation;

use crate::RedisInvalidationPublisher;

/// A [`KeyStore`] that publishes an [`Invalidation`] on Redis after each successful
/// write: key insert, update, revoke and rotate (both keys), owner deactivation and
/// reactivation (each of the owner's personal keys, see
/// [`Invalidation::owner_keys`]), and role changes.
///
/// Use it where keys are managed (the admin API, the CLI's `serve`), over a store that
/// has no change feed of its own; every instance's `CachedStore` follows the channel
/// with [`RedisInvalidationSource`](crate::RedisInvalidationSource). A failed publish
/// is logged: the write stands, and other caches converge when their entries expire.
///
/// ```no_run
/// use keygate::{KeyManager, MemoryStore};
/// use keygate_redis::{PublishingStore, RedisInvalidationPublisher};
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let store = PublishingStore::new(MemoryStore::new(), RedisInvalidationPublisher::new(client));
/// let manager = KeyManager::builder(store).build();
/// # Ok::<(), redis::RedisError>(())
/// ```
#[derive(Debug)]
pub struct PublishingStore<S> {
    inner: S,
    publisher: RedisInvalidationPublisher,
}

impl<S> PublishingStore<S> {
    /// Wraps `inner`, announcing its writes through `publisher`.
    pub fn new(inner: S, publisher: RedisInvalidationPublisher) -> Self {
        Self { inner, publisher }
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    async fn announce(&self, invalidations: &[Invalidation]) {
        for invalidation in invalidations {
            if let Err(e) = self.publisher.publish(invalidation).await {
                tracing::warn!(error = %e, "keygate-redis: could not publish a cache invalidation");
            }
        }
    }
}

impl<S: KeyStore> PublishingStore<S> {
    /// Makes `change` in the inner store (no audit event), then announces it.
    async fn apply(&self, change: Write<'_>) -> Result<Written, StoreError> {
        let written = change.apply(&self.inner).await?;
        self.announce_written(change, &written).await;
        Ok(written)
    }

    /// Announces what a change made elsewhere stale: the key by hash (a negative entry
    /// for a new hash may be cached elsewhere too) and by id, or the role by name.
    async fn announce_written(&self, change: Write<'_>, written: &Written) {
        let announced = match (change, written) {
            (Write::Insert(record), _) => vec![Invalidation::Key(record.hash)],
            (Write::Update(record), _) => vec![
                Invalidation::Key(record.hash),
                Invalidation::Id(record.id.clone()),
            ],
            (Write::Revoke { .. }, Written::Revoked(record)) => {
                vec![Invalidation::Key(record.hash)]
            }
            (Write::Revoke { id, .. }, _) => vec![Invalidation::Id(id.clone())],
            (Write::Rotate { old, new, .. }, _) => vec![
                Invalidation::Key(old.hash),
                Invalidation::Id(old.id.clone()),
                Invalidation::Key(new.hash),
            ],
            (Write::PutRole(role), _) => vec![Invalidation::Role(role.name().to_owned())],
            (Write::DeleteRole { name, .. }, Written::RoleDeleted(true)) => {
                vec![Invalidation::Role((*name).to_owned())]
            }
            (Write::DeleteRole { .. }, _) => Vec::new(),
            (Write::PutSharedLimits { .. }, _) => vec![Invalidation::All],
        };
        if !announced.is_empty() {
            self.announce(&announced).await;
        }
    }

    /// Announces the owner's personal keys; everything if they cannot be listed.
    async fn announce_owner(&self, tenant: &str, owner: &str) {
        match Invalidation::owner_keys(&self.inner, tenant, owner).await {
            Ok(keys) => self.announce(&keys).await,
            Err(e) => {
                tracing::warn!(error = %e, "keygate-redis: cannot list an owner's keys; invalidating everything");
                self.announce(&[Invalidation::All]).await;
            }
        }
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for PublishingStore<S> {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.inner.find_by_hash(hash).await
    }
    fn find_by_hash_now(&self, hash: &KeyHash) -> Option<Option<Arc<KeyRecord>>> {
        self.inner.find_by_hash_now(hash)
    }
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get(id).await
    }
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.apply(Write::Insert(record)).await.map(drop)
    }
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.apply(Write::Update(record)).await.map(drop)
    }
    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        match self.apply(Write::Revoke { id, at }).await? {
            Written::Revoked(record) => Ok(*record),
            other => Err(StoreError::unavailable(format!(
                "a revoke answered {other:?}"
            ))),
        }
    }
    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        let rotation = Write::Rotate {
            old,
            grace_until,
            new,
        };
        self.apply(rotation).await.map(drop)
    }
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        self.inner.list(filter, page).await
    }
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        self.inner.get_role(tenant, env, name).await
    }
    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        self.apply(Write::PutRole(role)).await.map(drop)
    }
    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        let written = self.apply(Write::DeleteRole { namespace, name }).await?;
        Ok(written == Written::RoleDeleted(true))
    }
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        self.inner.list_roles().await
    }
    /// The change and its event through the inner store (one transaction there, where
    /// it can), then the same announcement as the change's own method makes.
    async fn write(&self, change: Write<'_>, event: &AuditEvent) -> Result<Written, StoreError> {
        let written = self.inner.write(change, event).await?;
        self.announce_written(change, &written).await;
        Ok(written)
    }
    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.deactivate_owner(tenant, owner, at).await?;
        self.announce_owner(tenant, owner).await;
        Ok(())
    }
    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.reactivate_owner(tenant, owner).await?;
        self.announce_owner(tenant, owner).await;
        Ok(())
    }
    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.owner_deactivated_at(tenant, owner).await
    }
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.inner.record_usage(usage).await
    }
    async fn settle_credits(
        &self,
        spends: &[keygate::credits::CreditSpend],
    ) -> Result<Vec<Option<keygate::credits::CreditBalance>>, StoreError> {
        self.inner.settle_credits(spends).await
    }
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
        self.inner.shared_limits(tenant, env, owner).await
    }
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &keygate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        self.apply(Write::PutSharedLimits {
            tenant,
            env,
            owner,
            limits,
        })
        .await
        .map(drop)
    }
    async fn record_verifications(
        &self,
        counts: &[keygate::analytics::VerificationCount],
    ) -> Result<(), StoreError> {
        self.inner.record_verifications(counts).await
    }
    async fn verification_counts(
        &self,
        filter: &keygate::analytics::VerificationFilter,
    ) -> Result<Vec<keygate::analytics::VerificationCount>, StoreError> {
        self.inner.verification_counts(filter).await
    }
    async fn prune_verifications(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.inner.prune_verifications(before).await
    }
    async fn record_scope_use(
        &self,
        uses: &[keygate::analytics::ScopeUse],
    ) -> Result<(), StoreError> {
        self.inner.record_scope_use(uses).await
    }
    async fn scope_use(
        &self,
        key: &KeyId,
    ) -> Result<Vec<keygate::analytics::ScopeUse>, StoreError> {
        self.inner.scope_use(key).await
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.append_audit(event).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        self.inner.list_audit(filter, page).await
    }
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_audit(before).await
    }
}

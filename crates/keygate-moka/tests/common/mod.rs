//! A store that counts the calls it receives and can hold them until told to go.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::audit::{AuditEvent, AuditFilter};
use keygate::hash::KeyHash;
use keygate::role::{Role, RoleNamespace};
use keygate::store::{KeyFilter, Page, PageRequest};
use keygate::{KeyId, KeyRecord, KeyStore, MemoryStore, StoreError};
use tokio::sync::Semaphore;

/// Wraps a [`MemoryStore`]; counts `find_by_hash` and `get_role` calls. Lookups take
/// `delay` (so concurrent callers overlap) and, when `hold` is set, wait for a permit.
#[derive(Debug, Default)]
pub struct CountingStore {
    pub memory: MemoryStore,
    pub finds: AtomicUsize,
    pub role_gets: AtomicUsize,
    pub delay: Option<Duration>,
    pub hold: Option<Arc<Semaphore>>,
}

impl CountingStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay: Some(delay),
            ..Self::default()
        })
    }

    pub fn held(gate: Arc<Semaphore>) -> Arc<Self> {
        Arc::new(Self {
            hold: Some(gate),
            ..Self::default()
        })
    }

    pub fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }

    pub fn role_gets(&self) -> usize {
        self.role_gets.load(Ordering::SeqCst)
    }

    async fn pause(&self) {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(gate) = &self.hold {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        }
    }
}

#[async_trait]
impl KeyStore for CountingStore {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        // Read first, answer later: like a query whose reply is still on the wire.
        let answer = self.memory.find_by_hash(hash).await;
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        answer
    }
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.memory.get(id).await
    }
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.memory.insert(record).await
    }
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.memory.update(record).await
    }
    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        self.memory.revoke(id, at).await
    }
    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        self.memory.rotate(old, grace_until, new).await
    }
    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.memory.deactivate_owner(tenant, owner, at).await
    }
    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        self.memory.reactivate_owner(tenant, owner).await
    }
    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.memory.owner_deactivated_at(tenant, owner).await
    }
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.memory.prune_audit(before).await
    }
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        self.memory.list(filter, page).await
    }
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        // Read first, answer later, as find_by_hash does.
        let answer = self.memory.get_role(tenant, env, name).await;
        self.role_gets.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        answer
    }
    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        self.memory.put_role(role).await
    }
    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.memory.delete_role(namespace, name).await
    }
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        self.memory.list_roles().await
    }
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.memory.record_usage(usage).await
    }
    async fn settle_credits(
        &self,
        spends: &[keygate::credits::CreditSpend],
    ) -> Result<Vec<Option<keygate::credits::CreditBalance>>, StoreError> {
        self.memory.settle_credits(spends).await
    }
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
        self.memory.shared_limits(tenant, env, owner).await
    }
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &keygate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        self.memory
            .put_shared_limits(tenant, env, owner, limits)
            .await
    }
    async fn record_verifications(
        &self,
        counts: &[keygate::analytics::VerificationCount],
    ) -> Result<(), StoreError> {
        self.memory.record_verifications(counts).await
    }
    async fn verification_counts(
        &self,
        filter: &keygate::analytics::VerificationFilter,
    ) -> Result<Vec<keygate::analytics::VerificationCount>, StoreError> {
        self.memory.verification_counts(filter).await
    }
    async fn prune_verifications(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.memory.prune_verifications(before).await
    }
    async fn record_scope_use(
        &self,
        uses: &[keygate::analytics::ScopeUse],
    ) -> Result<(), StoreError> {
        self.memory.record_scope_use(uses).await
    }
    async fn scope_use(
        &self,
        key: &KeyId,
    ) -> Result<Vec<keygate::analytics::ScopeUse>, StoreError> {
        self.memory.scope_use(key).await
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.memory.append_audit(event).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        self.memory.list_audit(filter, page).await
    }
}

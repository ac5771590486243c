//! [`connect_any`]: picks the backend from the URL scheme.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::audit::{AuditEvent, AuditFilter};
use keygate::hash::KeyHash;
use keygate::role::{Role, RoleNamespace};
use keygate::store::{KeyFilter, Page, PageRequest};
use keygate::{KeyId, KeyRecord, KeyStore, StoreError};
use keygate_moka::InvalidationSource;

use crate::error::Error;
#[cfg(feature = "postgres")]
use crate::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::SqliteStore;

/// A store chosen at run time from a URL (see [`connect_any`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// `sqlite:…`
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// `postgres://…` or `postgresql://…`
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Calls `$body` with `$store` bound to whichever backend `$self` holds.
macro_rules! each {
    ($self:expr, $store:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($store) => $body,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($store) => $body,
        }
    };
}

/// Opens (creating and migrating as needed) the store at `url`: `sqlite:…` gives a
/// [`SqliteStore`](crate::SqliteStore), `postgres://…` a
/// [`PostgresStore`](crate::PostgresStore).
///
/// ```
/// use keygate::KeyStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = keygate_sqlx::connect_any("sqlite::memory:").await?;
/// assert!(store.list_roles().await?.is_empty());
/// assert!(keygate_sqlx::connect_any("mysql://localhost/keys").await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub async fn connect_any(url: &str) -> Result<AnyStore, Error> {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        return Ok(AnyStore::Sqlite(SqliteStore::connect(url).await?));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(AnyStore::Postgres(PostgresStore::connect(url).await?));
    }
    Err(Error::unsupported(url))
}

impl AnyStore {
    /// The backend's change feed (a polled change table, or `LISTEN`), for
    /// [`CachedStore::follow`](keygate_moka::CachedStore::follow).
    pub fn invalidations(&self) -> Box<dyn InvalidationSource> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(store) => Box::new(store.changes()),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => Box::new(store.invalidations()),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
        }
    }
}

#[async_trait]
impl KeyStore for AnyStore {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        each!(self, s => s.find_by_hash(hash).await)
    }
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        each!(self, s => s.get(id).await)
    }
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        each!(self, s => s.insert(record).await)
    }
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        each!(self, s => s.update(record).await)
    }
    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        each!(self, s => s.revoke(id, at).await)
    }
    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        each!(self, s => s.rotate(old, grace_until, new).await)
    }
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        each!(self, s => s.list(filter, page).await)
    }
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        each!(self, s => s.get_role(tenant, env, name).await)
    }
    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.delete_role(namespace, name).await)
    }
    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        each!(self, s => s.put_role(role).await)
    }
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        each!(self, s => s.list_roles().await)
    }
    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.deactivate_owner(tenant, owner, at).await)
    }
    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        each!(self, s => s.reactivate_owner(tenant, owner).await)
    }
    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        each!(self, s => s.owner_deactivated_at(tenant, owner).await)
    }
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        each!(self, s => s.record_usage(usage).await)
    }
    async fn settle_credits(
        &self,
        spends: &[keygate::credits::CreditSpend],
    ) -> Result<Vec<Option<keygate::credits::CreditBalance>>, StoreError> {
        each!(self, s => s.settle_credits(spends).await)
    }
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
        each!(self, s => s.shared_limits(tenant, env, owner).await)
    }
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &keygate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        each!(self, s => s.put_shared_limits(tenant, env, owner, limits).await)
    }
    async fn record_verifications(
        &self,
        counts: &[keygate::analytics::VerificationCount],
    ) -> Result<(), StoreError> {
        each!(self, s => s.record_verifications(counts).await)
    }
    async fn verification_counts(
        &self,
        filter: &keygate::analytics::VerificationFilter,
    ) -> Result<Vec<keygate::analytics::VerificationCount>, StoreError> {
        each!(self, s => s.verification_counts(filter).await)
    }
    async fn prune_verifications(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        each!(self, s => s.prune_verifications(before).await)
    }
    async fn record_scope_use(
        &self,
        uses: &[keygate::analytics::ScopeUse],
    ) -> Result<(), StoreError> {
        each!(self, s => s.record_scope_use(uses).await)
    }
    async fn scope_use(
        &self,
        key: &KeyId,
    ) -> Result<Vec<keygate::analytics::ScopeUse>, StoreError> {
        each!(self, s => s.scope_use(key).await)
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        each!(self, s => s.append_audit(event).await)
    }
    async fn write(
        &self,
        change: keygate::store::Write<'_>,
        event: &AuditEvent,
    ) -> Result<keygate::store::Written, StoreError> {
        each!(self, s => s.write(change, event).await)
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        each!(self, s => s.list_audit(filter, page).await)
    }
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        each!(self, s => s.prune_audit(before).await)
    }
}

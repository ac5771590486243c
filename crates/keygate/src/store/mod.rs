//! Where keys live: the [`KeyStore`] trait and the in-memory store.

mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryStore;

use crate::audit::{AuditEvent, AuditFilter};
use crate::hash::KeyHash;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::role::Role;

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached or failed: the verifier answers 503.
    #[error("key store unavailable")]
    Unavailable(#[source] BoxError),
    /// A key with this id or hash already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// No such key.
    #[error("not found")]
    NotFound,
    /// The page cursor was not made by this store.
    #[error("invalid page cursor")]
    InvalidCursor,
    /// Stored data could not be read back (a bug or a hand-edited row).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps any backend error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }
}

/// A page request: at most `limit` items after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page (stores cap it at 1000).
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    /// The limit, capped to 1..=1000.
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, 1000) as usize
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(50)
    }
}

/// One page of results; `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass this back for the next page.
    pub next_cursor: Option<String>,
}

/// Which keys to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter {
    /// Only this tenant's keys (always required: listings never cross tenants).
    pub tenant: String,
    /// Only this owner's keys.
    pub owner: Option<String>,
    /// Include revoked keys.
    pub include_revoked: bool,
}

impl KeyFilter {
    /// Every non-revoked key of `tenant`.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            owner: None,
            include_revoked: false,
        }
    }

    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &KeyRecord) -> bool {
        record.tenant == self.tenant
            && self
                .owner
                .as_ref()
                .is_none_or(|o| record.owner.as_ref() == Some(o))
            && (self.include_revoked || record.revoked_at.is_none())
    }
}

/// Storage for keys, roles, usage and audit events.
///
/// Every implementation must pass the conformance suite in
/// `keygate::testing::conformance` (feature `testing`). Timestamps must round-trip
/// with at least microsecond precision; listings are ordered by `(created_at, id)`.
///
/// ```
/// use keygate::{KeyHasher, KeyRecord, KeyStore, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let hash = KeyHasher::Sha256.hash("sk_live_x");
/// store.insert(&KeyRecord::new(hash, "hint", "sk", "live", "ci", "acme")).await?;
/// assert!(store.find_by_hash(&hash).await?.is_some());
/// # Ok::<(), keygate::StoreError>(()) }).unwrap();
/// ```
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The key with this hash (the hot path).
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError>;
    /// The key with this id.
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// Adds a key; [`StoreError::Conflict`] if its id or hash exists.
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Replaces a key by id (its hash never changes); [`StoreError::NotFound`] if absent.
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Keys matching `filter`, ordered by `(created_at, id)`, paged.
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError>;
    /// A role by name.
    async fn get_role(&self, name: &str) -> Result<Option<Role>, StoreError>;
    /// Creates or replaces a role.
    async fn put_role(&self, role: &Role) -> Result<(), StoreError>;
    /// Every role, by name.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    /// Records last-used times in one batch; a time never moves a key's
    /// `last_used_at` backwards; unknown ids are ignored.
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError>;
    /// Appends an audit event.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Audit events matching `filter`, oldest first, paged.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError>;
}

#[async_trait]
impl<S: KeyStore + ?Sized> KeyStore for Arc<S> {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        (**self).find_by_hash(hash).await
    }
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        (**self).get(id).await
    }
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        (**self).insert(record).await
    }
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        (**self).update(record).await
    }
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        (**self).list(filter, page).await
    }
    async fn get_role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        (**self).get_role(name).await
    }
    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        (**self).put_role(role).await
    }
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        (**self).list_roles().await
    }
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        (**self).record_usage(usage).await
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        (**self).append_audit(event).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        (**self).list_audit(filter, page).await
    }
}

/// Encodes a `(created_at, id)` position as an opaque cursor.
pub fn encode_cursor(at: DateTime<Utc>, id: &str) -> String {
    format!("{}.{id}", at.timestamp_micros())
}

/// Decodes a cursor made by [`encode_cursor`]; `None` if it is not one.
pub fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = cursor.split_once('.')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.to_owned()))
}

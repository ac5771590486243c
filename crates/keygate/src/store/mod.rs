//! Where keys live: the [`KeyStore`] trait and the in-memory store.

mod memory;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryStore;
pub use write::{write_then_append, Write, Written};

use crate::analytics::{ScopeUse, VerificationCount, VerificationFilter};
use crate::audit::{AuditEvent, AuditFilter};
use crate::hash::KeyHash;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::role::{Role, RoleNamespace};

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
    /// A conditional write lost a race: the key changed (another update, a rotation or a
    /// revocation) since the version the caller read. Nothing was written; read again.
    #[error("the key changed since it was read")]
    VersionConflict,
    /// The key is revoked: its settings can no longer change, and it cannot be rotated.
    #[error("the key is revoked")]
    Revoked,
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
///
/// ```
/// use keygate::store::KeyFilter;
/// let acme_live = KeyFilter::tenant("acme").env("live").role("viewer");
/// assert_eq!(acme_live.tenant.as_deref(), Some("acme"));
/// let everywhere = KeyFilter::all(); // every tenant: for the system actor only
/// assert!(everywhere.tenant.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyFilter {
    /// Only this tenant's keys; `None`: every tenant. The
    /// [`KeyManager`](crate::KeyManager) confines a key actor to its own tenant: only
    /// the system actor lists across tenants.
    pub tenant: Option<String>,
    /// Only this environment's keys.
    pub env: Option<String>,
    /// Only this owner's keys.
    pub owner: Option<String>,
    /// Only keys holding the role of this name (in whatever namespace it resolves).
    pub role: Option<String>,
    /// Include revoked keys.
    pub include_revoked: bool,
}

impl KeyFilter {
    /// Every non-revoked key of `tenant`.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self {
            tenant: Some(tenant.into()),
            ..Self::all()
        }
    }

    /// Every non-revoked key of every tenant.
    pub fn all() -> Self {
        Self {
            tenant: None,
            env: None,
            owner: None,
            role: None,
            include_revoked: false,
        }
    }

    /// Only keys of `env`.
    #[must_use]
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Only keys of `owner`.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Only keys holding the role named `role`.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Revoked keys too.
    #[must_use]
    pub fn include_revoked(mut self, include: bool) -> Self {
        self.include_revoked = include;
        self
    }

    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &KeyRecord) -> bool {
        self.tenant.as_ref().is_none_or(|t| record.tenant == *t)
            && self.env.as_ref().is_none_or(|e| record.env == *e)
            && self
                .owner
                .as_ref()
                .is_none_or(|o| record.owner.as_ref() == Some(o))
            && self
                .role
                .as_ref()
                .is_none_or(|r| record.role.as_ref() == Some(r))
            && (self.include_revoked || record.revoked_at.is_none())
    }
}

/// Storage for keys, roles, owners, usage and audit events.
///
/// Every implementation must pass the conformance suite in
/// `keygate::testing::conformance` (feature `testing`). Timestamps must round-trip
/// with at least microsecond precision; listings are ordered by `(created_at, id)`.
///
/// # The write invariants
/// Management correctness rests on the store, not on its callers being careful:
/// - **Versions.** Every key has a [`KeyRecord::version`]. [`update`](KeyStore::update)
///   writes only if the stored version is still the one the caller read, and bumps it;
///   [`revoke`](KeyStore::revoke) and [`rotate`](KeyStore::rotate) bump it too. A write
///   that lost a race fails with [`StoreError::VersionConflict`] instead of overwriting.
/// - **Revocation is monotonic.** Only [`revoke`](KeyStore::revoke) sets `revoked_at`,
///   the first time wins, and no write path clears it.
/// - **At most one successor.** [`rotate`](KeyStore::rotate) marks the old key and
///   inserts the new one in one atomic step, only if the old key is neither revoked nor
///   already rotated.
/// - **Owner deactivation is a state**, read with every key: a personal key's
///   [`KeyRecord::owner_deactivated_at`] is filled in from it on every read.
/// - **Calls end in bounded time.** The verifier waits for the store on a request's
///   behalf and sets no time limit of its own: a store over a network bounds each call
///   and fails with [`StoreError::Unavailable`] past it (keygate-sqlx's stores have a
///   `query_timeout`, 5 s by default), so requests get 503 rather than hang.
///
/// ```
/// use keygate::{KeyRecord, KeyStore, MemoryStore};
/// use keygate::hash::KeyHasher;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let hash = KeyHasher::Sha256.hash("sk_live_x");
/// let record = KeyRecord::new(hash, "hint", "sk", "live", "ci", "acme");
/// store.insert(&record).await?;
/// assert!(store.find_by_hash(&hash).await?.is_some());
///
/// let revoked = store.revoke(&record.id, chrono::Utc::now()).await?;
/// assert!(revoked.revoked_at.is_some());
/// // An update made from the record read before the revoke loses:
/// assert!(store.update(&record).await.is_err());
/// # Ok::<(), keygate::StoreError>(()) }).unwrap();
/// ```
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The key with this hash (the hot path): a shared record, so a cache can hand out
    /// the same one to every request.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError>;
    /// [`find_by_hash`](KeyStore::find_by_hash) answered without waiting, when the store
    /// can: `Some(answer)` from memory (a fresh cache entry, an in-memory map), `None`
    /// when finding out takes I/O. The verifier tries it first and skips the whole
    /// async path on a hit. The default knows nothing without I/O.
    ///
    /// It must never give an answer `find_by_hash` would not give at the same moment
    /// (a cache answers only from entries it would also serve there).
    ///
    /// ```
    /// use keygate::{KeyRecord, KeyStore, MemoryStore};
    /// use keygate::hash::KeyHasher;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let hash = KeyHasher::Sha256.hash("sk_live_x");
    /// assert!(matches!(store.find_by_hash_now(&hash), Some(None)));
    /// store.insert(&KeyRecord::new(hash, "hint", "sk", "live", "ci", "acme")).await?;
    /// assert!(matches!(store.find_by_hash_now(&hash), Some(Some(_))));
    /// # Ok::<(), keygate::StoreError>(()) }).unwrap();
    /// ```
    fn find_by_hash_now(&self, hash: &KeyHash) -> Option<Option<Arc<KeyRecord>>> {
        let _ = hash;
        None
    }
    /// The key with this id.
    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// Adds a key, every field as given; [`StoreError::Conflict`] if its id or hash
    /// exists.
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Writes a key's settings (name, description, role, scopes, expiry, IP and
    /// referrer rules, rate limits, credits, metadata) if the stored
    /// [`version`](KeyRecord::version) is still `record.version`; the stored version
    /// becomes `record.version + 1`. Never writes the id, hash, prefix, environment,
    /// tenant, owner, kind, creation, revocation, rotation or last-used fields.
    /// Credits of the stored epoch keep their stored balance (what was settled since
    /// the record was read stays spent); credits of another epoch, or none, replace
    /// the stored ones.
    ///
    /// Errors: [`StoreError::NotFound`] if absent, [`StoreError::Revoked`] if revoked,
    /// [`StoreError::VersionConflict`] if the version moved on.
    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Revokes a key at `at`, unless it is revoked already (the first time stays), and
    /// bumps its version. Returns the record as stored afterwards;
    /// [`StoreError::NotFound`] if absent.
    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError>;
    /// Atomically marks `old` (at version `old.version`) as replaced by `new` until
    /// `grace_until`, bumping its version, and inserts `new`: both or neither.
    ///
    /// Errors: [`StoreError::NotFound`], [`StoreError::Revoked`],
    /// [`StoreError::VersionConflict`] if `old` changed or was already rotated, and
    /// [`StoreError::Conflict`] if `new`'s id or hash exists.
    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError>;
    /// Keys matching `filter`, ordered by `(created_at, id)`, paged.
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError>;
    /// The role `name` as a key of `tenant` and `env` holds it: the role of that
    /// namespace if it exists, else the global one (one query, not two). With an
    /// empty `tenant` and `env`, the global role only.
    ///
    /// This is the one resolution rule of roles: the verifier and the manager both ask
    /// it, with the key's tenant and environment.
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError>;
    /// Creates or replaces a role, keyed by its namespace and name. A store with a
    /// change feed announces the role's name (keys holding a role of that name, in any
    /// namespace, are dropped from caches).
    async fn put_role(&self, role: &Role) -> Result<(), StoreError>;
    /// Deletes the role `name` of `namespace` (`None`: the global one); whether it
    /// existed. Announced as [`put_role`](KeyStore::put_role) is. Keys holding it keep
    /// its name: they resolve to the global role of that name if there is one (for a
    /// namespaced role), else hold only their own scopes.
    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Every role of every namespace, ordered by name, then tenant and environment
    /// (the global one first).
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    /// Marks `owner` of `tenant` deactivated at `at` (idempotent: the first time stays).
    /// From then on every read of that owner's personal keys carries
    /// [`KeyRecord::owner_deactivated_at`]. A store with a change feed announces each
    /// of those keys (as for a write to it), so caches drop them; the same for
    /// [`reactivate_owner`](KeyStore::reactivate_owner).
    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Clears an owner's deactivation (keys revoked meanwhile stay revoked).
    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError>;
    /// When `owner` of `tenant` was deactivated, if it is.
    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records last-used times in one batch; a time never moves a key's
    /// `last_used_at` backwards; unknown ids are ignored.
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError>;
    /// Takes what instances spent from credit balances off the stored balances, in one
    /// batch (see [`crate::credits`]). For each spend, the keys whose credits are of
    /// its `account` and `epoch` get [`CreditSpend::settle`] applied (a balance of an
    /// earlier refill interval is refilled first, never below zero); then keys of that
    /// account still at an older epoch (a key made by a metered key, whose maker's
    /// balance was set anew) get the same balance, epoch and refill. Answers each
    /// spend's balance afterwards, `None` when no key holds that account and epoch
    /// (the balance was set anew since, or the keys are gone). Bumps no version and
    /// announces no change: spends are not settings.
    ///
    /// [`CreditSpend::settle`]: crate::credits::CreditSpend::settle
    async fn settle_credits(
        &self,
        spends: &[crate::credits::CreditSpend],
    ) -> Result<Vec<Option<crate::credits::CreditBalance>>, StoreError>;
    /// The limits an operator set for every key of `tenant` in `env` (`owner: None`)
    /// or for every key of one owner there: each is one counter those keys share,
    /// beside their own limits. Empty when none are set.
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<crate::rate_limit::NamedLimits, StoreError>;
    /// Sets them, replacing what was set (empty: none). Keys of that tenant resolve
    /// them again at their next verification (the store announces the change).
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &crate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError>;
    /// Adds verification counts in one batch: each row's count is added to the stored
    /// row of the same key, minute (`at`, truncated to the minute) and outcome.
    async fn record_verifications(&self, counts: &[VerificationCount]) -> Result<(), StoreError>;
    /// The stored minute rows `filter` admits, oldest first.
    async fn verification_counts(
        &self,
        filter: &VerificationFilter,
    ) -> Result<Vec<VerificationCount>, StoreError>;
    /// Deletes verification counts of minutes before `before`; returns how many rows.
    async fn prune_verifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records scopes keys exercised, in one batch: a stored (key, scope) keeps its
    /// earliest first use and its latest last use.
    async fn record_scope_use(&self, uses: &[ScopeUse]) -> Result<(), StoreError>;
    /// The scopes `key` exercised, by scope.
    async fn scope_use(&self, key: &KeyId) -> Result<Vec<ScopeUse>, StoreError>;
    /// Appends an audit event.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Makes `change` and appends `event`, the audit event that records it: both or
    /// neither where the store can make them one transaction (the SQL stores do, so
    /// a crash never leaves a committed change without its event); if the change
    /// fails, the event is not written. The default makes the change, then appends
    /// ([`write_then_append`]). The manager writes every key and role change this way.
    async fn write(&self, change: Write<'_>, event: &AuditEvent) -> Result<Written, StoreError> {
        write_then_append(self, change, event).await
    }
    /// Audit events matching `filter`, oldest first, paged.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError>;
    /// Deletes audit events older than `before`; returns how many.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[async_trait]
impl<S: KeyStore + ?Sized> KeyStore for Arc<S> {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        (**self).find_by_hash(hash).await
    }
    fn find_by_hash_now(&self, hash: &KeyHash) -> Option<Option<Arc<KeyRecord>>> {
        (**self).find_by_hash_now(hash)
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
    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        (**self).revoke(id, at).await
    }
    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        (**self).rotate(old, grace_until, new).await
    }
    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        (**self).list(filter, page).await
    }
    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        (**self).get_role(tenant, env, name).await
    }
    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        (**self).put_role(role).await
    }
    async fn write(&self, change: Write<'_>, event: &AuditEvent) -> Result<Written, StoreError> {
        (**self).write(change, event).await
    }
    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        (**self).delete_role(namespace, name).await
    }
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        (**self).list_roles().await
    }
    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        (**self).deactivate_owner(tenant, owner, at).await
    }
    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        (**self).reactivate_owner(tenant, owner).await
    }
    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        (**self).owner_deactivated_at(tenant, owner).await
    }
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        (**self).record_usage(usage).await
    }
    async fn settle_credits(
        &self,
        spends: &[crate::credits::CreditSpend],
    ) -> Result<Vec<Option<crate::credits::CreditBalance>>, StoreError> {
        (**self).settle_credits(spends).await
    }
    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<crate::rate_limit::NamedLimits, StoreError> {
        (**self).shared_limits(tenant, env, owner).await
    }
    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &crate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        (**self).put_shared_limits(tenant, env, owner, limits).await
    }
    async fn record_verifications(&self, counts: &[VerificationCount]) -> Result<(), StoreError> {
        (**self).record_verifications(counts).await
    }
    async fn verification_counts(
        &self,
        filter: &VerificationFilter,
    ) -> Result<Vec<VerificationCount>, StoreError> {
        (**self).verification_counts(filter).await
    }
    async fn prune_verifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).prune_verifications(before).await
    }
    async fn record_scope_use(&self, uses: &[ScopeUse]) -> Result<(), StoreError> {
        (**self).record_scope_use(uses).await
    }
    async fn scope_use(&self, key: &KeyId) -> Result<Vec<ScopeUse>, StoreError> {
        (**self).scope_use(key).await
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
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).prune_audit(before).await
    }
}

/// Encodes a `(created_at, id)` position as an opaque cursor.
pub fn encode_cursor(at: DateTime<Utc>, id: &str) -> String {
    format!("{}.{id}", at.timestamp_micros())
}

/// Decodes a cursor made by [`encode_cursor`]; `None` if it is not one. A cursor is
/// `-?[0-9]{1,18}` (microseconds) `.` and an id of 1 to 128 of `[A-Za-z0-9_-]`, the
/// pattern the admin API's OpenAPI document gives.
///
/// ```
/// use keygate::store::{decode_cursor, encode_cursor};
/// let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid timestamp");
/// assert_eq!(decode_cursor(&encode_cursor(at, "key_abc")), Some((at, "key_abc".to_owned())));
/// assert_eq!(decode_cursor("+1.key_abc"), None);
/// assert_eq!(decode_cursor("1.key abc"), None);
/// ```
pub fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = cursor.split_once('.')?;
    let digits = micros.strip_prefix('-').unwrap_or(micros);
    let micros_ok = (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let id_ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !micros_ok || !id_ok {
        return None;
    }
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.to_owned()))
}

//! The SQL both stores share, written once.
//!
//! A [`Dialect`] is all that differs between SQLite and PostgreSQL:
//! - how a statement's placeholders are spelled (`?` or `$1`): [`Sql::bind`] writes
//!   the right one, so statements are built once, here;
//! - how a timestamp is stored (integer microseconds or `timestamptz`): values travel
//!   as [`Value`]s and rows are read through [`Columns`], each backend converting;
//! - how a change is announced, inside the writing transaction (a row in the change
//!   table, or `pg_notify`): [`Dialect::announce`];
//! - the one-statement batch of last-used times: [`Dialect::record_usage`].
//!
//! Every statement and every invariant of the [`KeyStore`](keygate::KeyStore) contract
//! (conditional updates, monotonic revocation, the single successor, owners read with
//! every key) lives in [`core`], and [`key_store!`] makes it each backend's
//! `KeyStore`: an invariant cannot be fixed in one store and missed in the other.

pub(crate) mod core;

use std::fmt::Write;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::hash::KeyHash;
use keygate::{KeyId, StoreError};

/// A bound parameter, in a form both backends can encode.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(Option<String>),
    Bytes(Vec<u8>),
    Int(Option<i64>),
    /// Microseconds in SQLite, `timestamptz` in PostgreSQL.
    Time(Option<DateTime<Utc>>),
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Value {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Self::Time(v)
    }
}

/// A statement and its parameters, placeholders spelled for one dialect.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Value>,
    numbered: bool,
}

impl Sql {
    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder (`?` or `$n`) bound to `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        if self.numbered {
            let _ = write!(self.text, "${}", self.args.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends `p1, p2, …` bound to `values`.
    pub(crate) fn bind_list(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self
    }
}

/// A result row, read column by column (timestamps converted by the backend).
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// What a write changed, for other instances' caches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// The key with this hash (inserted, updated, revoked, rotated).
    Key(KeyHash),
    /// The role with this name (in any namespace).
    Role(&'a str),
    /// Every personal key of this owner (deactivated or reactivated).
    Owner { tenant: &'a str, owner: &'a str },
    /// Anything (shared limits changed: every key of a tenant resolves them again).
    Everything,
}

impl Change<'_> {
    /// The change as one payload (an `Invalidation`'s text form). Dialects expand an
    /// owner's change to one payload per personal key in SQL; as a single payload it
    /// can only say "everything".
    pub(crate) fn payload(&self) -> String {
        use keygate_moka::Invalidation;
        match self {
            Self::Key(hash) => Invalidation::Key(*hash).to_string(),
            Self::Role(name) => Invalidation::Role((*name).to_owned()).to_string(),
            Self::Owner { .. } | Self::Everything => Invalidation::All.to_string(),
        }
    }
}

/// One SQL backend: how to run a [`Sql`] on it, and what is its own.
#[async_trait]
pub(crate) trait Dialect: Send + Sync + 'static {
    type Row: Columns + Send;
    /// A transaction; dropping it without [`Dialect::commit`] rolls it back.
    type Tx: Send;
    /// `$1, $2, …` (PostgreSQL) rather than `?` (SQLite).
    const NUMBERED: bool;

    /// A statement starting with `text`.
    fn sql(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
            numbered: Self::NUMBERED,
        }
    }

    async fn fetch_optional(&self, sql: Sql) -> Result<Option<Self::Row>, StoreError>;
    async fn fetch_all(&self, sql: Sql) -> Result<Vec<Self::Row>, StoreError>;
    /// Runs `sql` outside a transaction; returns the rows affected.
    async fn execute(&self, sql: Sql) -> Result<u64, StoreError>;

    async fn begin(&self) -> Result<Self::Tx, StoreError>;
    async fn tx_fetch_optional(
        tx: &mut Self::Tx,
        sql: Sql,
    ) -> Result<Option<Self::Row>, StoreError>;
    async fn tx_execute(tx: &mut Self::Tx, sql: Sql) -> Result<u64, StoreError>;
    async fn commit(tx: Self::Tx) -> Result<(), StoreError>;

    /// Announces `change` to other instances, delivered only if `tx` commits.
    async fn announce(&self, tx: &mut Self::Tx, change: Change<'_>) -> Result<(), StoreError>;

    /// Records last-used times in one statement (see `KeyStore::record_usage`).
    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError>;

    /// How long one store call may take (`None`: no limit).
    fn query_timeout(&self) -> Option<Duration>;
}

/// Runs one store call within `limit`: past it the call is dropped (a transaction in
/// it rolls back, unless its commit had already been sent) and the answer is
/// `StoreError::Unavailable`.
pub(crate) async fn bounded<T>(
    limit: Option<Duration>,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match limit {
        None => call.await,
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(timeout = ?limit, "keygate: a store call timed out");
                Err(StoreError::unavailable(crate::error::QueryTimedOut(limit)))
            }
        },
    }
}

/// Implements [`KeyStore`](keygate::KeyStore) for a [`Dialect`] with [`core`].
macro_rules! key_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl keygate::KeyStore for $store {
            async fn find_by_hash(
                &self,
                hash: &keygate::hash::KeyHash,
            ) -> Result<Option<std::sync::Arc<keygate::KeyRecord>>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::find_by_hash(self, hash),
                )
                .await
            }
            async fn get(
                &self,
                id: &keygate::KeyId,
            ) -> Result<Option<keygate::KeyRecord>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::get(self, id),
                )
                .await
            }
            async fn insert(&self, record: &keygate::KeyRecord) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::insert(self, record, None),
                )
                .await
            }
            async fn update(&self, record: &keygate::KeyRecord) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::update(self, record, None),
                )
                .await
            }
            async fn revoke(
                &self,
                id: &keygate::KeyId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<keygate::KeyRecord, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::revoke(self, id, at, None),
                )
                .await
            }
            async fn rotate(
                &self,
                old: &keygate::KeyRecord,
                grace_until: chrono::DateTime<chrono::Utc>,
                new: &keygate::KeyRecord,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::rotate(self, old, grace_until, new, None),
                )
                .await
            }
            async fn list(
                &self,
                filter: &keygate::store::KeyFilter,
                page: &keygate::store::PageRequest,
            ) -> Result<keygate::store::Page<keygate::KeyRecord>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::list(self, filter, page),
                )
                .await
            }
            async fn get_role(
                &self,
                tenant: &str,
                env: &str,
                name: &str,
            ) -> Result<Option<keygate::role::Role>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::get_role(self, tenant, env, name),
                )
                .await
            }
            async fn delete_role(
                &self,
                namespace: Option<&keygate::role::RoleNamespace>,
                name: &str,
            ) -> Result<bool, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::delete_role(self, namespace, name, None),
                )
                .await
            }
            async fn put_role(
                &self,
                role: &keygate::role::Role,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::put_role(self, role, None),
                )
                .await
            }
            async fn list_roles(&self) -> Result<Vec<keygate::role::Role>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::list_roles(self),
                )
                .await
            }
            async fn deactivate_owner(
                &self,
                tenant: &str,
                owner: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::deactivate_owner(self, tenant, owner, at),
                )
                .await
            }
            async fn reactivate_owner(
                &self,
                tenant: &str,
                owner: &str,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::reactivate_owner(self, tenant, owner),
                )
                .await
            }
            async fn owner_deactivated_at(
                &self,
                tenant: &str,
                owner: &str,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::owner_deactivated_at(self, tenant, owner),
                )
                .await
            }
            async fn record_usage(
                &self,
                usage: &[(keygate::KeyId, chrono::DateTime<chrono::Utc>)],
            ) -> Result<(), keygate::StoreError> {
                if usage.is_empty() {
                    return Ok(());
                }
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::Dialect::record_usage(self, usage),
                )
                .await
            }
            async fn settle_credits(
                &self,
                spends: &[keygate::credits::CreditSpend],
            ) -> Result<Vec<Option<keygate::credits::CreditBalance>>, keygate::StoreError> {
                if spends.is_empty() {
                    return Ok(Vec::new());
                }
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::settle_credits(self, spends),
                )
                .await
            }
            async fn shared_limits(
                &self,
                tenant: &str,
                env: &str,
                owner: Option<&str>,
            ) -> Result<keygate::rate_limit::NamedLimits, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::shared_limits(self, tenant, env, owner),
                )
                .await
            }
            async fn put_shared_limits(
                &self,
                tenant: &str,
                env: &str,
                owner: Option<&str>,
                limits: &keygate::rate_limit::NamedLimits,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::put_shared_limits(self, tenant, env, owner, limits, None),
                )
                .await
            }
            async fn record_verifications(
                &self,
                counts: &[keygate::analytics::VerificationCount],
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::record_verifications(self, counts),
                )
                .await
            }
            async fn verification_counts(
                &self,
                filter: &keygate::analytics::VerificationFilter,
            ) -> Result<Vec<keygate::analytics::VerificationCount>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::verification_counts(self, filter),
                )
                .await
            }
            async fn prune_verifications(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::prune_verifications(self, before),
                )
                .await
            }
            async fn record_scope_use(
                &self,
                uses: &[keygate::analytics::ScopeUse],
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::record_scope_use(self, uses),
                )
                .await
            }
            async fn scope_use(
                &self,
                key: &keygate::KeyId,
            ) -> Result<Vec<keygate::analytics::ScopeUse>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::scope_use(self, key),
                )
                .await
            }
            /// The change and its audit event in one transaction.
            async fn write(
                &self,
                change: keygate::store::Write<'_>,
                event: &keygate::audit::AuditEvent,
            ) -> Result<keygate::store::Written, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::write(self, change, event),
                )
                .await
            }
            async fn append_audit(
                &self,
                event: &keygate::audit::AuditEvent,
            ) -> Result<(), keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::append_audit(self, event),
                )
                .await
            }
            async fn list_audit(
                &self,
                filter: &keygate::audit::AuditFilter,
                page: &keygate::store::PageRequest,
            ) -> Result<keygate::store::Page<keygate::audit::AuditEvent>, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::list_audit(self, filter, page),
                )
                .await
            }
            async fn prune_audit(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, keygate::StoreError> {
                $crate::sql::bounded(
                    $crate::sql::Dialect::query_timeout(self),
                    $crate::sql::core::prune_audit(self, before),
                )
                .await
            }
        }
    };
}
pub(crate) use key_store;

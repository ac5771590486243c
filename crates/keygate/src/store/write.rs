//! One change to a store together with the audit event that records it.

use chrono::{DateTime, Utc};

use super::{KeyStore, StoreError};
use crate::audit::AuditEvent;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::role::{Role, RoleNamespace};

/// A change [`KeyStore::write`] makes together with its audit event: each variant is
/// one of the store's write methods, with its arguments.
///
/// ```
/// use keygate::audit::{AuditEvent, AuditFilter, Outcome};
/// use keygate::hash::KeyHasher;
/// use keygate::store::{PageRequest, Write, Written};
/// use keygate::{KeyRecord, KeyStore, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let (_, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
/// let event = AuditEvent::new("key.create", Outcome::Success).with_tenant("acme");
/// assert_eq!(store.write(Write::Insert(&record), &event).await?, Written::Done);
/// let log = store.list_audit(&AuditFilter::default(), &PageRequest::first(10)).await?;
/// assert_eq!(log.items.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// [`KeyStore::insert`].
    Insert(&'a KeyRecord),
    /// [`KeyStore::update`].
    Update(&'a KeyRecord),
    /// [`KeyStore::revoke`].
    Revoke {
        /// The key.
        id: &'a KeyId,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`KeyStore::rotate`].
    Rotate {
        /// The key rotated, at the version read.
        old: &'a KeyRecord,
        /// When the old key stops working.
        grace_until: DateTime<Utc>,
        /// Its successor.
        new: &'a KeyRecord,
    },
    /// [`KeyStore::put_role`].
    PutRole(&'a Role),
    /// [`KeyStore::put_shared_limits`].
    PutSharedLimits {
        /// The tenant.
        tenant: &'a str,
        /// The environment.
        env: &'a str,
        /// One owner's keys (`None`: every key of the tenant in `env`).
        owner: Option<&'a str>,
        /// The limits (empty: none).
        limits: &'a crate::rate_limit::NamedLimits,
    },
    /// [`KeyStore::delete_role`].
    DeleteRole {
        /// The role's namespace (`None`: global).
        namespace: Option<&'a RoleNamespace>,
        /// Its name.
        name: &'a str,
    },
}

/// What a [`Write`] returned: the write method's own result.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Insert, update, rotate and put-role return nothing.
    Done,
    /// A revoke returns the record as stored afterwards.
    Revoked(Box<KeyRecord>),
    /// A role deletion returns whether the role existed.
    RoleDeleted(bool),
}

impl Write<'_> {
    /// Makes the change through `store`'s own write method (no audit event).
    pub async fn apply<S: KeyStore + ?Sized>(self, store: &S) -> Result<Written, StoreError> {
        Ok(match self {
            Write::Insert(record) => {
                store.insert(record).await?;
                Written::Done
            }
            Write::Update(record) => {
                store.update(record).await?;
                Written::Done
            }
            Write::Revoke { id, at } => Written::Revoked(Box::new(store.revoke(id, at).await?)),
            Write::Rotate {
                old,
                grace_until,
                new,
            } => {
                store.rotate(old, grace_until, new).await?;
                Written::Done
            }
            Write::PutRole(role) => {
                store.put_role(role).await?;
                Written::Done
            }
            Write::DeleteRole { namespace, name } => {
                Written::RoleDeleted(store.delete_role(namespace, name).await?)
            }
            Write::PutSharedLimits {
                tenant,
                env,
                owner,
                limits,
            } => {
                store.put_shared_limits(tenant, env, owner, limits).await?;
                Written::Done
            }
        })
    }
}

/// What [`KeyStore::write`] does for a store that cannot make a change and its event
/// one transaction: the change, then the event (a failed append is logged, not
/// returned: the change stands).
pub async fn write_then_append<S: KeyStore + ?Sized>(
    store: &S,
    change: Write<'_>,
    event: &AuditEvent,
) -> Result<Written, StoreError> {
    let written = change.apply(store).await?;
    if written == Written::RoleDeleted(false) {
        // Nothing was deleted: nothing to record.
        return Ok(written);
    }
    if let Err(e) = store.append_audit(event).await {
        tracing::error!(error = %e, action = %event.action, "keygate: could not write audit event");
    }
    Ok(written)
}

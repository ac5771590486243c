//! Every `KeyStore` operation, once, for any [`Dialect`].
//!
//! The write invariants of `KeyStore` are held by the statements themselves, never by
//! a read followed by a write of what was read:
//! - `update` writes the settings columns only, `WHERE id AND version AND revoked_at IS
//!   NULL`: a concurrent revoke, rotation or update makes it write nothing;
//! - `revoke` is `revoked_at = COALESCE(revoked_at, at)`: the first time stays, and no
//!   statement anywhere writes `revoked_at` otherwise;
//! - `rotate` marks the old key `WHERE … AND replaced_by IS NULL` and inserts the new
//!   one in the same transaction: one successor, both or neither;
//! - a key is always read with its owner's deactivation (a `LEFT JOIN` on the owners
//!   table), so a key inserted in a race with a deactivation is refused too.
//!
//! When a conditional write matches no row, a read in the same transaction says why
//! (`NotFound`, `Revoked` or `VersionConflict`); the transaction is then dropped, which
//! rolls it back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keygate::analytics::{
    rollup, Granularity, ScopeUse, VerificationCount, VerificationFilter, VerificationOutcome,
};
use keygate::audit::{AuditEvent, AuditFilter};
use keygate::hash::KeyHash;
use keygate::role::{Role, RoleNamespace};
use keygate::store::{KeyFilter, Page, PageRequest, Write, Written};
use keygate::{KeyId, KeyRecord, StoreError};

use super::{Change, Columns, Dialect, Sql, Value};
use crate::codec::{self, version_column, RawAudit, RawKey};

/// A key's columns with its owner's deactivation (personal keys only).
const SELECT_KEY: &str = "SELECT k.id, k.hash, k.hint, k.prefix, k.env, k.name, \
    k.description, k.tenant, k.owner, k.kind, k.role, k.scopes, k.created_at, k.expires_at, \
    k.revoked_at, k.last_used_at, k.replaced_by, k.grace_until, k.allowed_ips, \
    k.allowed_referrers, k.rate_limit, k.metadata, k.created_by, k.version, k.disabled_at, \
    k.limits, k.credits_remaining, k.credits_refill, k.credits_period, k.credits_epoch, \
    k.credits_account, \
    o.deactivated_at AS owner_deactivated_at \
    FROM keygate_keys AS k LEFT JOIN keygate_owners AS o \
    ON k.kind = 'personal' AND o.tenant = k.tenant AND o.owner = k.owner";

/// Every stored column of a key, in [`key_values`] order.
const INSERT_KEY: &str = "INSERT INTO keygate_keys (id, hash, hint, prefix, env, name, \
    description, tenant, owner, kind, role, scopes, created_at, expires_at, revoked_at, \
    last_used_at, replaced_by, grace_until, allowed_ips, allowed_referrers, rate_limit, \
    metadata, created_by, version, disabled_at, limits, credits_remaining, credits_refill, \
    credits_period, credits_epoch, credits_account) VALUES (";

fn key_values(k: RawKey) -> [Value; 31] {
    [
        k.id.into(),
        k.hash.into(),
        k.hint.into(),
        k.prefix.into(),
        k.env.into(),
        k.name.into(),
        k.description.into(),
        k.tenant.into(),
        k.owner.into(),
        k.kind.into(),
        k.role.into(),
        k.scopes.into(),
        k.created_at.into(),
        k.expires_at.into(),
        k.revoked_at.into(),
        k.last_used_at.into(),
        k.replaced_by.into(),
        k.grace_until.into(),
        k.allowed_ips.into(),
        k.allowed_referrers.into(),
        k.rate_limit.into(),
        k.metadata.into(),
        k.created_by.into(),
        k.version.into(),
        k.disabled_at.into(),
        k.limits.into(),
        Value::Int(k.credits_remaining),
        k.credits_refill.into(),
        k.credits_period.into(),
        k.credits_epoch.into(),
        k.credits_account.into(),
    ]
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("{column}: unexpected NULL")))
}

fn key_from_row(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let text = |c: &str| required(row.text(c)?, c);
    RawKey {
        id: text("id")?,
        hash: row.bytes("hash")?,
        hint: text("hint")?,
        prefix: text("prefix")?,
        env: text("env")?,
        name: text("name")?,
        description: row.text("description")?,
        tenant: text("tenant")?,
        owner: row.text("owner")?,
        kind: text("kind")?,
        role: row.text("role")?,
        scopes: text("scopes")?,
        created_at: required(row.time("created_at")?, "created_at")?,
        expires_at: row.time("expires_at")?,
        revoked_at: row.time("revoked_at")?,
        last_used_at: row.time("last_used_at")?,
        replaced_by: row.text("replaced_by")?,
        grace_until: row.time("grace_until")?,
        allowed_ips: text("allowed_ips")?,
        allowed_referrers: text("allowed_referrers")?,
        rate_limit: row.text("rate_limit")?,
        metadata: text("metadata")?,
        created_by: row.text("created_by")?,
        version: required(row.int("version")?, "version")?,
        disabled_at: row.time("disabled_at")?,
        limits: text("limits")?,
        credits_remaining: row.int("credits_remaining")?,
        credits_refill: row.text("credits_refill")?,
        credits_period: required(row.int("credits_period")?, "credits_period")?,
        credits_epoch: required(row.int("credits_epoch")?, "credits_epoch")?,
        credits_account: row.text("credits_account")?,
        owner_deactivated_at: row.time("owner_deactivated_at")?,
    }
    .into_record()
}

fn hash_from_row(row: &impl Columns) -> Result<KeyHash, StoreError> {
    codec::key_hash(&row.bytes("hash")?)
}

/// The hot path: one indexed probe, plus the owners primary key for personal keys.
pub(crate) async fn find_by_hash<D: Dialect>(
    d: &D,
    hash: &KeyHash,
) -> Result<Option<Arc<KeyRecord>>, StoreError> {
    let mut sql = D::sql(SELECT_KEY);
    sql.push(" WHERE k.hash = ").bind(hash.as_bytes().to_vec());
    let row = d.fetch_optional(sql).await?;
    Ok(row.as_ref().map(key_from_row).transpose()?.map(Arc::new))
}

pub(crate) async fn get<D: Dialect>(d: &D, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
    let mut sql = D::sql(SELECT_KEY);
    sql.push(" WHERE k.id = ").bind(id.as_str());
    d.fetch_optional(sql)
        .await?
        .as_ref()
        .map(key_from_row)
        .transpose()
}

async fn get_in<D: Dialect>(tx: &mut D::Tx, id: &KeyId) -> Result<KeyRecord, StoreError> {
    let mut sql = D::sql(SELECT_KEY);
    sql.push(" WHERE k.id = ").bind(id.as_str());
    let row = D::tx_fetch_optional(tx, sql).await?;
    key_from_row(&required(row, "the key written")?)
}

async fn insert_in<D: Dialect>(tx: &mut D::Tx, record: &KeyRecord) -> Result<(), StoreError> {
    let mut sql = D::sql(INSERT_KEY);
    sql.bind_list(key_values(RawKey::from_record(record)?))
        .push(")");
    D::tx_execute(tx, sql).await?;
    Ok(())
}

/// Why a conditional write to key `id` matched no row, read in its transaction.
async fn why_not_written<D: Dialect>(tx: &mut D::Tx, id: &KeyId) -> StoreError {
    let mut sql = D::sql("SELECT revoked_at FROM keygate_keys WHERE id = ");
    sql.bind(id.as_str());
    match D::tx_fetch_optional(tx, sql).await {
        Ok(None) => StoreError::NotFound,
        Ok(Some(row)) => match row.time("revoked_at") {
            Ok(Some(_)) => StoreError::Revoked,
            Ok(None) => StoreError::VersionConflict,
            Err(err) => err,
        },
        Err(err) => err,
    }
}

pub(crate) async fn insert<D: Dialect>(
    d: &D,
    record: &KeyRecord,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    let mut tx = d.begin().await?;
    insert_in::<D>(&mut tx, record).await?;
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Key(record.hash)).await?;
    D::commit(tx).await
}

pub(crate) async fn update<D: Dialect>(
    d: &D,
    record: &KeyRecord,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    let k = RawKey::from_record(record)?;
    let next = version_column(
        record
            .version
            .checked_add(1)
            .ok_or(StoreError::VersionConflict)?,
    )?;
    let mut tx = d.begin().await?;
    let mut sql = D::sql("UPDATE keygate_keys SET name = ");
    sql.bind(k.name)
        .push(", description = ")
        .bind(k.description)
        .push(", role = ")
        .bind(k.role)
        .push(", scopes = ")
        .bind(k.scopes)
        .push(", expires_at = ")
        .bind(k.expires_at)
        .push(", allowed_ips = ")
        .bind(k.allowed_ips)
        .push(", allowed_referrers = ")
        .bind(k.allowed_referrers)
        .push(", rate_limit = ")
        .bind(k.rate_limit)
        .push(", limits = ")
        .bind(k.limits);
    // Credits of the stored account and epoch keep the stored balance (spends settled
    // since the record was read stay spent); others replace it.
    let (epoch, account) = (k.credits_epoch, k.credits_account.clone());
    let same_balance = |sql: &mut Sql| {
        sql.push(" CASE WHEN credits_remaining IS NOT NULL AND credits_epoch = ")
            .bind(epoch)
            .push(" AND credits_account = ")
            .bind(account.clone())
            .push(" THEN ");
    };
    sql.push(", credits_remaining =");
    same_balance(&mut sql);
    sql.push("credits_remaining ELSE ")
        .bind(Value::Int(k.credits_remaining))
        .push(" END, credits_period =");
    same_balance(&mut sql);
    sql.push("credits_period ELSE ")
        .bind(k.credits_period)
        .push(" END, credits_refill = ")
        .bind(k.credits_refill)
        .push(", credits_epoch = ")
        .bind(k.credits_epoch)
        .push(", credits_account = ")
        .bind(k.credits_account);
    sql.push(", metadata = ")
        .bind(k.metadata)
        .push(", disabled_at = ")
        .bind(k.disabled_at)
        .push(", version = ")
        .bind(next)
        .push(" WHERE id = ")
        .bind(k.id)
        .push(" AND version = ")
        .bind(k.version)
        .push(" AND revoked_at IS NULL RETURNING hash");
    let Some(row) = D::tx_fetch_optional(&mut tx, sql).await? else {
        return Err(why_not_written::<D>(&mut tx, &record.id).await);
    };
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Key(hash_from_row(&row)?))
        .await?;
    D::commit(tx).await
}

pub(crate) async fn revoke<D: Dialect>(
    d: &D,
    id: &KeyId,
    at: DateTime<Utc>,
    audit: Option<&AuditEvent>,
) -> Result<KeyRecord, StoreError> {
    let mut tx = d.begin().await?;
    let mut sql = D::sql("UPDATE keygate_keys SET revoked_at = COALESCE(revoked_at, ");
    sql.bind(at)
        .push("), version = version + 1 WHERE id = ")
        .bind(id.as_str())
        .push(" RETURNING hash");
    let row = D::tx_fetch_optional(&mut tx, sql)
        .await?
        .ok_or(StoreError::NotFound)?;
    let record = get_in::<D>(&mut tx, id).await?;
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Key(hash_from_row(&row)?))
        .await?;
    D::commit(tx).await?;
    Ok(record)
}

pub(crate) async fn rotate<D: Dialect>(
    d: &D,
    old: &KeyRecord,
    grace_until: DateTime<Utc>,
    new: &KeyRecord,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    let mut tx = d.begin().await?;
    let mut sql = D::sql("UPDATE keygate_keys SET replaced_by = ");
    sql.bind(new.id.to_string())
        .push(", grace_until = ")
        .bind(grace_until)
        .push(", version = version + 1 WHERE id = ")
        .bind(old.id.as_str())
        .push(" AND version = ")
        .bind(version_column(old.version)?)
        .push(" AND revoked_at IS NULL AND replaced_by IS NULL RETURNING hash");
    let Some(row) = D::tx_fetch_optional(&mut tx, sql).await? else {
        return Err(why_not_written::<D>(&mut tx, &old.id).await);
    };
    // A conflicting successor (id or hash) fails here; dropping `tx` undoes the mark.
    insert_in::<D>(&mut tx, new).await?;
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Key(hash_from_row(&row)?))
        .await?;
    d.announce(&mut tx, Change::Key(new.hash)).await?;
    D::commit(tx).await
}

pub(crate) async fn list<D: Dialect>(
    d: &D,
    filter: &KeyFilter,
    page: &PageRequest,
) -> Result<Page<KeyRecord>, StoreError> {
    let after = codec::cursor(page)?;
    let limit = page.capped_limit();
    let mut sql = D::sql(SELECT_KEY);
    sql.push(" WHERE 1 = 1");
    if let Some(tenant) = &filter.tenant {
        sql.push(" AND k.tenant = ").bind(tenant.as_str());
    }
    if let Some(role) = &filter.role {
        sql.push(" AND k.role = ").bind(role.as_str());
    }
    if let Some(env) = &filter.env {
        sql.push(" AND k.env = ").bind(env.as_str());
    }
    if let Some(owner) = &filter.owner {
        sql.push(" AND k.owner = ").bind(owner.as_str());
    }
    if !filter.include_revoked {
        sql.push(" AND k.revoked_at IS NULL");
    }
    if let Some((at, id)) = after {
        sql.push(" AND (k.created_at, k.id) > (")
            .bind(at)
            .push(", ")
            .bind(id)
            .push(")");
    }
    sql.push(" ORDER BY k.created_at, k.id LIMIT ")
        .bind(limit as i64 + 1);
    let items = d
        .fetch_all(sql)
        .await?
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(codec::page_of(items, limit, |r| {
        (r.created_at, r.id.to_string())
    }))
}

const SELECT_ROLE: &str = "SELECT tenant, env, name, scopes, description FROM keygate_roles";

fn role_from_row(row: &impl Columns) -> Result<Role, StoreError> {
    codec::role_from(
        required(row.text("tenant")?, "tenant")?,
        required(row.text("env")?, "env")?,
        required(row.text("name")?, "name")?,
        &required(row.text("scopes")?, "scopes")?,
        row.text("description")?,
    )
}

/// A role's namespace as stored: `('', '')` for a global role.
fn namespace_columns(namespace: Option<&RoleNamespace>) -> (&str, &str) {
    namespace.map_or(("", ""), |ns| (ns.tenant(), ns.env()))
}

/// The role of `(tenant, env)`, else the global one: one query, the namespace's row
/// ordered first.
pub(crate) async fn get_role<D: Dialect>(
    d: &D,
    tenant: &str,
    env: &str,
    name: &str,
) -> Result<Option<Role>, StoreError> {
    let mut sql = D::sql(SELECT_ROLE);
    sql.push(" WHERE name = ")
        .bind(name)
        .push(" AND ((tenant = ")
        .bind(tenant)
        .push(" AND env = ")
        .bind(env)
        .push(") OR (tenant = '' AND env = '')) ORDER BY CASE WHEN tenant = '' AND env = '' THEN 1 ELSE 0 END LIMIT 1");
    d.fetch_optional(sql)
        .await?
        .as_ref()
        .map(role_from_row)
        .transpose()
}

pub(crate) async fn put_role<D: Dialect>(
    d: &D,
    role: &Role,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    let (tenant, env) = namespace_columns(role.namespace());
    let mut tx = d.begin().await?;
    let mut sql =
        D::sql("INSERT INTO keygate_roles (tenant, env, name, scopes, description) VALUES (");
    sql.bind(tenant)
        .push(", ")
        .bind(env)
        .push(", ")
        .bind(role.name())
        .push(", ")
        .bind(codec::role_scopes(role)?)
        .push(", ")
        .bind(role.description.clone())
        .push(
            ") ON CONFLICT (tenant, env, name) DO UPDATE SET scopes = excluded.scopes, \
             description = excluded.description",
        );
    D::tx_execute(&mut tx, sql).await?;
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Role(role.name())).await?;
    D::commit(tx).await
}

pub(crate) async fn delete_role<D: Dialect>(
    d: &D,
    namespace: Option<&RoleNamespace>,
    name: &str,
    audit: Option<&AuditEvent>,
) -> Result<bool, StoreError> {
    let (tenant, env) = namespace_columns(namespace);
    let mut tx = d.begin().await?;
    let mut sql = D::sql("DELETE FROM keygate_roles WHERE tenant = ");
    sql.bind(tenant)
        .push(" AND env = ")
        .bind(env)
        .push(" AND name = ")
        .bind(name);
    let deleted = D::tx_execute(&mut tx, sql).await? > 0;
    if deleted {
        audit_in::<D>(&mut tx, audit).await?;
        d.announce(&mut tx, Change::Role(name)).await?;
    }
    D::commit(tx).await?;
    Ok(deleted)
}

pub(crate) async fn list_roles<D: Dialect>(d: &D) -> Result<Vec<Role>, StoreError> {
    let mut sql = D::sql(SELECT_ROLE);
    sql.push(" ORDER BY name, tenant, env");
    d.fetch_all(sql).await?.iter().map(role_from_row).collect()
}

pub(crate) async fn deactivate_owner<D: Dialect>(
    d: &D,
    tenant: &str,
    owner: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = d.begin().await?;
    let mut sql = D::sql("INSERT INTO keygate_owners (tenant, owner, deactivated_at) VALUES (");
    sql.bind(tenant)
        .push(", ")
        .bind(owner)
        .push(", ")
        .bind(at)
        .push(") ON CONFLICT (tenant, owner) DO NOTHING");
    if D::tx_execute(&mut tx, sql).await? > 0 {
        d.announce(&mut tx, Change::Owner { tenant, owner }).await?;
    }
    D::commit(tx).await
}

pub(crate) async fn reactivate_owner<D: Dialect>(
    d: &D,
    tenant: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let mut tx = d.begin().await?;
    let mut sql = D::sql("DELETE FROM keygate_owners WHERE tenant = ");
    sql.bind(tenant).push(" AND owner = ").bind(owner);
    if D::tx_execute(&mut tx, sql).await? > 0 {
        d.announce(&mut tx, Change::Owner { tenant, owner }).await?;
    }
    D::commit(tx).await
}

pub(crate) async fn owner_deactivated_at<D: Dialect>(
    d: &D,
    tenant: &str,
    owner: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut sql = D::sql("SELECT deactivated_at FROM keygate_owners WHERE tenant = ");
    sql.bind(tenant).push(" AND owner = ").bind(owner);
    match d.fetch_optional(sql).await? {
        Some(row) => row.time("deactivated_at"),
        None => Ok(None),
    }
}

/// [`KeyStore::write`](keygate::KeyStore::write): the change with `event` appended in
/// its transaction.
pub(crate) async fn write<D: Dialect>(
    d: &D,
    change: Write<'_>,
    event: &AuditEvent,
) -> Result<Written, StoreError> {
    let audit = Some(event);
    Ok(match change {
        Write::Insert(record) => {
            insert(d, record, audit).await?;
            Written::Done
        }
        Write::Update(record) => {
            update(d, record, audit).await?;
            Written::Done
        }
        Write::Revoke { id, at } => Written::Revoked(Box::new(revoke(d, id, at, audit).await?)),
        Write::Rotate {
            old,
            grace_until,
            new,
        } => {
            rotate(d, old, grace_until, new, audit).await?;
            Written::Done
        }
        Write::PutRole(role) => {
            put_role(d, role, audit).await?;
            Written::Done
        }
        Write::DeleteRole { namespace, name } => {
            Written::RoleDeleted(delete_role(d, namespace, name, audit).await?)
        }
        Write::PutSharedLimits {
            tenant,
            env,
            owner,
            limits,
        } => {
            put_shared_limits(d, tenant, env, owner, limits, audit).await?;
            Written::Done
        }
    })
}

/// The limits shared by a tenant's keys (`owner: None`) or one owner's, in `env`.
pub(crate) async fn shared_limits<D: Dialect>(
    d: &D,
    tenant: &str,
    env: &str,
    owner: Option<&str>,
) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
    let mut sql = D::sql("SELECT limits FROM keygate_shared_limits WHERE tenant = ");
    sql.bind(tenant)
        .push(" AND env = ")
        .bind(env)
        .push(" AND owner = ")
        .bind(owner.unwrap_or(""));
    match d.fetch_optional(sql).await? {
        Some(row) => codec::named_limits(&required(row.text("limits")?, "limits")?),
        None => Ok(keygate::rate_limit::NamedLimits::new()),
    }
}

/// Sets (or, empty, removes) shared limits, with `audit` in the same transaction, and
/// announces that every cached key must resolve them again.
pub(crate) async fn put_shared_limits<D: Dialect>(
    d: &D,
    tenant: &str,
    env: &str,
    owner: Option<&str>,
    limits: &keygate::rate_limit::NamedLimits,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    let owner = owner.unwrap_or("");
    let sql = if limits.is_empty() {
        let mut sql = D::sql("DELETE FROM keygate_shared_limits WHERE tenant = ");
        sql.bind(tenant)
            .push(" AND env = ")
            .bind(env)
            .push(" AND owner = ")
            .bind(owner);
        sql
    } else {
        let mut sql =
            D::sql("INSERT INTO keygate_shared_limits (tenant, env, owner, limits) VALUES (");
        sql.bind(tenant)
            .push(", ")
            .bind(env)
            .push(", ")
            .bind(owner)
            .push(", ")
            .bind(codec::named_limits_json(limits)?)
            .push(") ON CONFLICT (tenant, env, owner) DO UPDATE SET limits = excluded.limits");
        sql
    };
    let mut tx = d.begin().await?;
    D::tx_execute(&mut tx, sql).await?;
    audit_in::<D>(&mut tx, audit).await?;
    d.announce(&mut tx, Change::Everything).await?;
    D::commit(tx).await
}

pub(crate) async fn append_audit<D: Dialect>(d: &D, event: &AuditEvent) -> Result<(), StoreError> {
    d.execute(audit_insert::<D>(event)).await?;
    Ok(())
}

/// Appends `event`, if any, in the transaction of the change it records.
async fn audit_in<D: Dialect>(
    tx: &mut D::Tx,
    event: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    if let Some(event) = event {
        D::tx_execute(tx, audit_insert::<D>(event)).await?;
    }
    Ok(())
}

fn audit_insert<D: Dialect>(event: &AuditEvent) -> Sql {
    let e = RawAudit::from_event(event);
    let mut sql = D::sql(
        "INSERT INTO keygate_audit (id, at, tenant, actor, action, target, role, \
         client_ip, outcome, reason, count) VALUES (",
    );
    sql.bind_list([
        e.id.into(),
        e.at.into(),
        e.tenant.into(),
        e.actor.into(),
        e.action.into(),
        e.target.into(),
        e.role.into(),
        e.client_ip.into(),
        e.outcome.into(),
        e.reason.into(),
        e.count.into(),
    ])
    .push(")");
    sql
}

fn audit_from_row(row: &impl Columns) -> Result<AuditEvent, StoreError> {
    let text = |c: &str| required(row.text(c)?, c);
    RawAudit {
        id: text("id")?,
        at: required(row.time("at")?, "at")?,
        tenant: row.text("tenant")?,
        actor: row.text("actor")?,
        action: text("action")?,
        target: row.text("target")?,
        role: row.text("role")?,
        client_ip: row.text("client_ip")?,
        outcome: text("outcome")?,
        reason: row.text("reason")?,
        count: required(row.int("count")?, "count")?,
    }
    .into_event()
}

pub(crate) async fn list_audit<D: Dialect>(
    d: &D,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, StoreError> {
    let after = codec::cursor(page)?;
    let limit = page.capped_limit();
    let mut sql = D::sql(
        "SELECT id, at, tenant, actor, action, target, role, client_ip, outcome, reason, \
         count FROM keygate_audit WHERE 1 = 1",
    );
    if let Some(tenant) = &filter.tenant {
        sql.push(" AND tenant = ").bind(tenant.as_str());
    }
    if let Some(key) = &filter.key {
        sql.push(" AND (actor = ")
            .bind(key.as_str())
            .push(" OR target = ")
            .bind(key.as_str())
            .push(")");
    }
    if let Some(action) = &filter.action {
        sql.push(" AND action = ").bind(action.as_str());
    }
    if let Some(since) = filter.since {
        sql.push(" AND at >= ").bind(since);
    }
    if let Some(until) = filter.until {
        sql.push(" AND at < ").bind(until);
    }
    if let Some(outcome) = filter.outcome {
        sql.push(" AND outcome = ").bind(outcome.as_str());
    }
    if let Some((at, id)) = after {
        sql.push(" AND (at, id) > (")
            .bind(at)
            .push(", ")
            .bind(id)
            .push(")");
    }
    sql.push(" ORDER BY at, id LIMIT ").bind(limit as i64 + 1);
    let items = d
        .fetch_all(sql)
        .await?
        .iter()
        .map(audit_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(codec::page_of(items, limit, |e| (e.at, e.id.clone())))
}

/// Rows per statement: six parameters each, under SQLite's oldest limit of 999.
const COUNT_ROWS_PER_STATEMENT: usize = 150;

/// Adds each count to its minute row (`ON CONFLICT … DO UPDATE`: concurrent writers
/// from several instances add up), in multi-row statements of one transaction; rows
/// of one (minute, key, outcome) in the batch are summed first.
pub(crate) async fn record_verifications<D: Dialect>(
    d: &D,
    counts: &[VerificationCount],
) -> Result<(), StoreError> {
    if counts.is_empty() {
        return Ok(());
    }
    // One row per (minute, key, outcome): a statement may not touch a row twice.
    let counts = rollup(counts.to_vec(), Granularity::Minute);
    let mut tx = d.begin().await?;
    for chunk in counts.chunks(COUNT_ROWS_PER_STATEMENT) {
        let mut sql = D::sql(
            "INSERT INTO keygate_verifications (minute, key_id, outcome, tenant, env, count) \
             VALUES ",
        );
        for (i, c) in chunk.iter().enumerate() {
            let count = i64::try_from(c.count)
                .map_err(|_| StoreError::Corrupt(format!("count {} out of range", c.count)))?;
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind_list([
                    Granularity::Minute.start_of(c.at).into(),
                    c.key_id
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string)
                        .into(),
                    c.outcome.as_str().into(),
                    c.tenant.clone().unwrap_or_default().into(),
                    c.env.clone().unwrap_or_default().into(),
                    count.into(),
                ])
                .push(")");
        }
        sql.push(
            " ON CONFLICT (minute, key_id, outcome) DO UPDATE SET \
             count = keygate_verifications.count + excluded.count",
        );
        D::tx_execute(&mut tx, sql).await?;
    }
    D::commit(tx).await
}

pub(crate) async fn verification_counts<D: Dialect>(
    d: &D,
    filter: &VerificationFilter,
) -> Result<Vec<VerificationCount>, StoreError> {
    let mut sql = D::sql(
        "SELECT minute, key_id, outcome, tenant, env, count FROM keygate_verifications \
         WHERE minute >= ",
    );
    sql.bind(filter.from).push(" AND minute < ").bind(filter.to);
    if let Some(key) = &filter.key_id {
        sql.push(" AND key_id = ").bind(key.as_str());
    }
    if let Some(tenant) = &filter.tenant {
        sql.push(" AND tenant = ").bind(tenant.as_str());
    }
    if let Some(env) = &filter.env {
        sql.push(" AND env = ").bind(env.as_str());
    }
    sql.push(" ORDER BY minute, key_id, outcome");
    d.fetch_all(sql)
        .await?
        .iter()
        .map(verification_from_row)
        .collect()
}

fn verification_from_row(row: &impl Columns) -> Result<VerificationCount, StoreError> {
    let text = |c: &str| required(row.text(c)?, c);
    let some = |s: String| (!s.is_empty()).then_some(s);
    let outcome = text("outcome")?;
    let count = required(row.int("count")?, "count")?;
    Ok(VerificationCount {
        key_id: some(text("key_id")?)
            .map(|id| codec::key_id("key_id", &id))
            .transpose()?,
        tenant: some(text("tenant")?),
        env: some(text("env")?),
        at: required(row.time("minute")?, "minute")?,
        outcome: VerificationOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome: unknown {outcome:?}")))?,
        count: u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("count: {count}")))?,
    })
}

/// Upserts each (key, scope): the earliest first use and the latest last use stay.
/// Settles spends of credit balances (see `KeyStore::settle_credits`), each in two
/// statements of one transaction: the arithmetic happens in the `UPDATE` itself, so
/// instances settling at once add up; then keys of the account at an older epoch get
/// the result.
pub(crate) async fn settle_credits<D: Dialect>(
    d: &D,
    spends: &[keygate::credits::CreditSpend],
) -> Result<Vec<Option<keygate::credits::CreditBalance>>, StoreError> {
    let int = |what: &str, n: u64| {
        i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: {n}")))
    };
    let mut tx = d.begin().await?;
    let mut balances = Vec::with_capacity(spends.len());
    for spend in spends {
        let account = spend.account.to_string();
        let epoch = int("credits epoch", spend.epoch)?;
        let spent = int("credits spent", spend.spent)?;
        let fresh = int(
            "credits",
            spend
                .refill
                .map_or(0, |r| r.amount)
                .saturating_sub(spend.spent),
        )?;
        let mut sql =
            D::sql("UPDATE keygate_keys SET credits_remaining = CASE WHEN credits_period < ");
        sql.bind(spend.period)
            .push(" THEN ")
            .bind(fresh)
            .push(" WHEN credits_period = ")
            .bind(spend.period)
            .push(" THEN CASE WHEN credits_remaining > ")
            .bind(spent)
            .push(" THEN credits_remaining - ")
            .bind(spent)
            .push(" ELSE 0 END ELSE credits_remaining END, credits_period = CASE WHEN credits_period < ")
            .bind(spend.period)
            .push(" THEN ")
            .bind(spend.period)
            .push(" ELSE credits_period END WHERE credits_account = ")
            .bind(account.as_str())
            .push(" AND credits_epoch = ")
            .bind(epoch)
            .push(" AND credits_remaining IS NOT NULL RETURNING credits_remaining, credits_period");
        let Some(row) = D::tx_fetch_optional(&mut tx, sql).await? else {
            balances.push(None);
            continue;
        };
        let remaining = required(row.int("credits_remaining")?, "credits_remaining")?;
        let period = required(row.int("credits_period")?, "credits_period")?;
        let mut sql = D::sql("UPDATE keygate_keys SET credits_remaining = ");
        sql.bind(remaining)
            .push(", credits_period = ")
            .bind(period)
            .push(", credits_epoch = ")
            .bind(epoch)
            .push(", credits_refill = ")
            .bind(spend.refill.map(|r| r.to_string()))
            .push(" WHERE credits_account = ")
            .bind(account.as_str())
            .push(" AND credits_epoch < ")
            .bind(epoch)
            .push(" AND credits_remaining IS NOT NULL");
        D::tx_execute(&mut tx, sql).await?;
        balances.push(Some(keygate::credits::CreditBalance {
            remaining: u64::try_from(remaining)
                .map_err(|_| StoreError::Corrupt(format!("credits: {remaining}")))?,
            period,
        }));
    }
    D::commit(tx).await?;
    Ok(balances)
}

pub(crate) async fn record_scope_use<D: Dialect>(
    d: &D,
    uses: &[ScopeUse],
) -> Result<(), StoreError> {
    if uses.is_empty() {
        return Ok(());
    }
    let mut tx = d.begin().await?;
    for u in uses {
        let mut sql =
            D::sql("INSERT INTO keygate_scope_use (key_id, scope, first_used, last_used) VALUES (");
        sql.bind_list([
            u.key_id.as_str().into(),
            u.scope.as_str().into(),
            u.first_used.into(),
            u.last_used.into(),
        ])
        .push(
            ") ON CONFLICT (key_id, scope) DO UPDATE SET \
             first_used = CASE WHEN excluded.first_used < keygate_scope_use.first_used \
                 THEN excluded.first_used ELSE keygate_scope_use.first_used END, \
             last_used = CASE WHEN excluded.last_used > keygate_scope_use.last_used \
                 THEN excluded.last_used ELSE keygate_scope_use.last_used END",
        );
        D::tx_execute(&mut tx, sql).await?;
    }
    D::commit(tx).await
}

pub(crate) async fn scope_use<D: Dialect>(d: &D, key: &KeyId) -> Result<Vec<ScopeUse>, StoreError> {
    let mut sql = D::sql(
        "SELECT key_id, scope, first_used, last_used FROM keygate_scope_use WHERE key_id = ",
    );
    sql.bind(key.as_str()).push(" ORDER BY scope");
    d.fetch_all(sql)
        .await?
        .iter()
        .map(|row| {
            let text = |c: &str| required(row.text(c)?, c);
            Ok(ScopeUse {
                key_id: codec::key_id("key_id", &text("key_id")?)?,
                scope: text("scope")?,
                first_used: required(row.time("first_used")?, "first_used")?,
                last_used: required(row.time("last_used")?, "last_used")?,
            })
        })
        .collect()
}

pub(crate) async fn prune_verifications<D: Dialect>(
    d: &D,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut sql = D::sql("DELETE FROM keygate_verifications WHERE minute < ");
    sql.bind(before);
    d.execute(sql).await
}

pub(crate) async fn prune_audit<D: Dialect>(
    d: &D,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut sql = D::sql("DELETE FROM keygate_audit WHERE at < ");
    sql.bind(before);
    d.execute(sql).await
}

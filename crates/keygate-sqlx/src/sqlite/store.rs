//! The [`KeyStore`] implementation for [`SqliteStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::{
    AuditEvent, AuditFilter, KeyFilter, KeyHash, KeyId, KeyRecord, KeyStore, Page, PageRequest,
    Role, StoreError,
};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite as Db, Transaction};

use super::SqliteStore;
use crate::codec::{self, from_micros, micros, RawAudit, RawKey, AUDIT_COLUMNS, KEY_COLUMNS};
use crate::error::store_error;

/// Change rows kept for pollers; older ones are pruned as new ones are written.
const CHANGES_KEPT: i64 = 10_000;

fn opt_micros(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(micros)
}

fn opt_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(store_error)?
        .map(from_micros)
        .transpose()
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(store_error);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(store_error);
    RawKey {
        id: get("id")?,
        hash: row.try_get("hash").map_err(store_error)?,
        hint: get("hint")?,
        prefix: get("prefix")?,
        env: get("env")?,
        name: get("name")?,
        description: get_opt("description")?,
        tenant: get("tenant")?,
        owner: get_opt("owner")?,
        kind: get("kind")?,
        role: get_opt("role")?,
        scopes: get("scopes")?,
        created_at: from_micros(row.try_get("created_at").map_err(store_error)?)?,
        expires_at: opt_time(row, "expires_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        replaced_by: get_opt("replaced_by")?,
        grace_until: opt_time(row, "grace_until")?,
        allowed_ips: get("allowed_ips")?,
        allowed_referrers: get("allowed_referrers")?,
        rate_limit: get_opt("rate_limit")?,
        metadata: get("metadata")?,
        created_by: get_opt("created_by")?,
    }
    .into_record()
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(store_error);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(store_error);
    RawAudit {
        id: get("id")?,
        at: from_micros(row.try_get("at").map_err(store_error)?)?,
        tenant: get_opt("tenant")?,
        actor: get_opt("actor")?,
        action: get("action")?,
        target: get_opt("target")?,
        client_ip: get_opt("client_ip")?,
        outcome: get("outcome")?,
        reason: get_opt("reason")?,
    }
    .into_event()
}

/// Appends a change for pollers, in the writing transaction, and prunes old ones.
async fn record_change(tx: &mut Transaction<'_, Sqlite>, payload: &str) -> Result<(), StoreError> {
    let seq: i64 =
        sqlx::query_scalar("INSERT INTO keygate_changes (payload, at) VALUES (?, ?) RETURNING seq")
            .bind(payload)
            .bind(micros(Utc::now()))
            .fetch_one(&mut **tx)
            .await
            .map_err(store_error)?;
    sqlx::query("DELETE FROM keygate_changes WHERE seq <= ?")
        .bind(seq - CHANGES_KEPT)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keygate_keys WHERE hash = ?");
        let row = sqlx::query(&sql)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keygate_keys WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let k = RawKey::from_record(record)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let sql = format!(
            "INSERT INTO keygate_keys ({KEY_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        bind_fields(sqlx::query(&sql).bind(&k.id).bind(&k.hash), &k)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        record_change(&mut tx, &record.hash.to_hex()).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let k = RawKey::from_record(record)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let stored = bind_fields(
            sqlx::query(
            "UPDATE keygate_keys SET hint = ?, prefix = ?, env = ?, name = ?, description = ?, \
             tenant = ?, owner = ?, kind = ?, role = ?, scopes = ?, created_at = ?, \
             expires_at = ?, revoked_at = ?, last_used_at = ?, replaced_by = ?, grace_until = ?, \
             allowed_ips = ?, allowed_referrers = ?, rate_limit = ?, metadata = ?, created_by = ? \
             WHERE id = ? RETURNING hash",
            ),
            &k,
        )
        .bind(&k.id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let stored_hash: Option<Vec<u8>> = stored
            .map(|row| row.try_get("hash"))
            .transpose()
            .map_err(store_error)?;
        let stored_hash = codec::key_hash(&stored_hash.ok_or(StoreError::NotFound)?)?;
        record_change(&mut tx, &stored_hash.to_hex()).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let after = codec::cursor(page)?;
        let limit = page.capped_limit();
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {KEY_COLUMNS} FROM keygate_keys WHERE tenant = "
        ));
        q.push_bind(&filter.tenant);
        if let Some(owner) = &filter.owner {
            q.push(" AND owner = ").push_bind(owner);
        }
        if !filter.include_revoked {
            q.push(" AND revoked_at IS NULL");
        }
        if let Some((at, id)) = &after {
            q.push(" AND (created_at, id) > (")
                .push_bind(micros(*at))
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at, id LIMIT ")
            .push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(store_error)?;
        let items = rows
            .iter()
            .map(key_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(codec::page_of(items, limit, |r| {
            (r.created_at, r.id.to_string())
        }))
    }

    async fn get_role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        let row = sqlx::query("SELECT name, scopes, description FROM keygate_roles WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|r| role_from_row(&r)).transpose()
    }

    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        let scopes = codec::role_scopes(role)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "INSERT INTO keygate_roles (name, scopes, description) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes, \
             description = excluded.description",
        )
        .bind(role.name())
        .bind(&scopes)
        .bind(&role.description)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        record_change(&mut tx, &format!("role:{}", role.name())).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query("SELECT name, scopes, description FROM keygate_roles ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(role_from_row).collect()
    }

    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        // One statement per batch: the pairs travel as one JSON array.
        let pairs: Vec<(&str, i64)> = usage
            .iter()
            .map(|(id, at)| (id.as_str(), micros(*at)))
            .collect();
        let batch =
            serde_json::to_string(&pairs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "UPDATE keygate_keys SET last_used_at = u.at \
             FROM (SELECT json_extract(value, '$[0]') AS id, MAX(json_extract(value, '$[1]')) AS at \
                   FROM json_each(?) GROUP BY 1) AS u \
             WHERE keygate_keys.id = u.id \
               AND (keygate_keys.last_used_at IS NULL OR keygate_keys.last_used_at < u.at)",
        )
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let e = RawAudit::from_event(event);
        let sql = format!(
            "INSERT INTO keygate_audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(&sql)
            .bind(&e.id)
            .bind(micros(e.at))
            .bind(&e.tenant)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.client_ip)
            .bind(&e.outcome)
            .bind(&e.reason)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let after = codec::cursor(page)?;
        let limit = page.capped_limit();
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM keygate_audit WHERE 1 = 1"
        ));
        if let Some(tenant) = &filter.tenant {
            q.push(" AND tenant = ").push_bind(tenant);
        }
        if let Some(key) = &filter.key {
            q.push(" AND (actor = ")
                .push_bind(key.as_str())
                .push(" OR target = ")
                .push_bind(key.as_str())
                .push(")");
        }
        if let Some(action) = &filter.action {
            q.push(" AND action = ").push_bind(action);
        }
        if let Some(since) = filter.since {
            q.push(" AND at >= ").push_bind(micros(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND at < ").push_bind(micros(until));
        }
        if let Some((at, id)) = &after {
            q.push(" AND (at, id) > (")
                .push_bind(micros(*at))
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY at, id LIMIT ")
            .push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(store_error)?;
        let items = rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(codec::page_of(items, limit, |e| (e.at, e.id.clone())))
    }
}

fn role_from_row(row: &SqliteRow) -> Result<Role, StoreError> {
    codec::role_from(
        row.try_get("name").map_err(store_error)?,
        &row.try_get::<String, _>("scopes").map_err(store_error)?,
        row.try_get("description").map_err(store_error)?,
    )
}

/// Binds the columns an insert and an update share (`hint` … `created_by`, in
/// `KEY_COLUMNS` order), so the two statements cannot drift apart.
fn bind_fields<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    k: &'q RawKey,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(&k.hint)
        .bind(&k.prefix)
        .bind(&k.env)
        .bind(&k.name)
        .bind(&k.description)
        .bind(&k.tenant)
        .bind(&k.owner)
        .bind(&k.kind)
        .bind(&k.role)
        .bind(&k.scopes)
        .bind(micros(k.created_at))
        .bind(opt_micros(k.expires_at))
        .bind(opt_micros(k.revoked_at))
        .bind(opt_micros(k.last_used_at))
        .bind(&k.replaced_by)
        .bind(opt_micros(k.grace_until))
        .bind(&k.allowed_ips)
        .bind(&k.allowed_referrers)
        .bind(&k.rate_limit)
        .bind(&k.metadata)
        .bind(&k.created_by)
}

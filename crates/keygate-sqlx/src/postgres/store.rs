//! The [`KeyStore`] implementation for [`PostgresStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::{
    AuditEvent, AuditFilter, KeyFilter, KeyHash, KeyId, KeyRecord, KeyStore, Page, PageRequest,
    Role, StoreError,
};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row, Transaction};

use super::PostgresStore;
use crate::codec::{self, RawAudit, RawKey, AUDIT_COLUMNS, KEY_COLUMNS};
use crate::error::store_error;

fn key_from_row(row: &PgRow) -> Result<KeyRecord, StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(store_error);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(store_error);
    let time = |c: &str| row.try_get::<DateTime<Utc>, _>(c).map_err(store_error);
    let time_opt = |c: &str| {
        row.try_get::<Option<DateTime<Utc>>, _>(c)
            .map_err(store_error)
    };
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
        created_at: time("created_at")?,
        expires_at: time_opt("expires_at")?,
        revoked_at: time_opt("revoked_at")?,
        last_used_at: time_opt("last_used_at")?,
        replaced_by: get_opt("replaced_by")?,
        grace_until: time_opt("grace_until")?,
        allowed_ips: get("allowed_ips")?,
        allowed_referrers: get("allowed_referrers")?,
        rate_limit: get_opt("rate_limit")?,
        metadata: get("metadata")?,
        created_by: get_opt("created_by")?,
    }
    .into_record()
}

fn audit_from_row(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(store_error);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(store_error);
    RawAudit {
        id: get("id")?,
        at: row.try_get("at").map_err(store_error)?,
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

fn role_from_row(row: &PgRow) -> Result<Role, StoreError> {
    codec::role_from(
        row.try_get("name").map_err(store_error)?,
        &row.try_get::<String, _>("scopes").map_err(store_error)?,
        row.try_get("description").map_err(store_error)?,
    )
}

impl PostgresStore {
    /// Announces a change to every listener, delivered only if `tx` commits.
    async fn notify(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        payload: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.channel)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keygate_keys WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keygate_keys WHERE id = $1");
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
            "INSERT INTO keygate_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        );
        bind_fields(sqlx::query(&sql).bind(&k.id).bind(&k.hash), &k)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        self.notify(&mut tx, &record.hash.to_hex()).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let k = RawKey::from_record(record)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let stored = bind_fields(
            sqlx::query(
                "UPDATE keygate_keys SET hint = $1, prefix = $2, env = $3, name = $4, \
             description = $5, tenant = $6, owner = $7, kind = $8, role = $9, scopes = $10, \
             created_at = $11, expires_at = $12, revoked_at = $13, last_used_at = $14, \
             replaced_by = $15, grace_until = $16, allowed_ips = $17, allowed_referrers = $18, \
             rate_limit = $19, metadata = $20, created_by = $21 WHERE id = $22 RETURNING hash",
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
        self.notify(&mut tx, &stored_hash.to_hex()).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let after = codec::cursor(page)?;
        let limit = page.capped_limit();
        let mut q = QueryBuilder::<Postgres>::new(format!(
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
                .push_bind(*at)
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
        let row =
            sqlx::query("SELECT name, scopes, description FROM keygate_roles WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        let scopes = codec::role_scopes(role)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "INSERT INTO keygate_roles (name, scopes, description) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET scopes = EXCLUDED.scopes, \
             description = EXCLUDED.description",
        )
        .bind(role.name())
        .bind(&scopes)
        .bind(&role.description)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        self.notify(&mut tx, &format!("role:{}", role.name()))
            .await?;
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
        // One statement per batch: the pairs travel as two arrays.
        let (ids, times): (Vec<&str>, Vec<DateTime<Utc>>) =
            usage.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        sqlx::query(
            "UPDATE keygate_keys AS k SET last_used_at = u.at \
             FROM (SELECT id, max(at) AS at FROM UNNEST($1::text[], $2::timestamptz[]) \
                   AS t(id, at) GROUP BY id) AS u \
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let e = RawAudit::from_event(event);
        let sql = format!(
            "INSERT INTO keygate_audit ({AUDIT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(&e.id)
            .bind(e.at)
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
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM keygate_audit WHERE TRUE"
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
            q.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            q.push(" AND at < ").push_bind(until);
        }
        if let Some((at, id)) = &after {
            q.push(" AND (at, id) > (")
                .push_bind(*at)
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

/// Binds the columns an insert and an update share (`hint` … `created_by`, in
/// `KEY_COLUMNS` order), so the two statements cannot drift apart.
fn bind_fields<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    k: &'q RawKey,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
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
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .bind(k.last_used_at)
        .bind(&k.replaced_by)
        .bind(k.grace_until)
        .bind(&k.allowed_ips)
        .bind(&k.allowed_referrers)
        .bind(&k.rate_limit)
        .bind(&k.metadata)
        .bind(&k.created_by)
}

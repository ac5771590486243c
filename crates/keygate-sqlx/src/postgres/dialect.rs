//! PostgreSQL as a [`Dialect`]: `$n` placeholders, `timestamptz`, changes announced
//! with `pg_notify` (heard by [`PgInvalidations`](super::PgInvalidations)), usage
//! batches as two arrays.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::{KeyId, StoreError};
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::{Row, Transaction};

use super::PostgresStore;
use crate::error::store_error;
use crate::sql::{key_store, Change, Columns, Dialect, Sql, Value};

fn query(sql: &Sql) -> Query<'_, Postgres, PgArguments> {
    sql.args
        .iter()
        .fold(sqlx::query(&sql.text), |q, value| match value {
            Value::Text(v) => q.bind(v),
            Value::Bytes(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::Time(v) => q.bind(v),
        })
}

impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
}

#[async_trait]
impl Dialect for PostgresStore {
    type Row = PgRow;
    type Tx = Transaction<'static, Postgres>;
    fn query_timeout(&self) -> Option<std::time::Duration> {
        self.query_timeout
    }

    const NUMBERED: bool = true;

    async fn fetch_optional(&self, sql: Sql) -> Result<Option<PgRow>, StoreError> {
        query(&sql)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn fetch_all(&self, sql: Sql) -> Result<Vec<PgRow>, StoreError> {
        query(&sql).fetch_all(&self.pool).await.map_err(store_error)
    }

    async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        let done = query(&sql).execute(&self.pool).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }

    async fn tx_fetch_optional(tx: &mut Self::Tx, sql: Sql) -> Result<Option<PgRow>, StoreError> {
        query(&sql)
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_error)
    }

    async fn tx_execute(tx: &mut Self::Tx, sql: Sql) -> Result<u64, StoreError> {
        let done = query(&sql).execute(&mut **tx).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(store_error)
    }

    /// `pg_notify` on the store's channel (one per personal key for an owner),
    /// delivered when `tx` commits.
    async fn announce(&self, tx: &mut Self::Tx, change: Change<'_>) -> Result<(), StoreError> {
        let mut sql = Self::sql("SELECT pg_notify(");
        sql.bind(&*self.channel);
        match change {
            Change::Owner { tenant, owner } => {
                sql.push(", encode(hash, 'hex')) FROM keygate_keys WHERE tenant = ")
                    .bind(tenant)
                    .push(" AND owner = ")
                    .bind(owner)
                    .push(" AND kind = 'personal'");
            }
            single => {
                sql.push(", ").bind(single.payload()).push(")");
            }
        }
        Self::tx_execute(tx, sql).await?;
        Ok(())
    }

    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
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
}

key_store!(PostgresStore);

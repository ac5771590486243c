//! SQLite as a [`Dialect`]: `?` placeholders, timestamps as integer microseconds,
//! changes as rows of `keygate_changes` (polled by [`SqliteChanges`](super::SqliteChanges)),
//! usage batches as one JSON array.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::{KeyId, StoreError};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{Row, Transaction};

use super::SqliteStore;
use crate::codec::{from_micros, micros};
use crate::error::store_error;
use crate::sql::{key_store, Change, Columns, Dialect, Sql, Value};

/// Change rows kept for pollers; older ones are pruned as new ones are written.
const CHANGES_KEPT: i64 = 10_000;

fn query(sql: &Sql) -> Query<'_, Sqlite, SqliteArguments<'_>> {
    sql.args
        .iter()
        .fold(sqlx::query(&sql.text), |q, value| match value {
            Value::Text(v) => q.bind(v),
            Value::Bytes(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::Time(v) => q.bind(v.map(micros)),
        })
}

impl Columns for SqliteRow {
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
        self.try_get::<Option<i64>, _>(column)
            .map_err(store_error)?
            .map(from_micros)
            .transpose()
    }
}

#[async_trait]
impl Dialect for SqliteStore {
    type Row = SqliteRow;
    type Tx = Transaction<'static, Sqlite>;
    fn query_timeout(&self) -> Option<std::time::Duration> {
        self.query_timeout
    }

    const NUMBERED: bool = false;

    async fn fetch_optional(&self, sql: Sql) -> Result<Option<SqliteRow>, StoreError> {
        query(&sql)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn fetch_all(&self, sql: Sql) -> Result<Vec<SqliteRow>, StoreError> {
        query(&sql).fetch_all(&self.pool).await.map_err(store_error)
    }

    async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        let done = query(&sql).execute(&self.pool).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }

    async fn tx_fetch_optional(
        tx: &mut Self::Tx,
        sql: Sql,
    ) -> Result<Option<SqliteRow>, StoreError> {
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

    /// Appends the change (one row per personal key for an owner) and prunes old rows.
    async fn announce(&self, tx: &mut Self::Tx, change: Change<'_>) -> Result<(), StoreError> {
        let mut sql = Self::sql("INSERT INTO keygate_changes (payload, at) ");
        match change {
            Change::Owner { tenant, owner } => {
                sql.push("SELECT lower(hex(hash)), ")
                    .bind(Utc::now())
                    .push(" FROM keygate_keys WHERE tenant = ")
                    .bind(tenant)
                    .push(" AND owner = ")
                    .bind(owner)
                    .push(" AND kind = 'personal'");
            }
            single => {
                sql.push("VALUES (")
                    .bind(single.payload())
                    .push(", ")
                    .bind(Utc::now())
                    .push(")");
            }
        }
        Self::tx_execute(tx, sql).await?;
        let mut prune = Self::sql(
            "DELETE FROM keygate_changes WHERE seq <= (SELECT MAX(seq) FROM keygate_changes) - ",
        );
        prune.bind(CHANGES_KEPT);
        Self::tx_execute(tx, prune).await?;
        Ok(())
    }

    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
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
}

key_store!(SqliteStore);

//! [`PostgresStore`]: keys in PostgreSQL, shared by a fleet of instances.

mod dialect;
mod listener;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use listener::PgInvalidations;

use crate::error::Error;
use crate::migrations;

/// A [`KeyStore`](keygate::KeyStore) in PostgreSQL: one database for a fleet.
///
/// Every write (insert, update, revoke, rotate — both keys —, owner deactivation and
/// reactivation — each of the owner's personal keys — `put_role` and `delete_role`) calls
/// `pg_notify` in its own transaction, with the changed key's hash in hex (or
/// `role:<name>`) as payload. [`PostgresStore::invalidations`] listens on
/// that channel and feeds a [`CachedStore`](keygate_moka::CachedStore), so a revoke
/// made on one instance reaches every instance's cache within milliseconds.
///
/// Tables live in the connection's default schema, or in [`schema`]
/// (created if missing); the channel is named after the schema so tenants of one
/// database do not hear each other.
///
/// [`schema`]: PostgresStoreBuilder::schema
///
/// ```no_run
/// use keygate_moka::CachedStore;
/// use keygate_sqlx::PostgresStore;
/// # async fn run() -> Result<(), keygate_sqlx::Error> {
/// let store = PostgresStore::connect("postgres://keygate@db.internal/keygate").await?;
/// let cached = CachedStore::new(store.clone());
/// cached.follow(store.invalidations());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    channel: Arc<str>,
    query_timeout: Option<Duration>,
}

/// Builds a [`PostgresStore`].
///
/// Defaults: the URL's schema (`search_path`), at most 10 connections, 3 s to get a
/// connection before a lookup fails (and the verifier answers 503), and 5 s for any
/// one call, connection included ([`DEFAULT_QUERY_TIMEOUT`](crate::DEFAULT_QUERY_TIMEOUT)).
///
/// ```no_run
/// use std::time::Duration;
/// use keygate_sqlx::PostgresStore;
/// # async fn run() -> Result<(), keygate_sqlx::Error> {
/// let store = PostgresStore::builder("postgres://keygate@db.internal/keygate")
///     .schema("auth")
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(1))
///     .query_timeout(Some(Duration::from_secs(2)))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresStoreBuilder {
    url: String,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
    query_timeout: Option<Duration>,
}

/// Checks a schema name: `[a-z_][a-z0-9_]{0,62}` (no quoting needed anywhere).
fn valid_schema(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// The NOTIFY channel for a schema (at most 63 bytes, PostgreSQL's identifier limit).
fn channel_for(schema: Option<&str>) -> String {
    let mut channel = match schema {
        Some(schema) => format!("keygate_invalidation_{schema}"),
        None => "keygate_invalidation".to_owned(),
    };
    channel.truncate(63);
    channel
}

impl PostgresStoreBuilder {
    /// Keep the tables in this schema (created if missing), e.g. `auth`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// At most this many pooled connections (default 10). A listener from
    /// [`PostgresStore::invalidations`] holds one of them.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a query waits for a connection (default 3 s). When the server is down,
    /// this is how long a lookup takes to fail.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long one store call (a lookup, a write with its transaction, an audit
    /// append) may take, getting a connection included, before it fails with
    /// `StoreError::Unavailable` (default 5 s,
    /// [`DEFAULT_QUERY_TIMEOUT`](crate::DEFAULT_QUERY_TIMEOUT); `None`: no limit).
    /// Unlike [`acquire_timeout`](Self::acquire_timeout), it also bounds a statement
    /// that blocks in the server (a table locked by a migration) or a connection that
    /// stops answering mid-query. Migrations and the change feed are not bound by it.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Connects and migrates.
    pub async fn connect(self) -> Result<PostgresStore, Error> {
        let store = self.connect_lazy()?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store that connects on first use and does not migrate: for services that
    /// must start while the database is down (call [`PostgresStore::migrate`] once it
    /// is up). Until then, every call fails with `StoreError::Unavailable`.
    pub fn connect_lazy(self) -> Result<PostgresStore, Error> {
        let mut options = PgConnectOptions::from_str(&self.url)?;
        if let Some(schema) = &self.schema {
            if !valid_schema(schema) {
                return Err(Error::InvalidSchema(schema.clone()));
            }
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_lazy_with(options);
        Ok(PostgresStore {
            pool,
            channel: channel_for(self.schema.as_deref()).into(),
            schema: self.schema.map(Into::into),
            query_timeout: self.query_timeout,
        })
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// Starts a builder for `url`.
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.to_owned(),
            schema: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            query_timeout: Some(crate::DEFAULT_QUERY_TIMEOUT),
        }
    }

    /// Creates the schema if one was configured, then applies pending migrations
    /// (done by `connect`; safe to repeat, and safe from several instances at once).
    pub async fn migrate(&self) -> Result<(), Error> {
        if let Some(schema) = &self.schema {
            let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&self.pool)
                .await;
            match created {
                Ok(_) => {}
                // Two instances creating it at once: the other one won.
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
                Err(err) => return Err(err.into()),
            }
        }
        migrations::migrator(migrations::POSTGRES)
            .await?
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The connection pool (for your own queries, or to close it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in, when one was configured.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The `LISTEN/NOTIFY` channel this store announces changes on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The change feed: listens on [`PostgresStore::channel`], for
    /// [`CachedStore::follow`](keygate_moka::CachedStore::follow).
    pub fn invalidations(&self) -> PgInvalidations {
        PgInvalidations::new(self.pool.clone(), self.channel.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_and_channels() {
        for ok in ["auth", "_x", "keygate_test_0a1b"] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in ["", "Auth", "1x", "a-b", "a;drop", &"a".repeat(64)] {
            assert!(!valid_schema(bad), "{bad}");
        }
        assert_eq!(channel_for(None), "keygate_invalidation");
        assert_eq!(channel_for(Some("auth")), "keygate_invalidation_auth");
        assert_eq!(channel_for(Some(&"a".repeat(63))).len(), 63);
        let err = PostgresStore::builder("postgres://localhost/x")
            .schema("Bad")
            .connect_lazy();
        assert!(matches!(err, Err(Error::InvalidSchema(_))));
    }
}

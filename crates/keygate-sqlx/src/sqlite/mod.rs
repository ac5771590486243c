//! [`SqliteStore`]: keys in a SQLite file (or in memory), no server needed.

mod changes;
mod dialect;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use changes::{SqliteChanges, DEFAULT_POLL_INTERVAL};

use crate::error::Error;
use crate::migrations;

/// A [`KeyStore`](keygate::KeyStore) in SQLite: the embedded default.
///
/// The file is created and migrated on first use, in WAL mode so readers never wait for
/// the writer. Other processes (the CLI, a second instance) may write the same file:
/// every write also appends to a change table in the same transaction, and
/// [`SqliteStore::changes`] polls it so a running cache drops what they changed
/// (about once a second).
///
/// `sqlite::memory:` gives a private in-memory database (one connection), for tests.
///
/// ```
/// use keygate::{KeyRecord, KeyStore};
/// use keygate::hash::KeyHasher;
/// use keygate_sqlx::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
/// store.insert(&record).await?;
/// let found = store.find_by_hash(&KeyHasher::Sha256.hash(key.expose())).await?;
/// assert_eq!(found.map(|r| r.id.clone()), Some(record.id));
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    query_timeout: Option<Duration>,
}

/// Builds a [`SqliteStore`].
///
/// Defaults: 4 connections for a file (1 in memory), wait up to 5 s for a locked
/// database, 5 s for any one call ([`DEFAULT_QUERY_TIMEOUT`](crate::DEFAULT_QUERY_TIMEOUT)),
/// `synchronous = NORMAL` (durable across process crashes; WAL's usual setting).
///
/// ```
/// use std::time::Duration;
/// use keygate_sqlx::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::builder("sqlite::memory:")
///     .busy_timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// # let _ = store;
/// # Ok::<(), keygate_sqlx::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreBuilder {
    url: String,
    max_connections: Option<u32>,
    busy_timeout: Duration,
    query_timeout: Option<Duration>,
}

impl SqliteStoreBuilder {
    /// At most this many pooled connections (default 4; always 1 in memory).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// How long a statement waits for another writer's lock (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long one store call (a lookup, a write with its transaction, an audit
    /// append) may take before it fails with `StoreError::Unavailable` (default 5 s,
    /// [`DEFAULT_QUERY_TIMEOUT`](crate::DEFAULT_QUERY_TIMEOUT); `None`: no limit): a
    /// stalled disk or file system must not hold requests. Migrations and the change
    /// feed are not bound by it.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Opens (creating if needed) and migrates the database.
    pub async fn connect(self) -> Result<SqliteStore, Error> {
        let in_memory = self.url.contains(":memory:") || self.url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(&self.url)?
            .create_if_missing(true)
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true);
        let options = if in_memory {
            options
        } else {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        let max = if in_memory {
            1
        } else {
            self.max_connections.unwrap_or(4)
        };
        // An in-memory database lives as long as a connection to it: keep one open.
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(u32::from(in_memory))
            .idle_timeout((!in_memory).then_some(Duration::from_secs(600)))
            .max_lifetime((!in_memory).then_some(Duration::from_secs(1800)))
            .connect_with(options)
            .await?;
        let store = SqliteStore {
            pool,
            query_timeout: self.query_timeout,
        };
        store.migrate().await?;
        Ok(store)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite://keygate.db` (a file relative to the working directory),
    /// `sqlite:///var/lib/keygate.db`, or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// Starts a builder for `url`.
    pub fn builder(url: &str) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            url: url.to_owned(),
            max_connections: None,
            busy_timeout: Duration::from_secs(5),
            query_timeout: Some(crate::DEFAULT_QUERY_TIMEOUT),
        }
    }

    /// Brings the schema up to date (done by `connect`; safe to repeat).
    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = migrations::migrator(migrations::SQLITE).await?;
        if migrator.run(&self.pool).await.is_err() {
            // Another process may have been migrating the same file at the same moment
            // (SQLite has no advisory lock): the second look sees its work.
            migrator.run(&self.pool).await?;
        }
        Ok(())
    }

    /// The connection pool (for your own queries, or to close it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The change feed of this database, polled once a second, for
    /// [`CachedStore::follow`](keygate_moka::CachedStore::follow).
    pub fn changes(&self) -> SqliteChanges {
        SqliteChanges::new(self.pool.clone())
    }
}

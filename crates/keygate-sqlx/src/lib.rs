//! # keygate-sqlx
//!
//! Key stores in SQL databases, through [sqlx](https://docs.rs/sqlx):
//!
//! - [`SqliteStore`] (feature `sqlite`): the embedded default. A file, created and
//!   migrated on first use, in WAL mode; no server. Writes append to a change table
//!   that [`SqliteStore::changes`] polls, so a revoke made by another process (the CLI)
//!   reaches a running service's cache within about a second.
//! - [`PostgresStore`] (feature `postgres`): one database for a fleet. Writes call
//!   `pg_notify` in their transaction; [`PostgresStore::invalidations`] listens, so a
//!   revoke reaches every instance's cache within milliseconds.
//! - [`connect_any`]: picks the backend from the URL scheme.
//!
//! Both pass keygate's store conformance suite, with one implementation: the SQL and
//! the write invariants (conditional updates on a row version, monotonic revocation,
//! atomic single-successor rotation, owners read with every key) are written once over
//! a small dialect (placeholders, timestamp codec, change announcement, usage batch).
//! Lookups by hash use a unique index (one B-tree probe at millions of keys, plus the
//! owners table's primary key); last-used times are written one statement per batch. The migrations (`migrations/sqlite`, `migrations/postgres`) are embedded
//! and applied on connect.
//!
//! [`from_env`] (or [`connect_cached`]) gives what a service runs on: the store behind a
//! [`CachedStore`](keygate_moka::CachedStore) that follows its change feed by itself:
//!
//! ```
//! use keygate::KeyGate;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = keygate_sqlx::connect_cached("sqlite::memory:").await?; // or from_env()
//! let gate = KeyGate::builder(store).prefix("sk").build();
//! # let _ = gate;
//! # Ok::<(), keygate_sqlx::Error>(()) }).unwrap();
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod any;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod cached;
mod codec;
mod error;
mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use any::{connect_any, AnyStore};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use cached::{connect_cached, from_env, DATABASE_URL_VAR, DEFAULT_DATABASE_URL};
pub use error::Error;
#[cfg(feature = "postgres")]
pub use postgres::{PgInvalidations, PostgresStore, PostgresStoreBuilder};
/// How long one call of a [`SqliteStore`] or [`PostgresStore`] (a lookup, a write with
/// its transaction, an audit append) may take by default before it fails with
/// `StoreError::Unavailable`: 5 s. Change it with the builders' `query_timeout`.
///
/// It bounds what the pool's acquire timeout (PostgreSQL) and the busy timeout
/// (SQLite) do not: a statement that blocks once it runs, such as a lookup waiting on a
/// table locked by a long migration, or a server that stops answering mid-query. The
/// verifier answers such a lookup with 503 (or, behind a
/// [`CachedStore`](keygate_moka::CachedStore) with `stale_if_error`, with a recently
/// stale entry) instead of holding the request.
pub const DEFAULT_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteChanges, SqliteStore, SqliteStoreBuilder, DEFAULT_POLL_INTERVAL};

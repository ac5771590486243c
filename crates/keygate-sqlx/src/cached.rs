//! One call from a URL (or the environment) to the store a service runs on: the SQL
//! store behind a cache that follows the store's change feed, with no task to start.

use keygate_moka::CachedStore;

use crate::any::{connect_any, AnyStore};
use crate::error::Error;

/// The environment variable naming the database.
pub const DATABASE_URL_VAR: &str = "KEYGATE_DATABASE_URL";

/// The database when [`DATABASE_URL_VAR`] is unset: a SQLite file in the working
/// directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keygate.db";

/// Opens the store at `url` ([`connect_any`]) behind a [`CachedStore`] that follows the
/// store's invalidations (SQLite's polled change table, PostgreSQL's `LISTEN`) for as
/// long as the cache lives, so a revoke made by another process (the CLI, another
/// instance) reaches this one's cache without any code of yours.
///
/// # Panics
/// Outside a Tokio runtime (the feed runs on a task).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = keygate_sqlx::connect_cached("sqlite::memory:").await?;
/// let gate = keygate::KeyGate::builder(store).prefix("sk").build();
/// # let _ = gate;
/// # Ok::<(), keygate_sqlx::Error>(()) }).unwrap();
/// ```
pub async fn connect_cached(url: &str) -> Result<CachedStore<AnyStore>, Error> {
    let store = connect_any(url).await?;
    let cached = CachedStore::new(store.clone());
    // The task ends by itself once the cache is dropped.
    drop(cached.follow(store.invalidations()));
    Ok(cached)
}

/// [`connect_cached`] on `KEYGATE_DATABASE_URL` (default `sqlite://keygate.db`): the
/// store of a service configured by its environment.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use keygate_tower::ApiKeyLayer;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = keygate_sqlx::from_env().await?;
/// let app: Router = Router::new()
///     .route("/hello", get(|| async { "hello" }))
///     .layer(ApiKeyLayer::builder(store).prefix("sk").build());
/// # Ok(()) }
/// ```
pub async fn from_env() -> Result<CachedStore<AnyStore>, Error> {
    let url = std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    connect_cached(&url).await
}

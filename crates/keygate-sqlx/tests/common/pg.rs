//! The PostgreSQL test server: found through `KEYGATE_TEST_POSTGRES_URL`, one random
//! schema (or several, `<base>_<n>`) per test, dropped at the end.
//!
//! When the variable is unset or the server unreachable, a test is skipped with a
//! printed reason, except under `CI=true`, where it fails.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keygate_sqlx::PostgresStore;
use sqlx::postgres::PgPoolOptions;
use sqlx::Row;

pub const URL_VAR: &str = "KEYGATE_TEST_POSTGRES_URL";

/// One test's share of the server.
#[derive(Debug)]
pub struct PgTest {
    pub url: String,
    base: String,
    next: AtomicUsize,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the server answered, asked once per test binary: its URL, or why not.
static PROBE: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();

async fn probe() -> Result<String, String> {
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set"))?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&url)
        .await
        .map_err(|err| format!("PostgreSQL at {URL_VAR} is unreachable: {err}"))?;
    pool.close().await;
    Ok(url)
}

/// The server URL if it answers; `None` (with the reason printed) to skip, and a panic
/// under `CI=true`.
pub async fn server(test: &str) -> Option<String> {
    match PROBE.get_or_init(probe).await {
        Ok(url) => Some(url.clone()),
        Err(reason) if in_ci() => panic!("{test}: {reason} (required when CI=true)"),
        Err(reason) => {
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}

impl PgTest {
    /// A schema name never used before: `kg_test_<base>_<n>`.
    pub fn schema(&self) -> String {
        format!(
            "{}_{}",
            self.base,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A store in a fresh schema.
    pub async fn store(&self) -> PostgresStore {
        self.store_in(&self.schema()).await
    }

    /// A store in `schema` (a second instance on the same tables).
    pub async fn store_in(&self, schema: &str) -> PostgresStore {
        PostgresStore::builder(&self.url)
            .schema(schema)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to schema {schema}: {e}"))
    }

    async fn drop_schemas(&self) {
        let Ok(pool) = PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
        else {
            return;
        };
        let rows = sqlx::query("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(format!("{}_", self.base))
            .fetch_all(&pool)
            .await
            .expect("schemas listed");
        for row in rows {
            let name: String = row.get("nspname");
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&pool)
                .await;
        }
        pool.close().await;
    }
}

/// Runs `body` with a [`PgTest`] (or skips it), then drops every schema it made, even
/// when `body` panics.
pub async fn with_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<PgTest>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = server(test).await else {
        return;
    };
    let pg = Arc::new(PgTest {
        url,
        base: format!("kg_test_{}", super::random_hex(6)),
        next: AtomicUsize::new(0),
    });
    let outcome = tokio::spawn(body(Arc::clone(&pg))).await;
    pg.drop_schemas().await;
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("{test}: {err}");
    }
}

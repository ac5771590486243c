//! keygate's side: the demo key's record, the stores the keygate servers use, and the
//! gate configuration they share.

use std::path::PathBuf;
use std::sync::Arc;

use keygate::hash::KeyHasher;
use keygate::key_format::ParsedKey;
use keygate::rate_limit::FailureThrottle;
use keygate::{
    KeyGate, KeyGateBuilder, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits, ScopeSet,
};
use keygate_moka::CachedStore;
use keygate_sqlx::SqliteStore;

use crate::{demo_key, fail, filler_key, ENV, PREFIX, TABLE_SIZE};

/// The scope `RequireScope` / `#[require_scope]` asks for on `/hello`.
pub const SCOPE: &str = "read:hello";

/// Keys written to the SQLite file at start-up (the demo key and fillers): fewer than
/// [`TABLE_SIZE`] because each goes through `SqliteStore::insert`, slow under valgrind.
pub const SQLITE_KEYS: usize = 1_000;

/// Environment variable naming the SQLite file (the xtask sets it to a temporary
/// directory it removes afterwards).
pub const DB_ENV: &str = "KEYGATE_BENCH_DB";

/// The record of `key` (scopes `read:hello`, `write:hello`).
pub fn record(key: &str, name: &str) -> KeyRecord {
    let hint = ParsedKey::parse(key)
        .unwrap_or_else(|e| fail(&format!("not a keygate key: {e}")))
        .hint();
    let scopes =
        ScopeSet::parse([SCOPE, "write:hello"]).unwrap_or_else(|e| fail(&format!("scopes: {e}")));
    KeyRecord::new(KeyHasher::Sha256.hash(key), hint, PREFIX, ENV, name, "acme").with_scopes(scopes)
}

/// Inserts the demo key and `total - 1` fillers.
pub async fn fill(store: &impl KeyStore, total: usize) {
    fill_with(store, total, |_| {}).await;
}

/// [`fill`], the demo key's record edited by `demo` first.
pub async fn fill_with(store: &impl KeyStore, total: usize, demo: fn(&mut KeyRecord)) {
    let insert = |key: String, name: String| {
        let record = record(&key, &name);
        async move { store.insert(&record).await }
    };
    let mut demo_record = record(&demo_key(), "demo");
    demo(&mut demo_record);
    if let Err(e) = store.insert(&demo_record).await {
        fail(&format!("insert: {e}"));
    }
    for i in 1..total {
        if let Err(e) = insert(filler_key(i), format!("filler{i}")).await {
            fail(&format!("insert: {e}"));
        }
    }
}

/// An in-memory store holding the demo key and fillers ([`TABLE_SIZE`] keys).
pub async fn memory_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    fill(&store, TABLE_SIZE).await;
    store
}

/// A `CachedStore` (default TTLs) over a fresh SQLite file holding [`SQLITE_KEYS`] keys.
/// The file is `$KEYGATE_BENCH_DB`, else `keygate-bench-<pid>.db` in the temp dir.
pub async fn sqlite_cached() -> CachedStore<SqliteStore> {
    sqlite_cached_with(|_| {}).await
}

/// [`sqlite_cached`], the demo key's record edited by `demo`.
pub async fn sqlite_cached_with(demo: fn(&mut KeyRecord)) -> CachedStore<SqliteStore> {
    let path = std::env::var_os(DB_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("keygate-bench-{}.db", std::process::id()))
        });
    let sqlite = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| fail(&format!("sqlite {}: {e}", path.display())));
    fill_with(&sqlite, SQLITE_KEYS, demo).await;
    CachedStore::new(sqlite)
}

/// The gate every keygate server uses: prefix and env of the demo key, the default
/// credential sources (Bearer, then `X-API-KEY`) as the hand-written peers read them.
pub fn gate(store: impl KeyStore) -> KeyGateBuilder {
    KeyGate::builder(store).prefix(PREFIX).envs([ENV])
}

/// Adds an in-process per-key rate limit (high enough never to refuse the benchmark's
/// load, so every request pays the check) and the failure throttle (10 failures per
/// minute per client IP).
pub fn with_limits<T>(builder: KeyGateBuilder<T>) -> KeyGateBuilder<T> {
    builder
        .rate_limits(
            RateLimits::in_memory().env_default(ENV, RateLimitSpec::per_second(1_000_000_000)),
        )
        .failure_throttle(FailureThrottle::new(RateLimitSpec::per_minute(10)))
}

/// Gives the demo key two named limits (never reached), as a metered API's key has:
/// each request counts in three limits at once.
pub fn two_named_limits(record: &mut KeyRecord) {
    record.limits = keygate::rate_limit::NamedLimits::parse([
        ("burst", "1000000000/s"),
        ("daily", "1000000000/day"),
    ])
    .unwrap_or_else(|e| fail(&format!("limits: {e}")));
}

/// The Redis of the Redis servers: `$KEYGATE_BENCH_REDIS_URL`, else the local one.
pub fn redis_url() -> String {
    std::env::var("KEYGATE_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// [`with_limits`] with `limiter` instead of the in-process limiter.
pub fn with_limiter<T>(
    builder: KeyGateBuilder<T>,
    limiter: impl keygate::rate_limit::RateLimiter,
) -> KeyGateBuilder<T> {
    builder
        .rate_limits(
            RateLimits::new(limiter).env_default(ENV, RateLimitSpec::per_second(1_000_000_000)),
        )
        .failure_throttle(keygate::rate_limit::FailureThrottle::new(
            RateLimitSpec::per_minute(10),
        ))
}

/// [`two_named_limits`] and credits (more than the benchmark spends: every request pays
/// the spend and none is refused).
pub fn two_named_limits_and_credits(record: &mut KeyRecord) {
    two_named_limits(record);
    record.credits = Some(
        keygate::credits::Credits::new(
            record.id.clone(),
            keygate::credits::MAX_CREDITS,
            None,
            keygate::clock::Clock::now(&keygate::clock::SystemClock),
        )
        .unwrap_or_else(|e| fail(&format!("credits: {e}"))),
    );
}

/// The cache's key-lookup counters as `name value` lines: what `GET /stats` answers.
pub fn stats_text(store: &CachedStore<SqliteStore>) -> String {
    let k = store.stats().keys;
    format!(
        "loads {}\nhits {}\nnegative_hits {}\nmisses {}\nload_errors {}\n",
        k.loads, k.hits, k.negative_hits, k.misses, k.load_errors
    )
}

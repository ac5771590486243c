//! The fault matrix (issue 16, item 3): each cell a test, run against a real server of
//! each framework on `127.0.0.1:0` (`fault_matrix_axum.rs`, `fault_matrix_actix.rs` call
//! [`fault_matrix!`](crate::fault_matrix) with their own [`Serve`]).
//!
//! What every cell holds to, whatever fails:
//! - a key the cache does not hold answers 503 with the flat JSON body, in bounded time;
//! - a cached key answers only while fresh or within stale-if-error;
//! - an unknown, revoked or expired key never answers 200.
//!
//! How the faults are made (the PostgreSQL and Redis servers are shared: never stopped
//! or flushed, and no connection of anyone else's is touched):
//! - PostgreSQL down, coming back, slow or stalled: a [`FaultProxy`] on `127.0.0.1:0`
//!   between keygate and the server closes new connections, cuts open ones, delays or
//!   holds back bytes;
//! - the invalidation listener's own backend is ended with `pg_terminate_backend`, found
//!   by the `application_name` this test gave its connections and its `LISTEN` query;
//! - Redis: a `redis-server` of the test's own on a free port, killed with SIGKILL and
//!   started again on the same port ([`RedisServer`]).
//!
//! Every PostgreSQL cell works in a schema of its own (`kg_faults_<pid>_<n>`), dropped at
//! the end. Without `KEYGATE_TEST_POSTGRES_URL` (or `redis-server`) a cell prints why and
//! passes, except under `CI=true`, where it fails.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use keygate::clock::ManualClock;
use keygate::hash::KeyHasher;
use keygate::{KeyGate, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits};
use keygate_moka::CachedStore;
use keygate_redis::{OnRedisError, RedisRateLimiter};
use keygate_sqlx::{PostgresStore, PostgresStoreBuilder};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::cases::{UNAUTHORIZED, UNAVAILABLE};
use crate::fault_proxy::{FaultProxy, Mode};
use crate::redis_server::RedisServer;

/// How a server stops gracefully.
type Stop = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// A server started by a framework's test: its base URL and how to stop it gracefully.
pub struct Served {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stop: Option<Stop>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").field("base", &self.base).finish()
    }
}

impl Served {
    /// A running server at `base`; `stop` stops it gracefully (in-flight requests end,
    /// then it returns).
    pub fn new(
        base: String,
        stop: impl FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + 'static,
    ) -> Self {
        Self {
            base,
            stop: Some(Box::new(stop)),
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop().await;
        }
    }
}

/// Serves `GET /hello` (any valid key; answers `200 {"hello":"<key name>"}`) behind the
/// framework's keygate middleware configured with the gate.
pub type Serve = fn(KeyGate) -> Pin<Box<dyn Future<Output = Served>>>;

/// Expands to one test per cell of the matrix, each run on the server `$serve` makes,
/// under the test attribute `$test` (`tokio::test`, `actix_web::test`).
#[macro_export]
macro_rules! fault_matrix {
    ($test:meta, $serve:path) => {
        #[$test]
        async fn postgres_down_at_start_then_coming_back() {
            $crate::faults::postgres_down_at_start_then_back($serve).await;
        }
        #[$test]
        async fn postgres_down_mid_traffic_then_coming_back() {
            $crate::faults::postgres_down_mid_traffic_then_back($serve).await;
        }
        #[$test]
        async fn postgres_slow_and_stalled() {
            $crate::faults::postgres_slow_and_stalled($serve).await;
        }
        #[$test]
        async fn postgres_listener_killed() {
            $crate::faults::postgres_listener_killed($serve).await;
        }
        #[$test]
        async fn redis_down_fail_closed_then_restarted() {
            $crate::faults::redis_down_then_restarted(
                $serve,
                keygate_redis::OnRedisError::FailClosed,
            )
            .await;
        }
        #[$test]
        async fn redis_down_local_fallback_then_restarted() {
            $crate::faults::redis_down_then_restarted(
                $serve,
                keygate_redis::OnRedisError::LocalFallback,
            )
            .await;
        }
        #[$test]
        async fn graceful_shutdown_flushes_last_used_times() {
            $crate::faults::graceful_shutdown_flushes_last_used($serve).await;
        }
    };
}

// ---------------------------------------------------------------------------------
// Requests and answers

/// An answer, and how long it took.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<String>,
    /// Time to the whole answer.
    pub took: Duration,
}

/// No answer may take longer than this: a hang fails the test instead of stalling it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// `GET {base}/hello` with `Authorization: Bearer <key>`.
pub async fn hello(http: &reqwest::Client, base: &str, key: &str) -> Answer {
    let started = Instant::now();
    let res = http
        .get(format!("{base}/hello"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /hello got no answer (a hang?): {e}"));
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let remaining = header("x-ratelimit-remaining");
    let body = res.text().await.expect("the body");
    Answer {
        status,
        body,
        content_type,
        remaining,
        took: started.elapsed(),
    }
}

/// 503 with the flat body, as JSON, within `bound`.
fn assert_unavailable(what: &str, answer: &Answer, bound: Duration) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, UNAVAILABLE),
        "{what}: {answer:?}"
    );
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{what}: 503 must be JSON: {answer:?}"
    );
    assert!(
        answer.took < bound,
        "{what}: answered in {:?}, more than {bound:?}",
        answer.took
    );
}

fn assert_unauthorized(what: &str, answer: &Answer) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, UNAUTHORIZED),
        "{what}: {answer:?}"
    );
}

fn assert_ok(what: &str, answer: &Answer, name: &str) {
    let expected = serde_json::json!({ "hello": name });
    assert_eq!(answer.status, 200, "{what}: {answer:?}");
    let body: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON body");
    assert_eq!(body, expected, "{what}");
}

// ---------------------------------------------------------------------------------
// Keys

/// A stored key and its plaintext.
#[derive(Debug, Clone)]
pub struct Key {
    /// The plaintext.
    pub plain: String,
    /// The stored record.
    pub record: KeyRecord,
}

/// The keys every store cell looks up.
#[derive(Debug, Clone)]
struct Keys {
    /// Valid, looked up before the fault (cached).
    valid: Key,
    /// Valid, never looked up before the fault.
    cold: Key,
    /// Valid, for checks that must not warm `cold`.
    spare: Key,
    /// Revoked.
    revoked: Key,
    /// Expired an hour ago.
    expired: Key,
}

fn new_key(name: &str, edit: impl FnOnce(&mut KeyRecord)) -> Key {
    let (plain, mut record) =
        KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", name, "acme").expect("a key");
    record.created_at = Utc::now() - chrono::Duration::hours(2);
    edit(&mut record);
    Key {
        plain: plain.expose().to_owned(),
        record,
    }
}

/// The store is back: the same server answers right without a restart (a valid key
/// 200, revoked and unknown keys 401, and the expired key 401 when `expired`).
async fn assert_store_back(http: &reqwest::Client, base: &str, keys: &Keys, expired: bool) {
    assert_ok(
        "valid key, store back",
        &hello(http, base, &keys.valid.plain).await,
        "valid",
    );
    assert_unauthorized(
        "revoked key, store back",
        &hello(http, base, &keys.revoked.plain).await,
    );
    if expired {
        assert_unauthorized(
            "expired key, store back",
            &hello(http, base, &keys.expired.plain).await,
        );
    }
    assert_unauthorized(
        "unknown key, store back",
        &hello(http, base, &unknown_key()).await,
    );
}

/// A well-formed key that was never stored.
fn unknown_key() -> String {
    keygate::key_format::generate("sk", "live")
        .expect("a key")
        .expose()
        .to_owned()
}

impl Keys {
    async fn insert(store: &impl KeyStore) -> Self {
        let now = Utc::now();
        let keys = Self {
            valid: new_key("valid", |_| {}),
            cold: new_key("cold", |_| {}),
            spare: new_key("spare", |_| {}),
            revoked: new_key("revoked", |r| r.revoked_at = Some(now)),
            expired: new_key("expired", |r| {
                r.expires_at = Some(now - chrono::Duration::hours(1));
            }),
        };
        for key in [
            &keys.valid,
            &keys.cold,
            &keys.spare,
            &keys.revoked,
            &keys.expired,
        ] {
            store.insert(&key.record).await.expect("insert a key");
        }
        keys
    }
}

// ---------------------------------------------------------------------------------
// PostgreSQL

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// One cell's share of the PostgreSQL server: a schema of its own.
#[derive(Debug)]
struct Pg {
    url: String,
    upstream: SocketAddr,
    schema: String,
    /// The store on the server directly (another instance, or the operator).
    direct: PostgresStore,
    /// For `pg_stat_activity` and `pg_terminate_backend`.
    admin: PgPool,
}

static NEXT_SCHEMA: AtomicUsize = AtomicUsize::new(0);

impl Pg {
    /// A fresh schema, or `None` (printed) when PostgreSQL is not configured or down;
    /// under `CI=true` that fails.
    async fn new(test: &str) -> Option<Self> {
        let url = match std::env::var("KEYGATE_TEST_POSTGRES_URL") {
            Ok(url) => url,
            Err(_) => {
                assert!(
                    !in_ci(),
                    "{test}: KEYGATE_TEST_POSTGRES_URL is required when CI=true"
                );
                eprintln!("skipping {test}: KEYGATE_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        let schema = format!(
            "kg_faults_{}_{}",
            std::process::id(),
            NEXT_SCHEMA.fetch_add(1, Ordering::Relaxed)
        );
        let direct = match PostgresStore::builder(&url)
            .schema(schema.clone())
            .max_connections(2)
            .connect()
            .await
        {
            Ok(store) => store,
            Err(e) if !in_ci() => {
                eprintln!("skipping {test}: PostgreSQL unreachable: {e}");
                return None;
            }
            Err(e) => panic!("{test}: PostgreSQL is required when CI=true: {e}"),
        };
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("an admin connection");
        let parsed = reqwest::Url::parse(&url).expect("a PostgreSQL URL");
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = parsed.port().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("resolve the PostgreSQL host")
            .next()
            .expect("an address for the PostgreSQL host");
        Some(Self {
            url,
            upstream,
            schema,
            direct,
            admin,
        })
    }

    /// The application name this cell's connections through `proxy` carry.
    fn app_name(&self) -> String {
        format!("{}_via_proxy", self.schema)
    }

    /// A store builder on this schema, connecting through `proxy`.
    fn through(&self, proxy: &FaultProxy) -> PostgresStoreBuilder {
        let mut url = reqwest::Url::parse(&self.url).expect("a PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).expect("set the host");
        url.set_port(Some(proxy.addr().port()))
            .expect("set the port");
        url.query_pairs_mut()
            .append_pair("application_name", &self.app_name());
        PostgresStore::builder(url.as_str())
            .schema(self.schema.clone())
            .max_connections(4)
            .acquire_timeout(Duration::from_millis(500))
    }

    /// The backend pid of this cell's invalidation listener, if it is connected.
    async fn listener_pid(&self) -> Option<i32> {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN %'",
        )
        .bind(self.app_name())
        .fetch_optional(&self.admin)
        .await
        .expect("read pg_stat_activity")
    }

    /// Waits (up to 10 s) for a listener backend other than `not`; its pid.
    async fn wait_for_listener(&self, not: Option<i32>) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.listener_pid().await {
                Some(pid) if Some(pid) != not => return pid,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "no (new) invalidation listener within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn backend_alive(&self, pid: i32) -> bool {
        sqlx::query_scalar::<_, i32>("SELECT pid FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_optional(&self.admin)
            .await
            .expect("read pg_stat_activity")
            .is_some()
    }

    async fn drop_schema(mut self) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .execute(&self.admin)
            .await;
        self.direct.pool().close().await;
        self.admin.close().await;
        self.schema.clear();
    }
}

/// A cell that failed before `drop_schema` still drops its schema (on a thread of its
/// own: the test's runtime may be unwinding).
impl Drop for Pg {
    fn drop(&mut self) {
        if self.schema.is_empty() {
            return;
        }
        let (url, schema) = (self.url.clone(), std::mem::take(&mut self.schema));
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// Waits (polling every 20 ms, at most `limit`) until `check` holds; panics otherwise.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long a lookup through a down proxy may take: the 500 ms acquire timeout and a
/// margin for a loaded machine.
const DOWN_BOUND: Duration = Duration::from_secs(3);

/// Store down at start (no connection was ever made), then coming back: 503 JSON for
/// every key in bounded time, then the right answers without a restart.
pub async fn postgres_down_at_start_then_back(serve: Serve) {
    let Some(pg) = Pg::new("postgres down at start").await else {
        return;
    };
    let keys = Keys::insert(&pg.direct).await;
    let proxy = FaultProxy::start(pg.upstream).await;
    proxy.set(Mode::Down);
    let store = pg.through(&proxy).connect_lazy().expect("a lazy store");
    let gate = KeyGate::builder(CachedStore::new(store))
        .no_failure_throttle()
        .build();
    let server = serve(gate).await;
    let http = client();
    let unknown = unknown_key();

    for (what, key) in [
        ("valid key, store down at start", &keys.valid.plain),
        ("revoked key, store down at start", &keys.revoked.plain),
        ("expired key, store down at start", &keys.expired.plain),
        ("unknown key, store down at start", &unknown),
    ] {
        assert_unavailable(what, &hello(&http, &server.base, key).await, DOWN_BOUND);
    }

    proxy.set(Mode::Pass);
    assert_store_back(&http, &server.base, &keys, true).await;
    server.stop().await;
    pg.drop_schema().await;
}

/// One request of the background traffic: which key, whether the store was already
/// cut when it was sent, and the status.
type Seen = (&'static str, bool, u16);

/// Store going down mid-traffic, then coming back. The cache (TTL 30 s, negative TTL
/// 5 s, stale-if-error 60 s) runs on a manual clock, so "within the window" and "past
/// it" are exact.
pub async fn postgres_down_mid_traffic_then_back(serve: Serve) {
    let Some(pg) = Pg::new("postgres down mid-traffic").await else {
        return;
    };
    let keys = Keys::insert(&pg.direct).await;
    let proxy = FaultProxy::start(pg.upstream).await;
    let clock = ManualClock::at_unix(Utc::now().timestamp());
    let store = pg.through(&proxy).connect_lazy().expect("a lazy store");
    let cached = CachedStore::builder(store)
        .ttl(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .stale_if_error(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let gate = KeyGate::builder(cached)
        .clock(clock.clone())
        .no_failure_throttle()
        .build();
    let server = serve(gate).await;
    let http = client();
    let base = server.base.clone();

    // Warm the cache: a valid key, a revoked one, an unknown one (negatively cached).
    let known_unknown = unknown_key();
    assert_ok(
        "valid key, warming",
        &hello(&http, &base, &keys.valid.plain).await,
        "valid",
    );
    assert_unauthorized(
        "revoked key, warming",
        &hello(&http, &base, &keys.revoked.plain).await,
    );
    assert_unauthorized(
        "unknown key, warming",
        &hello(&http, &base, &known_unknown).await,
    );

    // Traffic: cached valid, cached revoked and never-seen unknown keys, in a loop,
    // while the store goes down under it.
    let cut = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (http, base, keys) = (http.clone(), base.clone(), keys.clone());
        let (cut, stop, seen) = (cut.clone(), stop.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let unknown = unknown_key();
                for (what, key) in [
                    ("valid", keys.valid.plain.as_str()),
                    ("revoked", keys.revoked.plain.as_str()),
                    ("unknown", unknown.as_str()),
                ] {
                    let after = cut.load(Ordering::SeqCst);
                    let status = hello(&http, &base, key).await.status;
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((what, after, status));
                }
            }
        }));
    }
    let count = |after: bool| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|(_, a, _)| *a == after)
                .count()
                >= 30
        }
    };
    eventually("traffic before the fault", Duration::from_secs(20), || {
        count(false)
    })
    .await;
    proxy.set(Mode::Down);
    proxy.cut();
    cut.store(true, Ordering::SeqCst);
    eventually("traffic during the fault", Duration::from_secs(30), || {
        count(true)
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("a traffic task");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    for (what, after, status) in &seen {
        let allowed: &[u16] = match (*what, *after) {
            // Fresh in the cache: answered from it, store or no store.
            ("valid", _) => &[200],
            ("revoked", _) => &[401],
            // Never seen: the store is asked; once it is down, 503.
            ("unknown", false) => &[401, 503],
            ("unknown", true) => &[503],
            _ => unreachable!(),
        };
        assert!(
            allowed.contains(status),
            "{what} key {} the fault: {status}, expected one of {allowed:?}",
            if *after { "after" } else { "before" }
        );
    }

    // Down, within the TTL: fresh entries answer, everything else is 503.
    assert_unavailable(
        "cold valid key, store down",
        &hello(&http, &base, &keys.cold.plain).await,
        DOWN_BOUND,
    );
    assert_unavailable(
        "expired key never looked up, store down",
        &hello(&http, &base, &keys.expired.plain).await,
        DOWN_BOUND,
    );
    assert_unauthorized(
        "unknown key negatively cached, store down",
        &hello(&http, &base, &known_unknown).await,
    );
    // Past the TTL, within stale-if-error: the known key is served stale, the revoked
    // one stays refused, the negative entry is gone (503: it cannot be told apart).
    clock.advance(chrono::Duration::seconds(40));
    assert_ok(
        "cached valid key, past TTL within stale-if-error",
        &hello(&http, &base, &keys.valid.plain).await,
        "valid",
    );
    assert_unauthorized(
        "cached revoked key, past TTL within stale-if-error",
        &hello(&http, &base, &keys.revoked.plain).await,
    );
    assert_unavailable(
        "unknown key past its negative TTL, store down",
        &hello(&http, &base, &known_unknown).await,
        DOWN_BOUND,
    );
    // Past the stale window: 503 for the cached key too.
    clock.advance(chrono::Duration::seconds(60));
    assert_unavailable(
        "cached valid key past stale-if-error",
        &hello(&http, &base, &keys.valid.plain).await,
        DOWN_BOUND,
    );

    // Coming back: the same server answers right, without a restart.
    proxy.set(Mode::Pass);
    assert_ok(
        "cold valid key, store back",
        &hello(&http, &base, &keys.cold.plain).await,
        "cold",
    );
    assert_store_back(&http, &base, &keys, true).await;
    server.stop().await;
    pg.drop_schema().await;
}

/// The store's query timeout in the slow-store cell.
const QUERY_TIMEOUT: Duration = Duration::from_millis(400);

/// A slow store (answers delayed, under the timeout) and a stalled one (connections
/// accepted, nothing answered): with the store's query timeout configured, requests
/// answer 503 in bounded time instead of hanging, a cached key within stale-if-error
/// is served, and the store's return needs no restart.
pub async fn postgres_slow_and_stalled(serve: Serve) {
    let Some(pg) = Pg::new("postgres slow and stalled").await else {
        return;
    };
    let keys = Keys::insert(&pg.direct).await;
    let proxy = FaultProxy::start(pg.upstream).await;
    let clock = ManualClock::at_unix(Utc::now().timestamp());
    let store = pg
        .through(&proxy)
        .query_timeout(Some(QUERY_TIMEOUT))
        .connect_lazy()
        .expect("a lazy store");
    let cached = CachedStore::builder(store)
        .ttl(Duration::from_secs(30))
        .stale_if_error(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let gate = KeyGate::builder(cached)
        .clock(clock.clone())
        .no_failure_throttle()
        .build();
    let server = serve(gate).await;
    let http = client();
    let base = server.base.clone();
    assert_ok(
        "valid key, warming",
        &hello(&http, &base, &keys.valid.plain).await,
        "valid",
    );

    // Slow, under the timeout: right answers, later.
    proxy.set(Mode::Delay(Duration::from_millis(30)));
    assert_ok(
        "spare valid key, slow store",
        &hello(&http, &base, &keys.spare.plain).await,
        "spare",
    );
    assert_unauthorized(
        "unknown key, slow store",
        &hello(&http, &base, &unknown_key()).await,
    );

    // Stalled: bounded 503s, never a hang.
    proxy.set(Mode::Stall);
    let bound = QUERY_TIMEOUT * 5;
    assert_unavailable(
        "cold valid key, stalled store",
        &hello(&http, &base, &keys.cold.plain).await,
        bound,
    );
    assert_unavailable(
        "unknown key, stalled store",
        &hello(&http, &base, &unknown_key()).await,
        bound,
    );
    assert_unavailable(
        "revoked key never looked up, stalled store",
        &hello(&http, &base, &keys.revoked.plain).await,
        bound,
    );
    assert_ok(
        "fresh cached key, stalled store",
        &hello(&http, &base, &keys.valid.plain).await,
        "valid",
    );
    clock.advance(chrono::Duration::seconds(40));
    let stale = hello(&http, &base, &keys.valid.plain).await;
    assert_ok(
        "cached key past TTL within stale-if-error, stalled store",
        &stale,
        "valid",
    );
    assert!(stale.took < bound, "stale answer took {:?}", stale.took);
    clock.advance(chrono::Duration::seconds(60));
    assert_unavailable(
        "cached key past stale-if-error, stalled store",
        &hello(&http, &base, &keys.valid.plain).await,
        bound,
    );

    // Back: no restart needed.
    proxy.set(Mode::Pass);
    eventually(
        "the stalled store's return",
        Duration::from_secs(10),
        || async { hello(&http, &base, &keys.cold.plain).await.status == 200 },
    )
    .await;

    // Slow inside the server: another session holds the keys table locked (a long
    // migration, a `VACUUM FULL`), so connections are fine, pings pass and every
    // lookup blocks in the server. Only the query timeout bounds it.
    let mut locker = pg.admin.begin().await.expect("begin");
    sqlx::query(&format!(
        "LOCK TABLE {}.keygate_keys IN ACCESS EXCLUSIVE MODE",
        pg.schema
    ))
    .execute(&mut *locker)
    .await
    .expect("lock the keys table");
    assert_unavailable(
        "spare valid key, keys table locked",
        &hello(&http, &base, &keys.spare.plain).await,
        bound,
    );
    assert_unavailable(
        "unknown key, keys table locked",
        &hello(&http, &base, &unknown_key()).await,
        bound,
    );
    locker.rollback().await.expect("release the lock");
    assert_ok(
        "spare valid key, lock released",
        &hello(&http, &base, &keys.spare.plain).await,
        "spare",
    );
    assert_store_back(&http, &base, &keys, false).await;
    server.stop().await;
    pg.drop_schema().await;
}

/// The invalidation listener's connection is killed (`pg_terminate_backend`) and kept
/// from reconnecting while another instance revokes a cached key; when it reconnects,
/// the revoke is applied (it drops the whole cache: messages may have been lost). A
/// second kill, with reconnection free, loses no revoke either.
pub async fn postgres_listener_killed(serve: Serve) {
    let Some(pg) = Pg::new("postgres listener killed").await else {
        return;
    };
    let keys = Keys::insert(&pg.direct).await;
    let proxy = FaultProxy::start(pg.upstream).await;
    let store = pg.through(&proxy).connect_lazy().expect("a lazy store");
    // A long TTL: only the feed can make this cache drop a revoked key in time.
    let cached = CachedStore::builder(store.clone())
        .ttl(Duration::from_secs(3600))
        .build();
    let feed = cached.follow(store.invalidations());
    let gate = KeyGate::builder(cached).no_failure_throttle().build();
    let server = serve(gate).await;
    let http = client();
    let base = server.base.clone();

    let first = pg.wait_for_listener(None).await;
    for key in [&keys.valid, &keys.spare] {
        let name = key.record.name.as_str();
        assert_ok(
            "key before the kill",
            &hello(&http, &base, &key.plain).await,
            name,
        );
    }

    // Kill the listener's backend, and refuse its reconnection for now.
    proxy.set(Mode::Down);
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(&pg.admin)
        .await
        .expect("pg_terminate_backend");
    assert!(killed, "the listener's backend {first} was not terminated");
    eventually(
        "the listener's backend ends",
        Duration::from_secs(10),
        || async { !pg.backend_alive(first).await },
    )
    .await;
    // While it is down, another instance revokes the cached key.
    pg.direct
        .revoke(&keys.valid.record.id, Utc::now())
        .await
        .expect("revoke from another instance");
    // The listener comes back: the revoke is applied.
    proxy.set(Mode::Pass);
    eventually(
        "the revoke made while the listener was down is applied",
        Duration::from_secs(20),
        || async { hello(&http, &base, &keys.valid.plain).await.status == 401 },
    )
    .await;
    assert_unauthorized(
        "revoked while the listener was down",
        &hello(&http, &base, &keys.valid.plain).await,
    );
    let second = pg.wait_for_listener(Some(first)).await;

    // Killed again, free to reconnect at once; a revoke right after is not lost.
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(second)
        .fetch_one(&pg.admin)
        .await
        .expect("pg_terminate_backend");
    assert!(killed);
    pg.direct
        .revoke(&keys.spare.record.id, Utc::now())
        .await
        .expect("revoke from another instance");
    eventually(
        "a revoke right after the listener's reconnection is applied",
        Duration::from_secs(20),
        || async { hello(&http, &base, &keys.spare.plain).await.status == 401 },
    )
    .await;
    assert_ok(
        "an unrevoked key after two reconnections",
        &hello(&http, &base, &keys.cold.plain).await,
        "cold",
    );
    feed.abort();
    server.stop().await;
    pg.drop_schema().await;
}

// ---------------------------------------------------------------------------------
// Redis

/// Redis down for the shared limiter, under each policy, then restarted on the same
/// port: with `FailClosed` a stored key gets 503 JSON while it is down; with
/// `LocalFallback` it is limited in-process (its third request within the hour is
/// 429). Unknown and revoked keys stay 401 either way (refused before the limiter).
/// After the restart the connection manager reconnects and the count is in the new
/// Redis.
pub async fn redis_down_then_restarted(serve: Serve, policy: OnRedisError) {
    let test = format!("redis down ({policy:?})");
    let Some(mut redis) = RedisServer::start(&test) else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let keys = Keys::insert(&*store).await;
    let mut limited = keys.cold.record.clone();
    limited.rate_limit = Some(RateLimitSpec::per_hour(2));
    store.update(&limited).await.expect("limit the key");
    let clock = ManualClock::at_unix(Utc::now().timestamp());
    let prefix = format!("kg_faults:{}:", std::process::id());
    let limiter = RedisRateLimiter::from_url(&redis.url())
        .expect("a Redis URL")
        .key_prefix(prefix.clone())
        .on_redis_error(policy)
        .build();
    let gate = KeyGate::builder(store.clone())
        .clock(clock.clone())
        .no_failure_throttle()
        .rate_limits(
            RateLimits::new(limiter.clone()).env_default("live", RateLimitSpec::per_hour(1000)),
        )
        .build();
    let server = serve(gate).await;
    let http = client();
    let base = server.base.clone();
    let redis_key = limiter.redis_key(&keys.cold.record.id);
    let exists = |url: String, key: String| async move {
        let client = redis::Client::open(url).expect("a Redis client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("a Redis connection");
        redis::cmd("EXISTS")
            .arg(&key)
            .query_async::<i64>(&mut conn)
            .await
            .expect("EXISTS")
            == 1
    };

    let up = hello(&http, &base, &keys.cold.plain).await;
    assert_ok("limited key, Redis up", &up, "cold");
    assert_eq!(up.remaining.as_deref(), Some("1"), "{up:?}");
    assert!(exists(redis.url(), redis_key.clone()).await);

    redis.kill();
    let bound = Duration::from_secs(3);
    match policy {
        OnRedisError::FailClosed => {
            for _ in 0..3 {
                assert_unavailable(
                    "stored key, Redis down, fail closed",
                    &hello(&http, &base, &keys.cold.plain).await,
                    bound,
                );
                // Past the 1 s back-off too: Redis is asked again, still down.
                clock.advance(chrono::Duration::seconds(2));
            }
        }
        _ => {
            // The local limiter starts from nothing: two allowed, then 429.
            for remaining in ["1", "0"] {
                let answer = hello(&http, &base, &keys.cold.plain).await;
                assert_ok("limited key, Redis down, local fallback", &answer, "cold");
                assert_eq!(answer.remaining.as_deref(), Some(remaining), "{answer:?}");
                assert!(answer.took < bound, "{answer:?}");
            }
            let over = hello(&http, &base, &keys.cold.plain).await;
            assert_eq!(over.status, 429, "{over:?}");
        }
    }
    assert_unauthorized(
        "revoked key, Redis down",
        &hello(&http, &base, &keys.revoked.plain).await,
    );
    assert_unauthorized(
        "expired key, Redis down",
        &hello(&http, &base, &keys.expired.plain).await,
    );
    assert_unauthorized(
        "unknown key, Redis down",
        &hello(&http, &base, &unknown_key()).await,
    );

    // Restarted (empty) on the same port; past the back-off the limiter uses it again.
    redis.restart();
    clock.advance(chrono::Duration::seconds(2));
    // A request counted in the restarted Redis is the sign the limiter uses it again
    // (with the local fallback a 200 alone is not).
    let spare_key = limiter.redis_key(&keys.spare.record.id);
    eventually(
        "the connection manager reconnects",
        Duration::from_secs(10),
        || async {
            clock.advance(chrono::Duration::seconds(2));
            hello(&http, &base, &keys.spare.plain).await.status == 200
                && exists(redis.url(), spare_key.clone()).await
        },
    )
    .await;
    let back = hello(&http, &base, &keys.cold.plain).await;
    assert_ok("limited key, Redis restarted", &back, "cold");
    // The new Redis holds the count (empty before: one request used).
    assert_eq!(back.remaining.as_deref(), Some("1"), "{back:?}");
    assert!(exists(redis.url(), redis_key).await);
    server.stop().await;
}

// ---------------------------------------------------------------------------------
// Graceful shutdown

/// Keys used just before a graceful shutdown have their last-used time in the store
/// after `KeyGate::shutdown` (the flush task's interval is an hour: only the shutdown
/// can have written them).
pub async fn graceful_shutdown_flushes_last_used(serve: Serve) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
    let store = keygate_sqlx::SqliteStore::connect(&url)
        .await
        .expect("a SQLite store");
    let keys = Keys::insert(&store).await;
    let gate = KeyGate::builder(store.clone())
        .flush_interval(Some(Duration::from_secs(3600)))
        .build();
    let server = serve(gate.clone()).await;
    let http = client();
    let before = Utc::now() - chrono::Duration::seconds(1);
    for key in [&keys.valid, &keys.spare, &keys.valid] {
        let name = key.record.name.as_str();
        assert_ok(
            "a key used before shutdown",
            &hello(&http, &server.base, &key.plain).await,
            name,
        );
    }
    let pending = store
        .get(&keys.valid.record.id)
        .await
        .expect("read the key")
        .expect("the key");
    assert_eq!(
        pending.last_used_at, None,
        "nothing flushed before shutdown"
    );

    server.stop().await;
    let written = gate.shutdown().await.expect("shutdown flushes");
    assert_eq!(written, 2, "one last-used time per key used");
    for key in [&keys.valid, &keys.spare] {
        let stored = store
            .get(&key.record.id)
            .await
            .expect("read the key")
            .expect("the key");
        let used = stored
            .last_used_at
            .unwrap_or_else(|| panic!("{}: no last-used time after shutdown", stored.name));
        assert!(used >= before, "{}: last used {used}", stored.name);
    }
    let unused = store
        .get(&keys.cold.record.id)
        .await
        .expect("read the key")
        .expect("the key");
    assert_eq!(unused.last_used_at, None, "an unused key has none");
}

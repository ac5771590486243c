//! Verification analytics end to end, the same for both frameworks: requests through
//! the key layer are counted, the gate's flush writes them to the store, and
//! `GET /v1/analytics/verifications` answers them; the scopes a key exercised on a
//! route with a requirement (`GET /items`, [`ITEMS_SCOPE`]) are recorded.

use std::sync::Arc;

use keygate::analytics::{Granularity, VerificationFilter, VerificationOutcome};
use keygate::{Actor, KeyGate, KeyManager, MemoryStore, NewKey, ScopeSet};
use keygate_admin::Admin;
use serde_json::Value;

/// What `GET /items` requires (each framework's test serves it).
pub const ITEMS_SCOPE: &str = "read:items";

/// A gate whose usage is flushed only when a test says so, its admin API, and keys.
#[derive(Debug, Clone)]
pub struct AnalyticsFixture {
    /// The gate.
    pub gate: KeyGate,
    /// The admin API over it.
    pub admin: Admin,
    /// The gate's manager.
    pub manager: KeyManager,
    /// `*` in acme.
    pub admin_key: String,
    /// A key that calls the API.
    pub worker_key: String,
    /// Its id.
    pub worker_id: String,
    /// A disabled key.
    pub disabled_key: String,
    /// Its id.
    pub disabled_id: String,
    /// A key allowed one request an hour.
    pub limited_key: String,
    /// Its id.
    pub limited_id: String,
}

impl AnalyticsFixture {
    /// Builds everything.
    pub async fn new() -> Self {
        let gate = KeyGate::builder(Arc::new(MemoryStore::new()))
            .flush_interval(None)
            .rate_limits(keygate::RateLimits::in_memory())
            .build();
        let manager = gate.manager();
        let sys = Actor::system();
        let make = |name: &'static str, scopes: &'static [&'static str]| {
            let manager = manager.clone();
            let sys = sys.clone();
            async move {
                manager
                    .create(
                        &sys,
                        NewKey::named(name)
                            .tenant("acme")
                            .scopes(ScopeSet::parse(scopes).expect("scopes")),
                    )
                    .await
                    .expect("a key")
            }
        };
        let admin = make("admin", &["*"]).await;
        let worker = make("worker", &["read:items"]).await;
        let disabled = make("switched off", &["read:items"]).await;
        let mut one_an_hour = NewKey::named("one an hour")
            .tenant("acme")
            .scopes(ScopeSet::parse(["read:items"]).expect("scopes"));
        one_an_hour.rate_limit = Some(keygate::RateLimitSpec::per_hour(1));
        let limited = manager.create(&sys, one_an_hour).await.expect("a key");
        manager
            .disable(&sys, &disabled.record.id)
            .await
            .expect("disable");
        Self {
            admin: Admin::for_gate(&gate),
            gate,
            manager,
            admin_key: admin.key.expose().to_owned(),
            worker_key: worker.key.expose().to_owned(),
            worker_id: worker.record.id.to_string(),
            disabled_key: disabled.key.expose().to_owned(),
            disabled_id: disabled.record.id.to_string(),
            limited_key: limited.key.expose().to_owned(),
            limited_id: limited.record.id.to_string(),
        }
    }
}

/// Sends traffic to `base`, flushes, and checks what the analytics API and the store say.
///
/// # Panics
/// On any difference, naming the framework.
pub async fn run_analytics(framework: &str, base: &str, f: &AnalyticsFixture) {
    let http = reqwest::Client::new();
    let status = |key: String| {
        let http = http.clone();
        let url = format!("{base}/v1/auth/verify");
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("a response")
                .status()
                .as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(status(f.worker_key.clone()).await, 200, "{framework}");
    }
    // A route with a requirement: the scope exercised is recorded (twice used, noted once).
    for _ in 0..2 {
        let items = http
            .get(format!("{base}/items"))
            .bearer_auth(&f.worker_key)
            .send()
            .await
            .expect("a response")
            .status()
            .as_u16();
        assert_eq!(items, 200, "{framework}");
    }
    for _ in 0..2 {
        assert_eq!(status(f.disabled_key.clone()).await, 401, "{framework}");
    }
    assert_eq!(status(f.limited_key.clone()).await, 200, "{framework}");
    for _ in 0..3 {
        assert_eq!(status(f.limited_key.clone()).await, 429, "{framework}");
    }
    let unknown = keygate::key_format::generate("sk", "live").expect("a key");
    assert_eq!(
        status(unknown.expose().to_owned()).await,
        401,
        "{framework}"
    );

    f.gate.shutdown().await.expect("flush");

    let counts = |key_id: &str| {
        let http = http.clone();
        let url = format!("{base}/v1/analytics/verifications?keyId={key_id}&granularity=minute");
        let admin_key = f.admin_key.clone();
        async move {
            let body: Value = http
                .get(url)
                .bearer_auth(admin_key)
                .send()
                .await
                .expect("a response")
                .json()
                .await
                .expect("JSON");
            let mut by_outcome = std::collections::BTreeMap::new();
            for row in body["data"].as_array().expect("data") {
                *by_outcome
                    .entry(row["outcome"].as_str().expect("outcome").to_owned())
                    .or_insert(0) += row["count"].as_u64().expect("count");
            }
            by_outcome
        }
    };
    let worker = counts(&f.worker_id).await;
    assert_eq!(worker.get("valid"), Some(&5), "{framework}: {worker:?}");
    assert_eq!(worker.len(), 1, "{framework}: {worker:?}");
    let disabled = counts(&f.disabled_id).await;
    assert_eq!(
        disabled.get("disabled"),
        Some(&2),
        "{framework}: {disabled:?}"
    );
    let limited = counts(&f.limited_id).await;
    assert_eq!(
        (limited.get("valid"), limited.get("rate_limited")),
        (Some(&1), Some(&3)),
        "{framework}: {limited:?}"
    );

    let worker_id = keygate::KeyId::parse(&f.worker_id).expect("an id");
    let used = f
        .manager
        .scope_use(&Actor::system(), &worker_id)
        .await
        .expect("scope use");
    let scopes: Vec<&str> = used.iter().map(|u| u.scope.as_str()).collect();
    assert_eq!(scopes, vec![ITEMS_SCOPE], "{framework}: {used:?}");
    // Unknown keys are no tenant's: only the operator sees them.
    let now = chrono::Utc::now();
    let all = f
        .manager
        .verification_counts(
            &Actor::system(),
            VerificationFilter::between(
                now - chrono::Duration::hours(1),
                now + chrono::Duration::hours(1),
            ),
            Granularity::Hour,
        )
        .await
        .expect("counts")
        .counts;
    let unknown: u64 = all
        .iter()
        .filter(|c| c.outcome == VerificationOutcome::Unknown)
        .map(|c| c.count)
        .sum();
    assert_eq!(unknown, 1, "{framework}: {all:?}");
}

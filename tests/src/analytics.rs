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
    /// A key granted `read:items` and `write:items` that only reads.
    pub broad_key: String,
    /// Its id.
    pub broad_id: String,
    /// A key that manages keys but holds no `write:items`.
    pub manager_key: String,
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
        let broad = make("broad", &["read:items", "write:items"]).await;
        let key_manager = make("key manager", &["*:api-keys", "read:items"]).await;
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
            broad_key: broad.key.expose().to_owned(),
            broad_id: broad.record.id.to_string(),
            manager_key: key_manager.key.expose().to_owned(),
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
    let items = http
        .get(format!("{base}/items"))
        .bearer_auth(&f.broad_key)
        .send()
        .await
        .expect("a response");
    assert_eq!(items.status().as_u16(), 200, "{framework}");
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

/// Least privilege over the admin API, after [`run_analytics`] flushed the scopes each
/// key used: the report of granted against used scopes, and a narrowed replacement
/// issued as a rotation; refused for a key that has nothing to drop, for a weaker
/// caller, and for bad input.
///
/// # Panics
/// On any difference, naming the framework.
pub async fn run_narrowing(framework: &str, base: &str, f: &AnalyticsFixture) {
    let http = reqwest::Client::new();
    let call = |key: &str, method: reqwest::Method, path: String, body: Option<Value>| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let res = request.send().await.expect("a response");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    use reqwest::Method as M;
    let broad = &f.broad_id;
    let (status, usage) = call(
        &f.admin_key,
        M::GET,
        format!("/v1/api-keys/{broad}/scope-usage"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{framework}: {usage}");
    assert_eq!(
        usage["granted"],
        serde_json::json!(["read:items", "write:items"]),
        "{framework}: {usage}"
    );
    assert_eq!(
        usage["used"][0]["scope"], ITEMS_SCOPE,
        "{framework}: {usage}"
    );
    assert_eq!(
        usage["unused"],
        serde_json::json!(["write:items"]),
        "{framework}: {usage}"
    );
    // Refusals: bad input, a caller short of the key's scopes, nothing to narrow, no key.
    for (key, path, body, expected) in [
        (
            &f.admin_key,
            format!("/v1/api-keys/{broad}/scope-usage?since=yesterday"),
            None,
            400,
        ),
        (
            &f.admin_key,
            format!("/v1/api-keys/{broad}/narrow"),
            Some(serde_json::json!({"since": "yesterday"})),
            422,
        ),
        (
            &f.admin_key,
            format!("/v1/api-keys/{broad}/narrow"),
            Some(serde_json::json!({"gracePeriod": "1 year"})),
            422,
        ),
        (
            &f.manager_key,
            format!("/v1/api-keys/{broad}/narrow"),
            Some(serde_json::json!({})),
            403,
        ),
        (
            &f.admin_key,
            format!("/v1/api-keys/{}/narrow", f.worker_id),
            Some(serde_json::json!({})),
            409,
        ),
        (
            &f.admin_key,
            "/v1/api-keys/key_nosuchkey/narrow".to_owned(),
            Some(serde_json::json!({})),
            404,
        ),
    ] {
        let method = if path.ends_with("narrow") {
            M::POST
        } else {
            M::GET
        };
        let (status, answer) = call(key, method, path.clone(), body).await;
        assert_eq!(status, expected, "{framework}: {path} -> {answer}");
    }
    let (status, narrowed) = call(
        &f.admin_key,
        M::POST,
        format!("/v1/api-keys/{broad}/narrow"),
        Some(serde_json::json!({"gracePeriod": "1h"})),
    )
    .await;
    assert_eq!(status, 201, "{framework}: {narrowed}");
    assert_eq!(
        narrowed["scopes"],
        serde_json::json!([ITEMS_SCOPE]),
        "{framework}: {narrowed}"
    );
    let new_key = narrowed["key"].as_str().expect("the new key").to_owned();
    for key in [&new_key, &f.broad_key] {
        let (status, _) = call(key, M::GET, "/items".to_owned(), None).await;
        assert_eq!(
            status, 200,
            "{framework}: the new key, and the old one in its grace period"
        );
    }
    let (_, old) = call(&f.admin_key, M::GET, format!("/v1/api-keys/{broad}"), None).await;
    assert_eq!(old["replacedBy"], narrowed["id"], "{framework}: {old}");
    let (_, log) = call(
        &f.admin_key,
        M::GET,
        "/v1/audit-logs?action=key.narrow&outcome=success".to_owned(),
        None,
    )
    .await;
    assert_eq!(
        log["data"][0]["reason"], "dropped write:items",
        "{framework}: {log}"
    );
}

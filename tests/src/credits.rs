//! Credits end to end, the same for both frameworks: balances set over the admin API
//! (only with `admin:credits`, never on the caller's own key), spent per route cost
//! (`POST /v1/scans` 5, `GET /free` 0, anything else 1), 429 `usage_exceeded` problems
//! with `Retry-After` until the refill, settled into the store at shutdown, and counted
//! in the analytics.

use std::sync::Arc;

use keygate::credits::RouteCosts;
use keygate::render::ProblemRenderer;
use keygate::{Actor, KeyGate, MemoryStore, NewKey, ScopeSet};
use keygate_admin::Admin;
use serde_json::{json, Value};

/// What `POST /v1/scans` costs (each framework's test serves the route).
pub const SCAN_COST: u64 = 5;

/// A gate with route costs and problem+json errors, its admin API, an admin key (`*`:
/// it may set credits) and a writer key (manages keys, but not credits).
#[derive(Debug, Clone)]
pub struct CreditsFixture {
    /// The gate.
    pub gate: KeyGate,
    /// The admin API over it.
    pub admin: Admin,
    /// `*` in acme.
    pub admin_key: String,
    /// `*:api-keys` and `read` in acme: no `admin:credits`.
    pub writer_key: String,
}

impl CreditsFixture {
    /// Builds everything.
    pub async fn new() -> Self {
        let costs = RouteCosts::new()
            .route("POST /v1/scans", SCAN_COST)
            .and_then(|c| c.route("GET /free", 0))
            .expect("routes");
        let gate = KeyGate::builder(Arc::new(MemoryStore::new()))
            .flush_interval(None)
            .renderer(ProblemRenderer::new())
            .costs(costs)
            .build();
        let make = |name: &str, scopes: &[&'static str]| {
            let (gate, name, scopes) = (gate.clone(), name.to_owned(), scopes.to_vec());
            async move {
                gate.manager()
                    .create(
                        &Actor::system(),
                        NewKey::named(name)
                            .tenant("acme")
                            .scopes(ScopeSet::parse(scopes).expect("scopes")),
                    )
                    .await
                    .expect("a key")
                    .key
                    .expose()
                    .to_owned()
            }
        };
        let admin_key = make("admin", &["*"]).await;
        let writer_key = make("writer", &["*:api-keys", "read"]).await;
        Self {
            admin: Admin::for_gate(&gate),
            gate,
            admin_key,
            writer_key,
        }
    }
}

/// Runs the scenario against `base`: the admin API, `GET`/`POST /v1/scans` and
/// `GET /free`, all behind the gate.
///
/// # Panics
/// On any difference, naming the framework.
pub async fn run_credits(framework: &str, base: &str, f: &CreditsFixture) {
    let http = reqwest::Client::new();
    // One admin call as `caller`: method, path and JSON body in; status and body out.
    let call_admin = |caller: String, method: reqwest::Method, path: String, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let res = http
                .request(method, url)
                .bearer_auth(caller)
                .json(&body)
                .send()
                .await
                .expect("a response");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let admin = |method, path, body| call_admin(f.admin_key.clone(), method, path, body);
    let create = |body: Value| admin(reqwest::Method::POST, "/v1/api-keys".to_owned(), body);
    let count_keys = || async {
        let (_, list) = admin(reqwest::Method::GET, "/v1/api-keys".to_owned(), Value::Null).await;
        list["data"].as_array().map_or(0, Vec::len)
    };
    let keys_before = count_keys().await;

    // Bad credits are refused, naming what is wrong; nothing is made.
    for (credits, needle) in [
        (json!({"remaining": -1}), "whole number"),
        (json!({"remaining": 9_007_199_254_740_993_u64}), "at most"),
        (json!({"remaining": 1.5}), "whole number"),
        (
            json!({"remaining": 5, "refill": {"interval": "weekly", "amount": 5}}),
            "weekly",
        ),
        (
            json!({"remaining": 5, "refill": {"interval": "daily", "amount": 5, "day": 3}}),
            "monthly refills only",
        ),
        (
            json!({"remaining": 5, "refill": {"interval": "monthly", "amount": 5, "day": 32}}),
            "day",
        ),
        (json!({"remaining": 5, "spent": 1}), "spent"),
        (json!("5"), "CreditsInput"),
    ] {
        let (status, body) = create(json!({"name": "bad", "credits": credits})).await;
        assert_eq!(status, 422, "{framework}: {credits} -> {body}");
        assert!(
            body.to_string().contains(needle),
            "{framework}: {credits} -> {body}"
        );
    }
    assert_eq!(count_keys().await, keys_before, "{framework}: nothing made");

    // A key without admin:credits cannot give credits.
    let (status, body) = call_admin(
        f.writer_key.clone(),
        reqwest::Method::POST,
        "/v1/api-keys".to_owned(),
        json!({"name": "free", "scopes": ["read"], "credits": {"remaining": 1000000}}),
    )
    .await;
    assert_eq!(status, 403, "{framework}: {body}");
    assert!(
        body.to_string().contains("admin:credits"),
        "{framework}: {body}"
    );

    // A metered key: 7 uses, refilled to 7 every day.
    let (status, made) = create(json!({
        "name": "metered",
        "scopes": ["read"],
        "credits": {"remaining": 7, "refill": {"interval": "daily", "amount": 7}},
    }))
    .await;
    assert_eq!(status, 201, "{framework}: {made}");
    assert_eq!(made["credits"]["remaining"], 7, "{framework}: {made}");
    assert_eq!(made["credits"]["refill"], "daily:7", "{framework}: {made}");
    assert_eq!(
        made["credits"]["account"], made["id"],
        "{framework}: {made}"
    );
    let refills_at = made["credits"]["refillsAt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(refills_at.ends_with("T00:00:00Z"), "{framework}: {made}");
    let key = made["key"].as_str().expect("the key").to_owned();
    let id = made["id"].as_str().expect("an id").to_owned();

    let request = |method: reqwest::Method, path: &'static str, key: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            http.request(method, url)
                .bearer_auth(key)
                .send()
                .await
                .expect("a response")
        }
    };
    let status_of =
        |method, path, key| async move { request(method, path, key).await.status().as_u16() };
    use reqwest::Method as M;
    assert_eq!(
        status_of(M::POST, "/v1/scans", key.clone()).await,
        200,
        "{framework}: 7 -> 2"
    );
    let refused = request(M::POST, "/v1/scans", key.clone()).await;
    assert_eq!(refused.status().as_u16(), 429, "{framework}: 2 < 5");
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{framework}: no Retry-After"));
    assert!(
        (1..=86_400).contains(&retry_after),
        "{framework}: {retry_after}"
    );
    assert_eq!(
        refused.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..]),
        "{framework}"
    );
    let body: Value = refused.json().await.expect("a problem body");
    assert_eq!(body["code"], "usage_exceeded", "{framework}: {body}");
    assert_eq!(body["status"], 429, "{framework}: {body}");
    assert_eq!(body["retryAfter"], retry_after, "{framework}: {body}");
    assert_eq!(
        status_of(M::GET, "/free", key.clone()).await,
        200,
        "{framework}: cost 0"
    );
    assert_eq!(
        status_of(M::GET, "/v1/scans", key.clone()).await,
        200,
        "{framework}: 2 -> 1"
    );
    assert_eq!(
        status_of(M::GET, "/v1/scans", key.clone()).await,
        200,
        "{framework}: 1 -> 0"
    );
    assert_eq!(
        status_of(M::GET, "/v1/scans", key.clone()).await,
        429,
        "{framework}: 0"
    );
    assert_eq!(
        status_of(M::GET, "/free", key.clone()).await,
        200,
        "{framework}: cost 0 at 0"
    );

    // The spends reach the store at the flush; the key's view says so.
    f.gate.shutdown().await.expect("flush");
    let key_path = format!("/v1/api-keys/{id}");
    let (_, view) = admin(M::GET, key_path.clone(), Value::Null).await;
    assert_eq!(view["credits"]["remaining"], 0, "{framework}: {view}");

    // Only admin:credits sets credits, and never on its own key.
    let (status, body) = call_admin(
        f.writer_key.clone(),
        M::PATCH,
        key_path.clone(),
        json!({"credits": {"remaining": 1000}}),
    )
    .await;
    assert_eq!(status, 403, "{framework}: {body}");
    let (_, me) = admin(M::GET, "/v1/auth/me".to_owned(), Value::Null).await;
    let own = me["key"]["id"]
        .as_str()
        .expect("the caller's key id")
        .to_owned();
    let (status, body) = admin(
        M::PATCH,
        format!("/v1/api-keys/{own}"),
        json!({"credits": {"remaining": 5}}),
    )
    .await;
    assert_eq!(status, 403, "{framework}: {body}");
    assert!(
        body.to_string().contains("own credits"),
        "{framework}: {body}"
    );

    // A new balance applies at once; null removes the credits.
    let (status, view) = admin(
        M::PATCH,
        key_path.clone(),
        json!({"credits": {"remaining": 3}}),
    )
    .await;
    assert_eq!(
        (status, &view["credits"]["remaining"]),
        (200, &json!(3)),
        "{framework}: {view}"
    );
    assert!(view["credits"]["refill"].is_null(), "{framework}: {view}");
    for expected in [200, 200, 200, 429] {
        assert_eq!(
            status_of(M::GET, "/v1/scans", key.clone()).await,
            expected,
            "{framework}"
        );
    }
    let (status, view) = admin(M::PATCH, key_path.clone(), json!({"credits": null})).await;
    assert_eq!(
        (status, &view["credits"]),
        (200, &Value::Null),
        "{framework}: {view}"
    );
    for _ in 0..10 {
        assert_eq!(
            status_of(M::POST, "/v1/scans", key.clone()).await,
            200,
            "{framework}"
        );
    }

    // Refusals for credits are their own outcome in the analytics.
    f.gate.shutdown().await.expect("flush");
    let (status, counts) = admin(
        M::GET,
        format!("/v1/analytics/verifications?keyId={id}&granularity=day"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{framework}: {counts}");
    let exceeded: u64 = counts["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["outcome"] == "usage_exceeded")
        .filter_map(|c| c["count"].as_u64())
        .sum();
    assert_eq!(exceeded, 3, "{framework}: {counts}");
}

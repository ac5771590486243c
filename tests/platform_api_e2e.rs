//! End-to-end test of `examples/platform_api` (NeuroAI's documented contract, seed
//! 003): the service runs as a process on a free port over a temporary SQLite file,
//! keys and roles are made by the real `keygate` CLI, and every answer is checked over
//! HTTP with its exact status and body.

use std::time::{Duration, Instant};

use keygate_http_tests::process::{Reply, RunningService, TempDb};
use reqwest::{Client, Method};
use serde_json::{json, Value};

/// `{"error":{"code","message","details"}}`, in that order.
fn nested(code: &str, message: &str, details: &str) -> String {
    format!(r#"{{"error":{{"code":"{code}","message":"{message}","details":"{details}"}}}}"#)
}

fn missing() -> String {
    nested(
        "missing_api_key",
        "Missing API key",
        "No API key was provided with the request",
    )
}

fn invalid() -> String {
    nested(
        "invalid_api_key",
        "Invalid API key",
        "The API key provided is invalid or has been revoked",
    )
}

/// The gate's 403 for a route requirement the key does not meet.
fn insufficient(action: &str, resource: &str) -> String {
    nested(
        "insufficient_scope",
        "Insufficient permissions",
        &format!("This API key does not have '{action}' permission for {resource}"),
    )
}

/// The admin API's 403 for a key without a management scope.
/// A route's missing scope, as the service's renderer (specific codes) words it for the
/// key layer and the admin API alike.
fn needs_scope(scope: &str) -> String {
    let (action, resource) = scope.split_once(':').unwrap_or((scope, ""));
    nested(
        "insufficient_scope",
        "Insufficient permissions",
        &format!("This API key does not have '{action}' permission for {resource}"),
    )
}

/// The privilege ceiling's 403.
fn ceiling() -> String {
    nested(
        "forbidden",
        "Insufficient permissions",
        "a key cannot be given scopes its creator does not hold",
    )
}

struct Platform {
    db: TempDb,
    svc: RunningService,
    client: Client,
}

impl Platform {
    /// A fresh database and a running service (which seeds the four roles: keys with
    /// a role can be made only after).
    fn start(name: &str) -> Self {
        let db = TempDb::new(name);
        let svc = RunningService::start("example-platform-api", &db, &[]);
        Self {
            db,
            svc,
            client: Client::new(),
        }
    }

    /// `keygate keys create --name NAME --prefix nai --env prod --tenant neuro <args>`.
    fn key(&self, name: &str, args: &[&str]) -> (String, String) {
        let mut all = vec![
            "--name", name, "--prefix", "nai", "--env", "prod", "--tenant", "neuro",
        ];
        all.extend_from_slice(args);
        self.db.create_key(&all)
    }

    /// A personal key of `owner` with `role`.
    fn personal(&self, owner: &str, role: &str) -> (String, String) {
        self.key(
            &format!("{owner} ({role})"),
            &["--kind", "personal", "--owner", owner, "--role", role],
        )
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.svc.at(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::of(req).await
    }

    async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// Calls `GET path` with `key` until the status is `status` (at most 3 s): for
    /// changes made by the CLI, which reach the service's cache within about a second.
    async fn poll_until(&self, path: &str, key: &str, status: u16) -> Reply {
        let started = Instant::now();
        loop {
            let r = self.get(path, key).await;
            if r.status == status || started.elapsed() > Duration::from_secs(3) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The audit log as seen by `key`, oldest first.
    async fn audit(&self, key: &str, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/audit-logs{query}"), key).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["data"]
            .as_array()
            .cloned()
            .expect("an array field")
    }
}

fn assert_refused(r: &Reply, status: u16, body: &str) {
    assert_eq!((r.status, r.body.as_str()), (status, body));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

fn field(v: &Value, name: &str) -> String {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
        .to_owned()
}

#[tokio::test]
async fn roles_guard_the_resource_routes() {
    let p = Platform::start("platform-roles");
    // The four roles exist once the service has started.
    let roles = p.db.keygate_json(&["roles", "list"]);
    let scopes_of = |name: &str| -> Value {
        roles
            .as_array()
            .and_then(|all| all.iter().find(|r| r["name"] == name))
            .map(|r| r["scopes"].clone())
            .unwrap_or_else(|| panic!("no role {name} in {roles}"))
    };
    assert_eq!(
        scopes_of("viewer"),
        json!(["read:agents", "read:telemetry"])
    );
    assert_eq!(
        scopes_of("developer"),
        json!(["read:agents", "write:agents", "read:telemetry"])
    );
    assert_eq!(scopes_of("administrator"), json!(["admin"]));
    assert_eq!(
        scopes_of("api_manager"),
        json!([
            "read:api-keys",
            "write:api-keys",
            "delete:api-keys",
            "read:audit-logs",
            "read:agents",
            "read:telemetry"
        ])
    );

    let (viewer, _) = p.personal("vic", "viewer");
    let (developer, developer_id) = p.personal("dev", "developer");
    let (manager, _) = p.personal("bob", "api_manager");
    let (admin, _) = p.key("Ops", &["--kind", "team", "--role", "administrator"]);

    // Viewer: read only.
    let r = p.get("/v1/agents", &viewer).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"data":[],"object":"list"}"#)
    );
    let r = p
        .post("/v1/agents", &viewer, json!({"name": "triage"}))
        .await;
    assert_refused(&r, 403, &insufficient("write", "agents"));
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="write:agents""#)
    );

    // Developer: create and modify agents, not delete them.
    let r = p
        .post(
            "/v1/agents",
            &developer,
            json!({"name": "triage", "model": "m1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let agent = r.json();
    let id = field(&agent, "id");
    assert_eq!(
        (&agent["name"], &agent["createdBy"]),
        (&json!("triage"), &json!(developer_id))
    );
    let one = format!("/v1/agents/{id}");
    let r = p
        .call(
            Method::PATCH,
            &one,
            Some(&developer),
            Some(json!({"model": "m2"})),
        )
        .await;
    assert_eq!((r.status, r.json()["model"].clone()), (200, json!("m2")));
    let r = p.get(&one, &viewer).await;
    assert_eq!((r.status, r.json()["model"].clone()), (200, json!("m2")));
    let r = p.call(Method::DELETE, &one, Some(&developer), None).await;
    assert_refused(&r, 403, &insufficient("delete", "agents"));

    // API manager: reads agents, manages keys, writes no agents.
    assert_eq!(p.get("/v1/agents", &manager).await.status, 200);
    let r = p.post("/v1/agents", &manager, json!({})).await;
    assert_refused(&r, 403, &insufficient("write", "agents"));

    // Administrator: everything.
    let r = p.call(Method::DELETE, &one, Some(&admin), None).await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"id": id, "object": "agent", "deleted": true}))
    );
    let r = p.get(&one, &admin).await;
    assert_refused(
        &r,
        404,
        &nested("not_found", "Not found", &format!("No agent with id {id}")),
    );

    // A service key sends telemetry; viewers read it.
    let (ingest, _) = p.key(
        "Telemetry shipper",
        &["--kind", "service", "--scopes", "write:telemetry"],
    );
    let r = p
        .post(
            "/v1/telemetry",
            &ingest,
            json!({"metric": "latency_ms", "value": 42}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["metric"].clone()),
        (202, json!("latency_ms"))
    );
    let r = p.get("/v1/telemetry", &ingest).await;
    assert_refused(&r, 403, &insufficient("read", "telemetry"));
    let r = p.get("/v1/telemetry", &viewer).await;
    assert_eq!(r.json()["data"][0]["value"], 42);

    // A custom role, made with the CLI while the service runs.
    let out = p.db.keygate(&[
        "roles",
        "create",
        "auditor",
        "--scopes",
        "read:audit-logs,read:agents",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (auditor, _) = p.personal("aud", "auditor");
    assert_eq!(p.get("/v1/audit-logs", &auditor).await.status, 200);
    assert_eq!(p.get("/v1/agents", &auditor).await.status, 200);
    let r = p.get("/v1/telemetry", &auditor).await;
    assert_refused(&r, 403, &insufficient("read", "telemetry"));
    let r = p.get("/v1/audit-logs", &viewer).await;
    assert_refused(&r, 403, &needs_scope("read:audit-logs"));

    // Redefining a role changes its keys (resolved at verify time; the CLI's change
    // reaches the service's cache within about a second).
    let out =
        p.db.keygate(&["roles", "update", "viewer", "--scopes", "read:agents"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = p.poll_until("/v1/telemetry", &viewer, 403).await;
    assert_refused(&r, 403, &insufficient("read", "telemetry"));
    assert_eq!(p.get("/v1/agents", &viewer).await.status, 200);
}

#[tokio::test]
async fn bearer_or_query_parameter_with_the_key_hidden_from_handlers() {
    let p = Platform::start("platform-query");
    let (key, id) = p.key(
        "CI",
        &[
            "--kind",
            "team",
            "--owner",
            "platform-team",
            "--role",
            "developer",
        ],
    );
    let (other, _) = p.personal("vic", "viewer");

    // Query parameter: authenticated, and the handler never sees the key.
    let r = Reply::of(
        p.client
            .get(p.svc.at(&format!("/v1/echo?x=1&api_key={key}&y=2"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"keyId": id, "kind": "team", "owner": "platform-team", "role": "developer", "authorization": null, "query": "x=1&y=2"})
    );
    let r = Reply::of(p.client.get(p.svc.at(&format!("/v1/echo?api_key={key}")))).await;
    assert_eq!((r.status, r.json()["query"].clone()), (200, Value::Null));
    // Bearer header: the handler does not see it either.
    let r = p.get("/v1/echo?x=1", &key).await;
    assert_eq!(
        (
            r.status,
            r.json()["authorization"].clone(),
            r.json()["query"].clone()
        ),
        (200, Value::Null, json!("x=1"))
    );
    // The admin API works with the query parameter too (it never sees `api_key`).
    let r = Reply::of(
        p.client
            .get(p.svc.at(&format!("/v1/auth/verify?api_key={key}"))),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({
                "valid": true,
                "keyId": id,
                "tenant": "neuro",
                "env": "prod",
                "scopes": ["read:agents", "write:agents", "read:telemetry"],
                "expiresAt": null,
                "rateLimit": null,
            })
        )
    );
    let r = Reply::of(
        p.client
            .post(p.svc.at(&format!("/v1/agents?api_key={key}")))
            .json(&json!({"name": "q"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Two different keys in one request: refused.
    let r = Reply::of(
        p.client
            .get(p.svc.at(&format!("/v1/echo?api_key={other}")))
            .bearer_auth(&key),
    )
    .await;
    assert_refused(
        &r,
        400,
        &nested(
            "conflicting_api_keys",
            "Conflicting API keys",
            "Send exactly one API key per request",
        ),
    );
}

#[tokio::test]
async fn missing_invalid_revoked_expired_and_rate_limited_keys() {
    let p = Platform::start("platform-401");
    let (key, id) = p.personal("ada", "viewer");
    // Made by the CLI's defaults: prefix `sk`, env `live`: not keys of this API.
    let (foreign, _) =
        p.db.create_key(&["--name", "sk", "--tenant", "neuro", "--scopes", "admin"]);
    let elsewhere = TempDb::new("platform-401-elsewhere");
    let (unknown, _) = elsewhere.create_key(&[
        "--name", "x", "--prefix", "nai", "--env", "prod", "--scopes", "admin",
    ]);
    let (staging, _) = p.db.create_key(&[
        "--name", "staging", "--prefix", "nai", "--env", "staging", "--tenant", "neuro",
        "--scopes", "admin",
    ]);
    let (dev, _) = p.db.create_key(&[
        "--name",
        "dev",
        "--prefix",
        "nai",
        "--env",
        "dev",
        "--tenant",
        "neuro",
        "--scopes",
        "read:agents",
    ]);
    assert!(dev.starts_with("nai_dev_"));
    assert_eq!(p.get("/v1/agents", &dev).await.status, 200);

    let r = p.call(Method::GET, "/v1/agents", None, None).await;
    assert_refused(&r, 401, &missing());
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for bad in ["nai_prod_abc", "not-a-key", &foreign, &unknown, &staging] {
        let r = p.get("/v1/agents", bad).await;
        assert_refused(&r, 401, &invalid());
        let r = Reply::of(p.client.get(p.svc.at(&format!("/v1/agents?api_key={bad}")))).await;
        assert_refused(&r, 401, &invalid());
    }

    // Revoked with the CLI while the service runs.
    assert_eq!(p.get("/v1/agents", &key).await.status, 200);
    let out = p.db.keygate(&["keys", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = p.poll_until("/v1/agents", &key, 401).await;
    assert_refused(&r, 401, &invalid());

    // Per-key rate limit: state in /v1/auth/verify and the headers, then 429.
    let (limited, _) = p.key("limited", &["--role", "viewer", "--rate-limit", "2/h"]);
    let r = p.get("/v1/auth/verify", &limited).await;
    assert_eq!(
        (r.status, r.header("x-ratelimit-remaining")),
        (200, Some("1"))
    );
    assert_eq!(
        (
            r.json()["rateLimit"]["limit"].clone(),
            r.json()["rateLimit"]["remaining"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(
        p.get("/v1/agents", &limited)
            .await
            .header("x-ratelimit-remaining"),
        Some("0")
    );
    let r = p.get("/v1/agents", &limited).await;
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {} {}", r.status, r.body));
    assert!((1790..=1800).contains(&retry), "{retry}");
    assert_eq!(
        (r.status, r.body.clone()),
        (
            429,
            format!(
                r#"{{"error":{{"code":"rate_limit_exceeded","message":"Rate limit exceeded","details":"Rate limit will reset in {retry} seconds","retryAfter":{retry}}}}}"#
            )
        )
    );

    // Expired: made to last 1 s; wait until just past its expiry (at most 2 s).
    let made = p.db.keygate_json(&[
        "keys",
        "create",
        "--name",
        "short",
        "--prefix",
        "nai",
        "--env",
        "prod",
        "--tenant",
        "neuro",
        "--role",
        "viewer",
        "--expires-in",
        "1s",
    ]);
    let expires_at = made["expiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no expiresAt in {made}"));
    let left = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .expect("a string field");
    tokio::time::sleep((left + Duration::from_millis(50)).min(Duration::from_secs(2))).await;
    let r = p.get("/v1/auth/verify", &field(&made, "key")).await;
    assert_refused(
        &r,
        401,
        &nested(
            "expired_api_key",
            "Expired API key",
            "The API key provided has expired",
        ),
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token", error_description="The API key has expired""#)
    );
}

#[tokio::test]
async fn ip_and_referrer_restrictions() {
    let p = Platform::start("platform-context");
    let (office_only, _) = p.key(
        "office",
        &["--role", "viewer", "--allowed-ips", "10.0.0.0/8"],
    );
    let (local, _) = p.key(
        "local",
        &["--role", "viewer", "--allowed-ips", "127.0.0.1,10.0.0.0/8"],
    );
    let (web, _) = p.key(
        "web",
        &[
            "--role",
            "viewer",
            "--allowed-referrers",
            "app.neuro.example,*.neuro.dev",
        ],
    );

    // The test connects from 127.0.0.1.
    let r = p.get("/v1/agents", &office_only).await;
    assert_refused(
        &r,
        403,
        &nested(
            "ip_not_allowed",
            "Access denied",
            "This API key may not be used from this IP address",
        ),
    );
    assert_eq!(p.get("/v1/agents", &local).await.status, 200);

    let referrer_refused = nested(
        "referrer_not_allowed",
        "Access denied",
        "This API key may not be used from this referrer",
    );
    assert_refused(&p.get("/v1/agents", &web).await, 403, &referrer_refused);
    let with_referer = |referer: &'static str| {
        Reply::of(
            p.client
                .get(p.svc.at("/v1/agents"))
                .bearer_auth(&web)
                .header("referer", referer),
        )
    };
    assert_refused(
        &with_referer("https://evil.example/app.neuro.example").await,
        403,
        &referrer_refused,
    );
    assert_refused(
        &with_referer("https://app.neuro.example.evil.io/").await,
        403,
        &referrer_refused,
    );
    assert_eq!(
        with_referer("https://app.neuro.example/dashboard")
            .await
            .status,
        200
    );
    assert_eq!(with_referer("https://eu.neuro.dev/").await.status, 200);

    // The same restrictions set over the admin API.
    let (admin, _) = p.key("admin", &["--kind", "team", "--role", "administrator"]);
    let r = p
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "vpn only", "role": "viewer", "allowedIps": ["10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["allowedIps"].clone()),
        (201, json!(["10.0.0.0/8"]))
    );
    let r = p.get("/v1/agents", &field(&r.json(), "key")).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (403, json!("ip_not_allowed"))
    );
}

#[tokio::test]
async fn key_management_over_http() {
    let p = Platform::start("platform-admin");
    let (admin, admin_id) = p.key("Ops", &["--kind", "team", "--role", "administrator"]);
    let (developer, developer_id) = p.personal("dev", "developer");

    // Create: the key is in this answer only.
    let r = p
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "Production CI/CD", "description": "Deploys agents", "kind": "team", "role": "developer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let (key, id) = (field(&created, "key"), field(&created, "id"));
    assert!(key.starts_with("nai_prod_"), "{key}");
    assert_eq!(
        (
            &created["kind"],
            &created["role"],
            &created["tenant"],
            &created["createdBy"]
        ),
        (
            &json!("team"),
            &json!("developer"),
            &json!("neuro"),
            &json!(admin_id)
        )
    );
    let r = p.get(&format!("/v1/api-keys/{id}"), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (
            r.json().get("key").cloned(),
            r.json()["status"].clone(),
            r.json()["description"].clone()
        ),
        (None, json!("active"), json!("Deploys agents"))
    );
    let r = p.get("/v1/api-keys", &admin).await;
    let listed = r.json()["data"]
        .as_array()
        .cloned()
        .expect("an array field");
    assert!(listed.iter().any(|k| k["id"] == id.as_str()), "{listed:?}");
    assert!(listed.iter().all(|k| k.get("key").is_none()));
    assert_eq!(
        p.post("/v1/agents", &key, json!({"name": "a"}))
            .await
            .status,
        201
    );
    // Environments are kept apart: a prod admin cannot mint a dev key…
    let r = p
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "dev", "env": "dev", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // …a development admin makes development keys (its environment by default).
    let (dev_admin, _) = p.db.create_key(&[
        "--name",
        "Dev ops",
        "--prefix",
        "nai",
        "--env",
        "dev",
        "--tenant",
        "neuro",
        "--kind",
        "team",
        "--role",
        "administrator",
    ]);
    let r = p
        .post(
            "/v1/api-keys",
            &dev_admin,
            json!({"name": "dev", "role": "viewer"}),
        )
        .await;
    assert!(
        field(&r.json(), "key").starts_with("nai_dev_"),
        "{}",
        r.body
    );

    // Update: name and role; applies at once.
    let r = p
        .call(
            Method::PATCH,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            Some(json!({"name": "CI (read-only)", "role": "viewer"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["name"].clone(), r.json()["role"].clone()),
        (200, json!("CI (read-only)"), json!("viewer"))
    );
    let r = p.post("/v1/agents", &key, json!({})).await;
    assert_refused(&r, 403, &insufficient("write", "agents"));

    // Rotate with no grace period: a new key now, the old one invalid.
    let r = p
        .post(
            &format!("/v1/api-keys/{id}/rotate"),
            &admin,
            json!({"gracePeriod": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (new_key, new_id) = (field(&r.json(), "key"), field(&r.json(), "id"));
    assert_ne!(new_id, id);
    assert_eq!(
        (r.json()["name"].clone(), r.json()["role"].clone()),
        (json!("CI (read-only)"), json!("viewer"))
    );
    assert_refused(&p.get("/v1/agents", &key).await, 401, &invalid());
    assert_eq!(p.get("/v1/agents", &new_key).await.status, 200);
    let r = p.get(&format!("/v1/api-keys/{id}"), &admin).await;
    assert_eq!(r.json()["replacedBy"], new_id.as_str());

    // Delete: revoked at once.
    let r = p
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{new_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("revoked"))
    );
    assert_refused(&p.get("/v1/agents", &new_key).await, 401, &invalid());
    let r = p.get("/v1/api-keys/key_0000000000000000", &admin).await;
    assert_refused(
        &r,
        404,
        &nested("not_found", "Not found", "No API key with this id"),
    );

    // Keys without management scopes: 403 on every management route.
    for (method, path, scope) in [
        (Method::POST, "/v1/api-keys".to_owned(), "write:api-keys"),
        (Method::GET, "/v1/api-keys".to_owned(), "read:api-keys"),
        (
            Method::GET,
            format!("/v1/api-keys/{admin_id}"),
            "read:api-keys",
        ),
        (
            Method::PATCH,
            format!("/v1/api-keys/{admin_id}"),
            "write:api-keys",
        ),
        (
            Method::POST,
            format!("/v1/api-keys/{admin_id}/rotate"),
            "write:api-keys",
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{admin_id}"),
            "delete:api-keys",
        ),
        (Method::GET, "/v1/audit-logs".to_owned(), "read:audit-logs"),
    ] {
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({"name": "x"}));
        let r = p.call(method.clone(), &path, Some(&developer), body).await;
        assert_refused(&r, 403, &needs_scope(scope));
    }
    // Any valid key may check itself.
    let r = p.get("/v1/auth/verify", &developer).await;
    assert_eq!(
        (r.status, r.json()["keyId"].clone()),
        (200, json!(developer_id))
    );
    let r = p.get("/v1/auth/me", &developer).await;
    assert_eq!(
        (
            r.json()["user"]["id"].clone(),
            r.json()["user"]["role"].clone()
        ),
        (json!("dev"), json!("developer"))
    );

    // Every change is in the audit log, with the acting key and the client IP.
    let events = p.audit(&admin, "").await;
    let find = |action: &str, target: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["target"] == target)
            .unwrap_or_else(|| panic!("no {action} of {target} in {events:?}"))
            .clone()
    };
    for (action, target) in [
        ("key.create", &id),
        ("key.update", &id),
        ("key.rotate", &id),
        ("key.revoke", &new_id),
    ] {
        let e = find(action, target);
        assert_eq!(
            (&e["actor"], &e["outcome"], &e["clientIp"]),
            (&json!(admin_id), &json!("success"), &json!("127.0.0.1")),
            "{e}"
        );
    }
    // CLI-made keys are audited too (no acting key).
    let e = find("key.create", &developer_id);
    assert_eq!(
        (&e["actor"], &e["outcome"]),
        (&Value::Null, &json!("success"))
    );
    let revokes = p.audit(&admin, "?action=key.revoke").await;
    assert_eq!(revokes.len(), 1, "{revokes:?}");
}

#[tokio::test]
async fn personal_keys_cannot_exceed_their_creators_role() {
    let p = Platform::start("platform-ceiling");
    let (bob, bob_id) = p.personal("bob", "api_manager");
    let (admin, _) = p.personal("ada", "administrator");

    // Within bob's role: a viewer key, his own by default.
    let r = p
        .post(
            "/v1/api-keys",
            &bob,
            json!({"name": "bob's dashboard", "kind": "personal", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.json()["kind"].clone(), r.json()["owner"].clone()),
        (json!("personal"), json!("bob"))
    );
    let viewer_id = field(&r.json(), "id");
    assert_eq!(
        p.get("/v1/agents", &field(&r.json(), "key")).await.status,
        200
    );

    // Beyond it: refused, whether by role or by scopes.
    for body in [
        json!({"name": "x", "kind": "personal", "role": "developer"}),
        json!({"name": "x", "kind": "personal", "role": "administrator"}),
        json!({"name": "x", "kind": "personal", "scopes": ["admin"]}),
        json!({"name": "x", "kind": "personal", "scopes": {"agents": ["write"]}}),
        json!({"name": "x", "kind": "team", "scopes": ["delete:agents"]}),
    ] {
        let r = p.post("/v1/api-keys", &bob, body.clone()).await;
        assert_refused(&r, 403, &ceiling());
    }
    // Nor may bob raise a key he made afterwards.
    let r = p
        .call(
            Method::PATCH,
            &format!("/v1/api-keys/{viewer_id}"),
            Some(&bob),
            Some(json!({"role": "developer"})),
        )
        .await;
    assert_refused(&r, 403, &ceiling());
    // Nor make personal keys for someone else.
    let r = p
        .post(
            "/v1/api-keys",
            &bob,
            json!({"name": "x", "kind": "personal", "owner": "carol", "role": "viewer"}),
        )
        .await;
    assert_refused(
        &r,
        403,
        &nested(
            "forbidden",
            "Insufficient permissions",
            "only the owner, or a key with admin:api-keys, may create personal keys for an owner",
        ),
    );
    // An administrator may do both.
    let r = p
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "carol", "kind": "personal", "owner": "carol", "role": "developer"}),
        )
        .await;
    assert_eq!((r.status, r.json()["owner"].clone()), (201, json!("carol")));

    // The refusals are audited, with the reason.
    let refused: Vec<Value> = p
        .audit(&admin, "?action=key.create")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(refused.len(), 6, "{refused:?}");
    assert!(refused.iter().all(|e| e["actor"] == bob_id.as_str()));
    assert_eq!(
        refused[0]["reason"],
        "forbidden: a key cannot be given scopes its creator does not hold"
    );
    let updates = p.audit(&admin, "?action=key.update").await;
    assert_eq!(
        (updates.len(), updates[0]["outcome"].clone()),
        (1, json!("failure"))
    );
}

#[tokio::test]
async fn deactivating_a_user_revokes_only_their_personal_keys() {
    let p = Platform::start("platform-deactivate");
    let (admin, admin_id) = p.personal("ada", "administrator");
    let (manager, _) = p.personal("bob", "api_manager");
    let (alice_dev, alice_dev_id) = p.personal("alice", "developer");
    let (alice_team, _) = p.key(
        "alice's team key",
        &["--kind", "team", "--owner", "alice", "--role", "developer"],
    );
    let (alice_service, _) = p.key(
        "alice's service key",
        &[
            "--kind",
            "service",
            "--owner",
            "alice",
            "--scopes",
            "write:telemetry",
        ],
    );
    // A second personal key of alice's, made over HTTP by the administrator.
    let r = p
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "alice laptop", "kind": "personal", "owner": "alice", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (alice_viewer, alice_viewer_id) = (field(&r.json(), "key"), field(&r.json(), "id"));

    // Administrator only.
    let r = p
        .post("/v1/users/alice/deactivate", &manager, json!({}))
        .await;
    assert_refused(
        &r,
        403,
        &nested(
            "insufficient_scope",
            "Insufficient permissions",
            "This API key does not have full access",
        ),
    );
    assert_eq!(p.get("/v1/agents", &alice_dev).await.status, 200);

    let r = p
        .post("/v1/users/alice/deactivate", &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut revoked: Vec<String> = r.json()["revokedKeys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .expect("a string field");
    revoked.sort();
    let mut expected = vec![alice_dev_id.clone(), alice_viewer_id.clone()];
    expected.sort();
    assert_eq!(revoked, expected);
    assert_eq!(
        (r.json()["user"].clone(), r.json()["deactivated"].clone()),
        (json!("alice"), json!(true))
    );

    // Personal keys: refused at once. Team and service keys she owns, and other
    // users' keys: still working.
    for key in [&alice_dev, &alice_viewer] {
        assert_refused(&p.get("/v1/agents", key).await, 401, &invalid());
    }
    assert_eq!(p.get("/v1/agents", &alice_team).await.status, 200);
    assert_eq!(
        p.post("/v1/telemetry", &alice_service, json!({"metric": "up"}))
            .await
            .status,
        202
    );
    assert_eq!(p.get("/v1/agents", &manager).await.status, 200);
    let r = p
        .get("/v1/api-keys?owner=alice&includeRevoked=true", &admin)
        .await;
    let statuses: Vec<(String, String)> = r.json()["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| (field(k, "kind"), field(k, "status")))
                .collect()
        })
        .expect("an array field");
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    for (kind, status) in statuses {
        let want = if kind == "personal" {
            "revoked"
        } else {
            "active"
        };
        assert_eq!(status, want, "{kind}");
    }

    // Audited: the deactivation and each revoke, by the administrator's key.
    let events = p.audit(&admin, "").await;
    let deactivation = events
        .iter()
        .find(|e| e["action"] == "owner.deactivate")
        .unwrap_or_else(|| panic!("no owner.deactivate in {events:?}"));
    assert_eq!(
        (
            &deactivation["actor"],
            &deactivation["reason"],
            &deactivation["clientIp"]
        ),
        (
            &json!(admin_id),
            &json!("owner alice: 2 personal keys revoked"),
            &json!("127.0.0.1")
        )
    );
    for id in [&alice_dev_id, &alice_viewer_id] {
        assert!(
            events.iter().any(|e| e["action"] == "key.revoke"
                && e["target"] == id.as_str()
                && e["actor"] == admin_id.as_str()),
            "no key.revoke of {id} in {events:?}"
        );
    }
}

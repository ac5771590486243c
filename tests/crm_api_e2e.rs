//! End-to-end test of `examples/crm_api` (Scopien's documented contract, seed 001):
//! the service runs as a process on a free port over a temporary SQLite file, keys are
//! made and revoked by the real `keygate` CLI, and every answer is checked over HTTP
//! with its exact status, headers and body.

use std::time::{Duration, Instant};

use keygate_http_tests::process::{Reply, RunningService, TempDb};
use reqwest::{Client, Method};
use serde_json::{json, Value};

const MISSING: &str = r#"{"error":{"code":"unauthorized","message":"Missing API key","details":"No API key was provided with the request"}}"#;
const INVALID: &str = r#"{"error":{"code":"unauthorized","message":"Invalid API key","details":"The API key provided is invalid or has been revoked"}}"#;
const EXPIRED: &str = r#"{"error":{"code":"unauthorized","message":"Expired API key","details":"The API key provided has expired"}}"#;

/// The seed's 403 body for a missing `action` on `resource`.
fn forbidden(action: &str, resource: &str) -> String {
    format!(
        r#"{{"error":{{"code":"forbidden","message":"Insufficient permissions","details":"This API key does not have '{action}' permission for {resource}"}}}}"#
    )
}

/// The admin API's 403 body for a key without a key-management scope.
/// A route's missing scope, as the service's renderer words it for the key layer and
/// the admin API alike.
fn needs_scope(scope: &str) -> String {
    let (action, resource) = scope.split_once(':').unwrap_or((scope, ""));
    format!(
        r#"{{"error":{{"code":"forbidden","message":"Insufficient permissions","details":"This API key does not have '{action}' permission for {resource}"}}}}"#
    )
}

struct Crm {
    db: TempDb,
    svc: RunningService,
    client: Client,
}

impl Crm {
    /// A fresh database and a running service.
    fn start(name: &str) -> Self {
        let db = TempDb::new(name);
        let svc = RunningService::start("example-crm-api", &db, &[]);
        Self {
            db,
            svc,
            client: Client::new(),
        }
    }

    /// `keygate keys create --name NAME --tenant acme <args>`: `(key, id)`.
    fn key(&self, name: &str, args: &[&str]) -> (String, String) {
        let mut all = vec!["--name", name, "--tenant", "acme"];
        all.extend_from_slice(args);
        self.db.create_key(&all)
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
}

/// `X-RateLimit-*` headers of an authenticated response: limit as given, remaining a
/// number not above it, reset a Unix time in the future.
fn assert_rate_headers(r: &Reply, limit: u32) -> u32 {
    let num = |name: &str| -> i64 {
        r.header(name)
            .unwrap_or_else(|| panic!("no {name} on {} {}", r.status, r.body))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(num("x-ratelimit-limit"), i64::from(limit), "{}", r.body);
    let remaining = num("x-ratelimit-remaining");
    assert!((0..=i64::from(limit)).contains(&remaining));
    assert!(num("x-ratelimit-reset") > chrono::Utc::now().timestamp());
    u32::try_from(remaining).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_refused(r: &Reply, status: u16, body: &str) {
    assert_eq!((r.status, r.body.as_str()), (status, body));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn missing_malformed_unknown_wrong_revoked_and_expired_keys_get_401() {
    let crm = Crm::start("crm-401");
    let (live, live_id) = crm.key("live", &["--scopes", "read"]);
    let (other_env, _) = crm.key("prod", &["--env", "prod", "--scopes", "read"]);
    let (other_prefix, _) = crm.key("pk", &["--prefix", "pk", "--scopes", "read"]);
    // Well-formed, correct checksum, but in another database: unknown here.
    let elsewhere = TempDb::new("crm-401-elsewhere");
    let (unknown, _) = elsewhere.create_key(&["--name", "x", "--scopes", "read"]);

    let r = crm.call(Method::GET, "/v1/opportunities", None, None).await;
    assert_refused(&r, 401, MISSING);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.header("x-ratelimit-limit"), None, "no key, no limit");

    for bad in [
        "sk_live_abc123def456ghi789",
        "not a key",
        &unknown,
        &other_env,
        &other_prefix,
    ] {
        let r = crm.get("/v1/opportunities", bad).await;
        assert_refused(&r, 401, INVALID);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token", error_description="The API key is invalid""#)
        );
    }
    // Only Bearer: the key in another header is no key at all.
    let r = Reply::of(
        crm.client
            .get(crm.svc.at("/v1/opportunities"))
            .header("x-api-key", &live),
    )
    .await;
    assert_refused(&r, 401, MISSING);

    // Revoked with the CLI while the service runs: refused within the change feed's
    // poll (about a second).
    let r = crm.get("/v1/opportunities", &live).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let out = crm.db.keygate(&["keys", "revoke", &live_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let r = loop {
        let r = crm.get("/v1/opportunities", &live).await;
        if r.status != 200 || started.elapsed() > Duration::from_secs(3) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_refused(&r, 401, INVALID);

    // Expired: made to last 1 s; wait until just past its expiry (at most 2 s).
    let made = crm.db.keygate_json(&[
        "keys",
        "create",
        "--name",
        "short",
        "--tenant",
        "acme",
        "--scopes",
        "read",
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
    let key = made["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {made}"));
    let r = crm.get("/v1/auth/test", key).await;
    assert_refused(&r, 401, EXPIRED);
}

#[tokio::test]
async fn the_method_decides_the_action_on_each_resource() {
    let crm = Crm::start("crm-scopes");
    let (rw, _) = crm.key(
        "opps",
        &[
            "--scopes",
            "read:opportunities,write:opportunities,read:accounts",
        ],
    );
    let (reader, _) = crm.key("reader", &["--scopes", "read"]);
    let (admin, _) = crm.key("admin", &["--scopes", "admin"]);

    // read + write on opportunities: list, create, get, PUT, PATCH; no delete.
    let r = crm.get("/v1/opportunities", &rw).await;
    assert_eq!((r.status, r.json()["data"].clone()), (200, json!([])));
    assert_rate_headers(&r, 1000);
    let r = crm
        .call(
            Method::POST,
            "/v1/opportunities",
            Some(&rw),
            Some(json!({"name": "Acme renewal", "amount": 12000})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_rate_headers(&r, 1000);
    let created = r.json();
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {created}"))
        .to_owned();
    assert_eq!(
        (
            &created["object"],
            &created["name"],
            &created["amount"],
            &created["livemode"]
        ),
        (
            &json!("opportunity"),
            &json!("Acme renewal"),
            &json!(12000),
            &json!(true)
        )
    );
    let one = format!("/v1/opportunities/{id}");
    let r = crm.get(&one, &rw).await;
    assert_eq!(
        (r.status, r.json()["name"].clone()),
        (200, json!("Acme renewal"))
    );
    let r = crm
        .call(
            Method::PATCH,
            &one,
            Some(&rw),
            Some(json!({"stage": "won"})),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.json()["stage"].clone(),
            r.json()["amount"].clone()
        ),
        (200, json!("won"), json!(12000))
    );
    let r = crm
        .call(
            Method::PUT,
            &one,
            Some(&rw),
            Some(json!({"name": "Acme renewal v2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["name"].clone(), r.json().get("stage").cloned()),
        (json!("Acme renewal v2"), None)
    );
    let r = crm.call(Method::DELETE, &one, Some(&rw), None).await;
    assert_refused(&r, 403, &forbidden("delete", "opportunities"));
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="delete:opportunities""#)
    );
    assert_rate_headers(&r, 1000);

    // Accounts read-only (the seed's example), contacts and reports not at all.
    assert_eq!(crm.get("/v1/accounts", &rw).await.status, 200);
    let r = crm
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&rw),
            Some(json!({"name": "New Account"})),
        )
        .await;
    assert_refused(&r, 403, &forbidden("write", "accounts"));
    assert_rate_headers(&r, 1000);
    for resource in ["contacts", "reports"] {
        let r = crm.get(&format!("/v1/{resource}"), &rw).await;
        assert_refused(&r, 403, &forbidden("read", resource));
    }

    // A bare `read` covers every resource, and nothing else.
    for resource in ["opportunities", "accounts", "contacts", "reports"] {
        let path = format!("/v1/{resource}");
        assert_eq!(crm.get(&path, &reader).await.status, 200, "{resource}");
        let r = crm
            .call(Method::POST, &path, Some(&reader), Some(json!({})))
            .await;
        assert_refused(&r, 403, &forbidden("write", resource));
        let r = crm
            .call(
                Method::PATCH,
                &format!("{path}/x_1"),
                Some(&reader),
                Some(json!({})),
            )
            .await;
        assert_refused(&r, 403, &forbidden("write", resource));
        let r = crm
            .call(Method::DELETE, &format!("{path}/x_1"), Some(&reader), None)
            .await;
        assert_refused(&r, 403, &forbidden("delete", resource));
    }

    // `admin` allows every method on every resource.
    let r = crm.call(Method::DELETE, &one, Some(&admin), None).await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"id": id, "object": "opportunity", "deleted": true})
        )
    );
    let r = crm.call(Method::DELETE, &one, Some(&admin), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        format!(
            r#"{{"error":{{"code":"not_found","message":"Not found","details":"No opportunity with id {id}"}}}}"#
        )
    );
    assert_rate_headers(&r, 1000);
    for resource in ["accounts", "contacts", "reports"] {
        let r = crm
            .call(
                Method::POST,
                &format!("/v1/{resource}"),
                Some(&admin),
                Some(json!({"name": "n"})),
            )
            .await;
        assert_eq!(r.status, 201, "{resource}: {}", r.body);
    }
    // A body that is not a JSON object, by a key allowed to write.
    let r = crm
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&admin),
            Some(json!([1, 2])),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"{"error":{"code":"bad_request","message":"Invalid request body","details":"The request body must be a JSON object"}}"#
        )
    );
}

#[tokio::test]
async fn test_keys_see_only_test_data() {
    let crm = Crm::start("crm-envs");
    let all = ["--scopes", "read,write,delete"];
    let (live, _) = crm.key("live", &all);
    let (test, _) = crm.key("test", &[&all[..], &["--env", "test"][..]].concat());
    let other_tenant = crm
        .db
        .create_key(&["--name", "other", "--tenant", "globex", "--scopes", "read"])
        .0;
    assert!(live.starts_with("sk_live_") && test.starts_with("sk_test_"));

    let r = crm
        .call(
            Method::POST,
            "/v1/contacts",
            Some(&live),
            Some(json!({"email": "live@acme.test"})),
        )
        .await;
    assert_eq!((r.status, r.json()["livemode"].clone()), (201, json!(true)));
    let live_id = r.json()["id"].as_str().expect("a string field").to_owned();
    let r = crm
        .call(
            Method::POST,
            "/v1/contacts",
            Some(&test),
            Some(json!({"email": "test@acme.test"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["livemode"].clone()),
        (201, json!(false))
    );
    let test_id = r.json()["id"].as_str().expect("a string field").to_owned();

    let emails = |r: &Reply| -> Vec<Value> {
        r.json()["data"]
            .as_array()
            .map(|a| a.iter().map(|c| c["email"].clone()).collect())
            .expect("a string field")
    };
    let r = crm.get("/v1/contacts", &test).await;
    assert_eq!(
        (emails(&r), r.json()["livemode"].clone()),
        (vec![json!("test@acme.test")], json!(false))
    );
    let r = crm.get("/v1/contacts", &live).await;
    assert_eq!(
        (emails(&r), r.json()["livemode"].clone()),
        (vec![json!("live@acme.test")], json!(true))
    );
    // Another tenant's live key sees neither.
    assert_eq!(
        emails(&crm.get("/v1/contacts", &other_tenant).await),
        Vec::<Value>::new()
    );

    // A test key cannot reach a live record by id, and the reverse.
    let not_found = |id: &str| {
        format!(
            r#"{{"error":{{"code":"not_found","message":"Not found","details":"No contact with id {id}"}}}}"#
        )
    };
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"email": "x"}));
        let r = crm
            .call(
                method.clone(),
                &format!("/v1/contacts/{live_id}"),
                Some(&test),
                body.clone(),
            )
            .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (404, not_found(&live_id)),
            "{method}"
        );
        let r = crm
            .call(
                method.clone(),
                &format!("/v1/contacts/{test_id}"),
                Some(&live),
                body,
            )
            .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (404, not_found(&test_id)),
            "{method}"
        );
    }
    assert_eq!(
        crm.get(&format!("/v1/contacts/{live_id}"), &live)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn rate_limits_by_environment_and_per_key_with_headers_and_429() {
    let crm = Crm::start("crm-limits");
    let (live, live_id) = crm.key("live", &["--scopes", "read"]);
    let (test, _) = crm.key("test", &["--env", "test", "--scopes", "read"]);
    let (tiny, _) = crm.key(
        "tiny",
        &["--env", "test", "--scopes", "read", "--rate-limit", "2/h"],
    );

    // `GET /v1/auth/test`: exactly the seed's fields, the limit of the key's environment.
    let r = crm.get("/v1/auth/test", &live).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reset: i64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("an X-RateLimit-Reset header");
    assert_eq!(
        r.json(),
        json!({
            "authenticated": true,
            "keyId": live_id,
            "scopes": ["read"],
            "rateLimit": {"limit": 1000, "remaining": 999, "reset": reset},
        })
    );
    assert_eq!(assert_rate_headers(&r, 1000), 999);
    let r = crm.get("/v1/auth/test", &test).await;
    assert_eq!(r.json()["rateLimit"]["limit"], 100);
    assert_eq!(r.json()["rateLimit"]["remaining"], 99);
    assert_eq!(assert_rate_headers(&r, 100), 99);
    // Every authenticated answer counts and carries the headers: 200, 403, 404.
    assert_eq!(
        assert_rate_headers(&crm.get("/v1/accounts", &test).await, 100),
        98
    );
    let r = crm
        .call(Method::POST, "/v1/accounts", Some(&test), Some(json!({})))
        .await;
    assert_eq!((r.status, assert_rate_headers(&r, 100)), (403, 97));
    let r = crm.get("/v1/nowhere", &test).await;
    assert_eq!(r.status, 404);
    assert_eq!(assert_rate_headers(&r, 100), 96);

    // A key's own limit wins over its environment's: 2/h, then 429.
    let r = crm.get("/v1/opportunities", &tiny).await;
    assert_eq!((r.status, assert_rate_headers(&r, 2)), (200, 1));
    let r = crm.get("/v1/auth/test", &tiny).await;
    assert_eq!((r.status, assert_rate_headers(&r, 2)), (200, 0));
    assert_eq!(r.json()["rateLimit"]["remaining"], 0);
    let r = crm.get("/v1/opportunities", &tiny).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After"));
    // 2/h: one request per 1800 s comes back.
    assert!((1790..=1800).contains(&retry), "{retry}");
    assert_eq!(
        r.body,
        format!(
            r#"{{"error":{{"code":"rate_limit_exceeded","message":"Rate limit exceeded","details":"Rate limit will reset in {retry} seconds","retryAfter":{retry}}}}}"#
        )
    );
    assert_eq!(assert_rate_headers(&r, 2), 0);
    // Other keys are not affected.
    assert_eq!(crm.get("/v1/opportunities", &test).await.status, 200);
}

#[tokio::test]
async fn admin_keys_manage_keys_over_http() {
    let crm = Crm::start("crm-admin");
    let (admin, admin_id) = crm.key("admin", &["--scopes", "admin"]);
    let (plain, _) = crm.key("plain", &["--scopes", "read:opportunities"]);

    // The seed's request: the key comes back once, with the seed's fields.
    let seed_body = json!({"name": "Production Key", "scopes": ["read", "write"], "rateLimit": 1000, "expiresAt": null});
    let r = crm
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(seed_body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_rate_headers(&r, 1000);
    let created = r.json();
    let key = created["key"].as_str().expect("a string field").to_owned();
    let id = created["id"].as_str().expect("a string field").to_owned();
    assert!(
        key.starts_with("sk_live_") && id.starts_with("key_"),
        "{created}"
    );
    assert_eq!(
        (
            &created["name"],
            &created["scopes"],
            &created["rateLimit"],
            &created["expiresAt"]
        ),
        (
            &json!("Production Key"),
            &json!(["read", "write"]),
            &json!(1000),
            &Value::Null
        )
    );
    assert!(created["createdAt"].is_string());
    // Never shown again.
    let r = crm.get(&format!("/v1/api-keys/{id}"), &admin).await;
    assert_eq!(
        (
            r.status,
            r.json().get("key").cloned(),
            r.json()["id"].clone()
        ),
        (200, None, json!(id))
    );
    let r = crm.get("/v1/api-keys", &admin).await;
    assert_eq!(r.status, 200);
    let listed = r.json()["data"]
        .as_array()
        .cloned()
        .expect("an array field");
    assert!(
        listed.iter().any(|k| k["id"] == id.as_str())
            && listed.iter().any(|k| k["id"] == admin_id.as_str())
    );
    assert!(listed.iter().all(|k| k.get("key").is_none()), "{listed:?}");
    // The new key works, with its own limit.
    let r = crm.get("/v1/auth/test", &key).await;
    assert_eq!(
        (r.status, r.json()["scopes"].clone()),
        (200, json!(["read", "write"]))
    );
    assert_eq!(assert_rate_headers(&r, 1000), 999);
    assert_eq!(
        crm.call(
            Method::POST,
            "/v1/reports",
            Some(&key),
            Some(json!({"title": "Q3"}))
        )
        .await
        .status,
        201
    );

    // Environments are kept apart: a live admin cannot mint a test key (nor a test
    // admin a live one); test keys are made by a test admin.
    let opps_body = json!({"name": "Opps only", "env": "test", "scopes": {"opportunities": ["read", "write"], "accounts": ["read"]}});
    let r = crm
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(opps_body.clone()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let (test_admin, _) = crm.key("test admin", &["--scopes", "admin", "--env", "test"]);
    let r = crm
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&test_admin),
            Some(json!({"name": "escalate", "env": "live", "scopes": ["admin"]})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Per-resource permissions normalise to action:resource scopes.
    let r = crm
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&test_admin),
            Some(opps_body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let opps = r.json()["key"].as_str().expect("a string field").to_owned();
    assert!(opps.starts_with("sk_test_"));
    let mut scopes = r.json()["scopes"]
        .as_array()
        .cloned()
        .expect("an array field");
    scopes.sort_by_key(ToString::to_string);
    assert_eq!(
        scopes,
        vec![
            json!("read:accounts"),
            json!("read:opportunities"),
            json!("write:opportunities")
        ]
    );
    assert_eq!(
        crm.call(
            Method::POST,
            "/v1/opportunities",
            Some(&opps),
            Some(json!({}))
        )
        .await
        .status,
        201
    );
    let r = crm
        .call(Method::POST, "/v1/accounts", Some(&opps), Some(json!({})))
        .await;
    assert_refused(&r, 403, &forbidden("write", "accounts"));
    assert_eq!(
        assert_rate_headers(&crm.get("/v1/auth/test", &opps).await, 100),
        97
    );

    // PATCH narrows the key at once (the service's own cache is updated).
    let r = crm
        .call(
            Method::PATCH,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            Some(json!({"scopes": ["read"]})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["scopes"].clone()),
        (200, json!(["read"]))
    );
    let r = crm
        .call(Method::POST, "/v1/reports", Some(&key), Some(json!({})))
        .await;
    assert_refused(&r, 403, &forbidden("write", "reports"));

    // DELETE revokes at once.
    let r = crm
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("revoked"))
    );
    assert_refused(&crm.get("/v1/reports", &key).await, 401, INVALID);

    // A key without key-management scopes is refused every management call.
    for (method, path, scope) in [
        (Method::GET, "/v1/api-keys".to_owned(), "read:api-keys"),
        (Method::POST, "/v1/api-keys".to_owned(), "write:api-keys"),
        (
            Method::PATCH,
            format!("/v1/api-keys/{admin_id}"),
            "write:api-keys",
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{admin_id}"),
            "delete:api-keys",
        ),
    ] {
        let body = (method != Method::GET && method != Method::DELETE).then(|| seed_body.clone());
        let r = crm.call(method.clone(), &path, Some(&plain), body).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (403, needs_scope(scope)),
            "{method} {path}"
        );
        assert_rate_headers(&r, 1000);
    }
    // Without a key: 401 before anything else.
    let r = crm.call(Method::GET, "/v1/api-keys", None, None).await;
    assert_refused(&r, 401, MISSING);
    // The admin key itself still works.
    assert_eq!(crm.get("/v1/api-keys", &admin).await.status, 200);
}

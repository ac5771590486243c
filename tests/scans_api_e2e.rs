//! End-to-end test of examples/scans_api: the Neolens contract (seed 000) over HTTP,
//! with keys made by the real `keygate` CLI against the service's SQLite file.

use std::time::Duration;

use keygate_http_tests::process::{Reply, RunningService, TempDb};
use serde_json::json;

const UNAUTHORIZED: &str = r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;
const FORBIDDEN: &str =
    r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#;
const INVALID_TOKEN: &str =
    r#"Bearer error="invalid_token", error_description="The API key is invalid""#;

/// A fresh database and the service over it (which seeds the roles at start).
fn start(name: &str) -> (TempDb, RunningService) {
    let db = TempDb::new(name);
    let svc = RunningService::start("example-scans-api", &db, &[]);
    (db, svc)
}

/// A `neolens_live_…` key with `role`, made by the CLI.
fn key(db: &TempDb, role: &str) -> (String, String) {
    db.create_key(&[
        "--name", role, "--prefix", "neolens", "--env", "live", "--role", role,
    ])
}

async fn get(svc: &RunningService, path: &str, key: &str) -> Reply {
    Reply::of(reqwest::Client::new().get(svc.at(path)).bearer_auth(key)).await
}

async fn post(svc: &RunningService, path: &str, key: &str, body: serde_json::Value) -> Reply {
    Reply::of(
        reqwest::Client::new()
            .post(svc.at(path))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

fn assert_401(reply: &Reply, challenge: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (401, UNAUTHORIZED),
        "{what}"
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(reply.header("www-authenticate"), Some(challenge), "{what}");
}

fn assert_403(reply: &Reply, scope: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (403, FORBIDDEN),
        "{what}"
    );
    let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(challenge.as_str()),
        "{what}"
    );
}

#[tokio::test]
async fn missing_malformed_unknown_and_foreign_keys_get_the_documented_401() {
    let (db, svc) = start("scans-401");
    let (good, _) = key(&db, "radiologist");
    let client = reqwest::Client::new();
    let results = svc.at("/v1/scan/results");

    assert_401(&Reply::of(client.get(&results)).await, "Bearer", "no key");
    // Bearer only: the key in another scheme, header or the query is no key at all.
    for (what, request) in [
        (
            "Basic scheme",
            client
                .get(&results)
                .header("authorization", "Basic dXNlcjpwYXNz"),
        ),
        (
            "Token scheme",
            client
                .get(&results)
                .header("authorization", format!("Token {good}")),
        ),
        (
            "X-API-KEY header",
            client.get(&results).header("x-api-key", &good),
        ),
        (
            "api_key query",
            client.get(format!("{results}?api_key={good}")),
        ),
    ] {
        assert_401(&Reply::of(request).await, "Bearer", what);
    }
    assert_401(
        &Reply::of(client.get(&results).header("authorization", "Bearer ")).await,
        INVALID_TOKEN,
        "empty bearer",
    );
    assert_401(
        &get(
            &svc,
            "/v1/scan/results",
            "neolens_live_abcd1234efgh5678ijkl9012",
        )
        .await,
        INVALID_TOKEN,
        "malformed: the docs' sample key has no valid checksum",
    );
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap_or('x');
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_401(
        &get(&svc, "/v1/scan/results", &tampered).await,
        INVALID_TOKEN,
        "bad checksum",
    );
    let unknown = keygate::key_format::generate("neolens", "live")
        .unwrap_or_else(|e| panic!("generate: {e}"));
    assert_401(
        &get(&svc, "/v1/scan/results", unknown.expose()).await,
        INVALID_TOKEN,
        "well-formed but unknown",
    );
    // Keys of the same store, but not Neolens live keys.
    let (sk_live, _) = db.create_key(&["--name", "other product", "--role", "radiologist"]);
    assert!(sk_live.starts_with("sk_live_"), "{sk_live}");
    assert_401(
        &get(&svc, "/v1/scan/results", &sk_live).await,
        INVALID_TOKEN,
        "wrong prefix",
    );
    let (test_key, _) = db.create_key(&[
        "--name",
        "sandbox",
        "--prefix",
        "neolens",
        "--env",
        "test",
        "--role",
        "radiologist",
    ]);
    assert!(test_key.starts_with("neolens_test_"), "{test_key}");
    assert_401(
        &get(&svc, "/v1/scan/results", &test_key).await,
        INVALID_TOKEN,
        "wrong environment",
    );

    let ok = get(&svc, "/v1/scan/results", &good).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["data"][0]["id"], "12345");
}

#[tokio::test]
async fn roles_grant_the_documented_scopes_and_nothing_more() {
    let (db, svc) = start("scans-roles");
    let roles = db.keygate_json(&["roles", "list"]);
    let seeded: Vec<(String, serde_json::Value)> = roles
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["scopes"].clone(),
            )
        })
        .collect();
    for (name, scopes) in [
        ("radiologist", json!(["read:scans", "read:reports"])),
        ("data_engineer", json!(["read:scans", "write:exports"])),
        ("admin", json!(["*"])),
    ] {
        assert!(
            seeded.contains(&(name.to_owned(), scopes.clone())),
            "role {name} = {scopes} not seeded: {roles}"
        );
    }

    let (radiologist, _) = key(&db, "radiologist");
    let (engineer, _) = key(&db, "data_engineer");
    let (admin, _) = key(&db, "admin");
    let reviewed = json!({"status": "reviewed"});

    // radiologist: read:scans, read:reports
    assert_eq!(
        get(&svc, "/v1/scan/results", &radiologist).await.status,
        200
    );
    let reports = get(&svc, "/v1/reports", &radiologist).await;
    assert_eq!(reports.status, 200, "{}", reports.body);
    assert_eq!(reports.json()["data"][0]["scanId"], "12345");
    // The seed's own example: a radiologist updating scan 12345.
    assert_403(
        &post(&svc, "/v1/scans/12345", &radiologist, reviewed.clone()).await,
        "write:scans",
        "radiologist writes a scan",
    );
    assert_403(
        &post(&svc, "/v1/exports", &radiologist, json!({})).await,
        "write:exports",
        "radiologist exports",
    );

    // data_engineer: read:scans, write:exports
    assert_eq!(get(&svc, "/v1/scan/results", &engineer).await.status, 200);
    let export = post(&svc, "/v1/exports", &engineer, json!({})).await;
    assert_eq!(export.status, 202, "{}", export.body);
    assert_eq!(export.json()["export"]["status"], "queued");
    assert_403(
        &get(&svc, "/v1/reports", &engineer).await,
        "read:reports",
        "data engineer reads reports",
    );
    assert_403(
        &post(&svc, "/v1/scans/12345", &engineer, reviewed.clone()).await,
        "write:scans",
        "data engineer writes a scan",
    );

    // admin: *
    let updated = post(&svc, "/v1/scans/12345", &admin, reviewed).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["status"], "reviewed");
    let results = get(&svc, "/v1/scan/results", &admin).await;
    assert_eq!(results.json()["data"][0]["status"], "reviewed");
    assert_eq!(get(&svc, "/v1/reports", &admin).await.status, 200);
    assert_eq!(
        post(&svc, "/v1/exports", &admin, json!({})).await.status,
        202
    );
    let missing = post(
        &svc,
        "/v1/scans/99999",
        &admin,
        json!({"status": "reviewed"}),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    // A bad key on a scoped route is 401, not 403.
    assert_401(
        &post(&svc, "/v1/scans/12345", "nope", json!({})).await,
        INVALID_TOKEN,
        "malformed key on a write route",
    );
}

#[tokio::test]
async fn auth_me_answers_the_seed_shape() {
    let (db, svc) = start("scans-me");
    let (doc, _) = db.create_key(&[
        "--name",
        "Dr. Ada",
        "--prefix",
        "neolens",
        "--env",
        "live",
        "--role",
        "radiologist",
        "--kind",
        "personal",
        "--owner",
        "usr_001",
        "--metadata",
        "email=radiologist@example.com",
    ]);
    let me = get(&svc, "/v1/auth/me", &doc).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        me.body,
        r#"{"user":{"id":"usr_001","email":"radiologist@example.com","role":"radiologist","scopes":["read:scans","read:reports"]}}"#
    );

    // A service key without owner or email: the key id stands in for the user id.
    let (admin, admin_id) = key(&db, "admin");
    let me = get(&svc, "/v1/auth/me", &admin).await;
    assert_eq!(
        me.json(),
        json!({"user": {"id": admin_id, "email": null, "role": "admin", "scopes": ["*"]}})
    );

    assert_401(
        &Reply::of(reqwest::Client::new().get(svc.at("/v1/auth/me"))).await,
        "Bearer",
        "me without a key",
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_24_hours_and_revocation_is_immediate() {
    let (db, svc) = start("scans-lifecycle");
    let (old, id) = key(&db, "radiologist");
    assert_eq!(get(&svc, "/v1/scan/results", &old).await.status, 200);

    // Rotate with the CLI while the service runs: both keys work.
    let rotated = db.keygate_json(&["keys", "rotate", &id]);
    let new = rotated["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {rotated}"))
        .to_owned();
    let new_id = rotated["id"].as_str().expect("a rotated key id").to_owned();
    assert!(new.starts_with("neolens_live_") && new != old, "{new}");
    assert_eq!(
        rotated["role"], "radiologist",
        "the replacement keeps the role"
    );
    for (what, k) in [("old key in its grace period", &old), ("new key", &new)] {
        let reply = get(&svc, "/v1/scan/results", k).await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
    }
    // The grace period is the documented 24 hours.
    let shown = db.keygate_json(&["keys", "show", &id]);
    let until = shown["graceUntil"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no graceUntil in {shown}"));
    let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::hours(24)
            && left > chrono::Duration::hours(24) - chrono::Duration::minutes(5),
        "grace left: {left}"
    );
    assert_eq!(shown["replacedBy"], new_id.as_str());

    // Revoke the new key with the CLI: refused on the very next request.
    db.keygate_json(&["keys", "revoke", &new_id]);
    assert_401(
        &get(&svc, "/v1/scan/results", &new).await,
        INVALID_TOKEN,
        "revoked key",
    );
    assert_401(
        &get(&svc, "/v1/auth/me", &new).await,
        INVALID_TOKEN,
        "revoked key on /v1/auth/me",
    );

    // A rotation with no grace ends the old key at once.
    let (short, short_id) = key(&db, "radiologist");
    db.keygate_json(&["keys", "rotate", &short_id, "--grace", "0s"]);
    assert_401(
        &get(&svc, "/v1/scan/results", &short).await,
        INVALID_TOKEN,
        "rotated key past its grace",
    );
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let (db, svc) = start("scans-expiry");
    let created = db.keygate_json(&[
        "keys",
        "create",
        "--name",
        "short",
        "--prefix",
        "neolens",
        "--env",
        "live",
        "--role",
        "radiologist",
        "--expires-in",
        "1s",
    ]);
    let expiring = created["key"].as_str().expect("a string field").to_owned();
    let expires_at = created["expiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("no expiresAt in {created}"));
    let before = get(&svc, "/v1/scan/results", &expiring).await;
    if chrono::Utc::now() < expires_at {
        // Answered before the expiry, so it was verified before it too.
        assert_eq!(before.status, 200, "{}", before.body);
    }
    // The one wall-clock wait: just past the expiry (at most about a second).
    let wait = (expires_at - chrono::Utc::now() + chrono::Duration::milliseconds(150))
        .to_std()
        .unwrap_or_default();
    assert!(wait <= Duration::from_secs(2), "{wait:?}");
    std::thread::sleep(wait);
    assert_401(
        &get(&svc, "/v1/scan/results", &expiring).await,
        // The flat body does not say which check failed; neither does the challenge.
        INVALID_TOKEN,
        "expired key",
    );
    let shown = db.keygate_json(&[
        "keys",
        "show",
        created["id"].as_str().expect("a string field"),
    ]);
    assert_eq!(shown["status"], "expired");
}

#[cfg(unix)]
#[tokio::test]
async fn a_restart_keeps_an_operators_change_to_a_seeded_role() {
    let (db, svc) = start("scans-reseed");
    let (admin_key, _) = key(&db, "admin");
    let export = json!({});
    assert_eq!(
        post(&svc, "/v1/exports", &admin_key, export.clone())
            .await
            .status,
        202
    );

    // The operator narrows `admin` to reading, then the service restarts.
    db.keygate_json(&[
        "roles",
        "update",
        "admin",
        "--scopes",
        "read:scans,read:reports",
    ]);
    assert!(svc.interrupt().success());
    let svc = RunningService::start("example-scans-api", &db, &[]);

    let roles = db.keygate_json(&["roles", "list"]);
    let admin = roles
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "admin")
        .unwrap_or_else(|| panic!("no admin role in {roles}"));
    assert_eq!(
        admin["scopes"],
        json!(["read:scans", "read:reports"]),
        "{roles}"
    );
    assert_403(
        &post(&svc, "/v1/exports", &admin_key, export).await,
        "write:exports",
        "narrowed admin after a restart",
    );
    assert_eq!(get(&svc, "/v1/scan/results", &admin_key).await.status, 200);
    // Roles that were missing are still seeded.
    for name in ["radiologist", "data_engineer"] {
        assert!(
            roles
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["name"] == name),
            "{name} missing from {roles}"
        );
    }
}

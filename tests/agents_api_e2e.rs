//! End-to-end test of examples/agents_api: the Neo public API contract (seed 002) over
//! HTTP, with keys made, rotated and revoked by the real `keygate` CLI.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use keygate_http_tests::process::{Reply, RunningService, TempDb};
use serde_json::{json, Value};

const UNAUTHORIZED: &str = r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;

fn start(name: &str) -> (TempDb, RunningService) {
    let db = TempDb::new(name);
    let svc = RunningService::start("example-agents-api", &db, &[]);
    (db, svc)
}

/// A `neo_sk_prod_…` key of `tenant`, made by the CLI: `(key, id)`.
fn key(db: &TempDb, name: &str, tenant: &str) -> (String, String) {
    db.create_key(&[
        "--name", name, "--prefix", "neo_sk", "--env", "prod", "--tenant", tenant,
    ])
}

async fn get(svc: &RunningService, path: &str, key: &str) -> Reply {
    Reply::of(reqwest::Client::new().get(svc.at(path)).bearer_auth(key)).await
}

fn assert_401(reply: &Reply, what: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (401, UNAUTHORIZED),
        "{what}"
    );
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `lastUsedAt` of key `id` in `keygate keys list --tenant T --json`.
fn last_used(db: &TempDb, tenant: &str, id: &str) -> Option<DateTime<Utc>> {
    let listed = db.keygate_json(&["keys", "list", "--tenant", tenant]);
    let entry = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert!(entry.get("lastUsedAt").is_some(), "no lastUsedAt: {entry}");
    time(&entry["lastUsedAt"])
}

#[tokio::test]
async fn a_key_sees_only_its_own_tenant_and_no_header_changes_that() {
    let (db, svc) = start("agents-tenants");
    let (contoso, _) = key(&db, "Billing export script", "contoso");
    let (fabrikam, _) = key(&db, "Onboarding sync", "fabrikam");
    let (initech, _) = key(&db, "Trial", "initech");

    let listed = get(&svc, "/public-api/agents", &contoso).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.json(),
        json!({"data": [
            {"id": "agt_contoso_triage", "name": "Ticket triage", "status": "active"},
            {"id": "agt_contoso_billing", "name": "Billing reconciliation", "status": "active"},
        ]})
    );
    assert_eq!(
        get(&svc, "/public-api/agents", &fabrikam).await.json(),
        json!({"data": [{"id": "agt_fabrikam_onboarding", "name": "User onboarding", "status": "paused"}]})
    );
    assert_eq!(
        get(&svc, "/public-api/agents", &initech).await.json(),
        json!({"data": []}),
        "a tenant without agents sees none, not someone else's"
    );

    // There is no tenant header or parameter: whatever a client sends, the key decides.
    let client = reqwest::Client::new();
    for header in ["x-tenant-id", "x-client-id", "tenant"] {
        let reply = Reply::of(
            client
                .get(svc.at("/public-api/agents?tenant=fabrikam&clientId=fabrikam"))
                .bearer_auth(&contoso)
                .header(header, "fabrikam"),
        )
        .await;
        assert_eq!(reply.json(), listed.json(), "{header}");
    }

    let theirs = "/public-api/agents/agt_fabrikam_onboarding";
    assert_eq!(get(&svc, theirs, &fabrikam).await.status, 200);
    let hidden = get(&svc, theirs, &contoso).await;
    assert_eq!(
        (hidden.status, hidden.json()),
        (
            404,
            json!({"error": "Not Found", "message": "No agent agt_fabrikam_onboarding."})
        ),
        "another tenant's agent does not exist for this key"
    );
}

#[tokio::test]
async fn missing_malformed_unknown_and_foreign_keys_are_refused() {
    let (db, svc) = start("agents-401");
    let (good, _) = key(&db, "good", "contoso");
    let client = reqwest::Client::new();
    let agents = svc.at("/public-api/agents");

    assert_401(&Reply::of(client.get(&agents)).await, "no key");
    assert_401(
        &Reply::of(client.get(&agents).header("x-api-key", &good)).await,
        "X-API-KEY instead of a bearer token",
    );
    assert_401(
        &Reply::of(
            client
                .get(&agents)
                .header("authorization", format!("Basic {good}")),
        )
        .await,
        "Basic scheme",
    );
    assert_401(
        &get(
            &svc,
            "/public-api/agents",
            "neo_sk_prod_AbCdEf0123456789AbCdEf01",
        )
        .await,
        "malformed: the docs' sample key",
    );
    let unknown =
        keygate::key_format::generate("neo_sk", "prod").unwrap_or_else(|e| panic!("generate: {e}"));
    assert_401(
        &get(&svc, "/public-api/agents", unknown.expose()).await,
        "unknown",
    );
    let (sk, _) = db.create_key(&["--name", "other", "--tenant", "contoso"]);
    assert_401(&get(&svc, "/public-api/agents", &sk).await, "sk_live_ key");
    let (dev, _) = db.create_key(&[
        "--name", "dev", "--prefix", "neo_sk", "--env", "dev", "--tenant", "contoso",
    ]);
    assert!(dev.starts_with("neo_sk_dev_"), "{dev}");
    assert_401(
        &get(&svc, "/public-api/agents", &dev).await,
        "a dev key on the prod API",
    );
    assert_eq!(get(&svc, "/public-api/agents", &good).await.status, 200);
}

#[tokio::test]
async fn keys_are_managed_only_with_the_cli() {
    let (db, svc) = start("agents-cli");
    let (old, id) = key(&db, "Billing export script", "contoso");
    let client = reqwest::Client::new();

    // The API cannot mint, rotate or revoke keys, even with a valid key.
    for (method, path) in [
        (reqwest::Method::POST, "/v1/api-keys".to_owned()),
        (reqwest::Method::GET, "/v1/api-keys".to_owned()),
        (reqwest::Method::POST, "/public-api/api-keys".to_owned()),
        (reqwest::Method::POST, format!("/v1/api-keys/{id}/rotate")),
        (reqwest::Method::DELETE, format!("/v1/api-keys/{id}")),
    ] {
        let reply = Reply::of(
            client
                .request(method.clone(), svc.at(&path))
                .bearer_auth(&old)
                .json(&json!({"name": "minted by a key", "tenant": "contoso"})),
        )
        .await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }
    let listed = db.keygate_json(&["keys", "list", "--tenant", "contoso"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert!(
        listed[0]["expiresAt"].is_null(),
        "no expiry unless asked: {listed}"
    );

    // Rotate: a fresh key now, the old one keeps working for 24 hours.
    let rotated = db.keygate_json(&["keys", "rotate", &id]);
    let new = rotated["key"].as_str().expect("a string field").to_owned();
    let new_id = rotated["id"].as_str().expect("a string field").to_owned();
    assert!(new.starts_with("neo_sk_prod_") && new != old, "{new}");
    assert_eq!(rotated["tenant"], "contoso");
    for (what, k) in [("old key", &old), ("new key", &new)] {
        let reply = get(&svc, "/public-api/agents", k).await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
        assert_eq!(
            reply.json()["data"][0]["id"],
            "agt_contoso_triage",
            "{what}"
        );
    }
    let shown = db.keygate_json(&["keys", "show", &id]);
    let left = time(&shown["graceUntil"]).unwrap_or_else(|| panic!("{shown}")) - Utc::now();
    assert!(
        left <= chrono::Duration::hours(24)
            && left > chrono::Duration::hours(24) - chrono::Duration::minutes(5),
        "grace left: {left}"
    );

    // Revoke: disabled immediately.
    db.keygate_json(&["keys", "revoke", &new_id]);
    assert_401(&get(&svc, "/public-api/agents", &new).await, "revoked key");

    // Optional expiry: set one, and after it the key stops working.
    let created = db.keygate_json(&[
        "keys",
        "create",
        "--name",
        "short-lived",
        "--prefix",
        "neo_sk",
        "--env",
        "prod",
        "--tenant",
        "contoso",
        "--expires-in",
        "1s",
    ]);
    let expiring = created["key"].as_str().expect("a string field").to_owned();
    let expires_at = time(&created["expiresAt"]).unwrap_or_else(|| panic!("{created}"));
    let before = get(&svc, "/public-api/agents", &expiring).await;
    if Utc::now() < expires_at {
        assert_eq!(before.status, 200, "{}", before.body);
    }
    // The one wall-clock wait: just past the expiry.
    let wait = (expires_at - Utc::now() + chrono::Duration::milliseconds(150))
        .to_std()
        .unwrap_or_default();
    assert!(wait <= Duration::from_secs(2), "{wait:?}");
    std::thread::sleep(wait);
    assert_401(
        &get(&svc, "/public-api/agents", &expiring).await,
        "expired key",
    );
}

#[tokio::test]
async fn keys_list_shows_when_each_key_was_last_used() {
    let (db, svc) = start("agents-last-used");
    let (used, used_id) = key(&db, "Billing export script", "contoso");
    let (idle, idle_id) = key(&db, "Never used", "contoso");
    let (late, late_id) = key(&db, "Used just before shutdown", "contoso");
    assert_eq!(last_used(&db, "contoso", &used_id), None);

    let before = Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(get(&svc, "/public-api/agents", &used).await.status, 200);
    // Written by the service's periodic flush (every second) while it runs.
    let deadline = Instant::now() + Duration::from_secs(15);
    let at = loop {
        if let Some(at) = last_used(&db, "contoso", &used_id) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "lastUsedAt not written within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(before <= at && at <= Utc::now(), "lastUsedAt {at}");
    assert_eq!(last_used(&db, "contoso", &idle_id), None, "{idle} unused");

    // Written on shutdown too: a request, then Ctrl-C at once.
    assert_eq!(get(&svc, "/public-api/agents", &late).await.status, 200);
    #[cfg(unix)]
    {
        let status = svc.interrupt();
        assert!(status.success(), "the service exits cleanly: {status}");
        assert!(
            last_used(&db, "contoso", &late_id).is_some(),
            "last use before shutdown recorded"
        );
    }
    assert_eq!(last_used(&db, "contoso", &idle_id), None);
}

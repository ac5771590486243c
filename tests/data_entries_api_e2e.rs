//! End-to-end test of examples/data_entries_api: the Atomscale contract (seed 004) over
//! HTTP, with keys made and revoked by the real `keygate` CLI.

use std::time::Duration;

use keygate_http_tests::process::{Reply, RunningService, TempDb};
use serde_json::{json, Value};

const UNAUTHORIZED: &str = r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;
const FORBIDDEN: &str =
    r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#;

fn start(name: &str) -> (TempDb, RunningService) {
    let db = TempDb::new(name);
    let svc = RunningService::start("example-data-entries-api", &db, &[]);
    (db, svc)
}

/// An `atomscale_live_…` key with these permissions (`read,write`), made by the CLI.
fn key(db: &TempDb, permissions: &str) -> (String, String) {
    db.create_key(&[
        "--name",
        permissions,
        "--prefix",
        "atomscale",
        "--env",
        "live",
        "--scopes",
        permissions,
    ])
}

async fn call(svc: &RunningService, method: &str, path: &str, key: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .unwrap_or_else(|e| panic!("method {method}: {e}"));
    let mut request = reqwest::Client::new()
        .request(method.clone(), svc.at(path))
        .header("x-api-key", key);
    if method == reqwest::Method::POST {
        request = request.json(&json!({"name": "RHEED run 42"}));
    }
    Reply::of(request).await
}

fn assert_401(reply: &Reply, what: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (401, UNAUTHORIZED),
        "{what}"
    );
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

/// Creates an entry with `key` and returns its id.
async fn create(svc: &RunningService, key: &str) -> String {
    let reply = call(svc, "POST", "/data_entries/", key).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", reply.body))
        .to_owned()
}

#[tokio::test]
async fn only_a_valid_key_in_x_api_key_is_accepted() {
    let (db, svc) = start("entries-401");
    let (good, _) = key(&db, "read");
    let client = reqwest::Client::new();
    let url = svc.at("/data_entries/");

    assert_401(&Reply::of(client.get(&url)).await, "no key");
    assert_401(
        &Reply::of(client.get(&url).bearer_auth(&good)).await,
        "a bearer token instead of X-API-KEY",
    );
    assert_401(
        &Reply::of(client.get(format!("{url}?api_key={good}"))).await,
        "the key in the query",
    );
    assert_401(
        &call(&svc, "GET", "/data_entries/", "").await,
        "empty header",
    );
    assert_401(
        &call(&svc, "GET", "/data_entries/", "YOUR_API_KEY").await,
        "malformed",
    );
    let unknown = keygate::key_format::generate("atomscale", "live")
        .unwrap_or_else(|e| panic!("generate: {e}"));
    assert_401(
        &call(&svc, "GET", "/data_entries/", unknown.expose()).await,
        "unknown",
    );
    let (sk, _) = db.create_key(&["--name", "other", "--scopes", "read"]);
    assert_401(
        &call(&svc, "GET", "/data_entries/", &sk).await,
        "an sk_live_ key",
    );
    let (test_key, _) = db.create_key(&[
        "--name",
        "sandbox",
        "--prefix",
        "atomscale",
        "--env",
        "test",
        "--scopes",
        "read",
    ]);
    assert_401(
        &call(&svc, "GET", "/data_entries/", &test_key).await,
        "a test key on the live API",
    );

    let ok = call(&svc, "GET", "/data_entries/", &good).await;
    assert_eq!((ok.status, ok.json()), (200, json!([])), "{}", ok.body);
}

#[tokio::test]
async fn permissions_read_write_delete_and_admin() {
    let (db, svc) = start("entries-permissions");
    let (reader, _) = key(&db, "read");
    let (writer, writer_id) = key(&db, "write");
    let (deleter, _) = key(&db, "delete");
    let (read_write, _) = key(&db, "read,write");
    let (admin, _) = key(&db, "admin");

    // write: create, but not read or delete.
    let id = create(&svc, &writer).await;
    let path = format!("/data_entries/{id}");
    assert_403(
        &call(&svc, "GET", "/data_entries/", &writer).await,
        "read:data_entries",
        "write-only key lists",
    );
    assert_403(
        &call(&svc, "DELETE", &path, &writer).await,
        "delete:data_entries",
        "write-only key deletes",
    );

    // read: list and get, nothing else.
    let listed = call(&svc, "GET", "/data_entries/", &reader).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.json(),
        json!([{"id": id, "name": "RHEED run 42", "created_by": writer_id}])
    );
    assert_eq!(call(&svc, "GET", &path, &reader).await.status, 200);
    assert_403(
        &call(&svc, "POST", "/data_entries/", &reader).await,
        "write:data_entries",
        "read-only key creates",
    );
    assert_403(
        &call(&svc, "DELETE", &path, &reader).await,
        "delete:data_entries",
        "read-only key deletes",
    );

    // read,write: both.
    let second = create(&svc, &read_write).await;
    let listed = call(&svc, "GET", "/data_entries/", &read_write).await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(2));

    // delete: delete only.
    assert_403(
        &call(&svc, "GET", "/data_entries/", &deleter).await,
        "read:data_entries",
        "delete-only key lists",
    );
    let deleted = call(&svc, "DELETE", &path, &deleter).await;
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));
    let gone = call(&svc, "DELETE", &path, &deleter).await;
    assert_eq!(
        (gone.status, gone.json()),
        (404, json!({"detail": "Data entry not found"}))
    );
    assert_eq!(call(&svc, "GET", &path, &reader).await.status, 404);

    // admin: everything.
    let third = create(&svc, &admin).await;
    let listed = call(&svc, "GET", "/data_entries/", &admin).await;
    let ids: Vec<Value> = listed
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(second), json!(third)]);
    for id in [&second, &third] {
        let reply = call(&svc, "DELETE", &format!("/data_entries/{id}"), &admin).await;
        assert_eq!(reply.status, 204, "admin deletes {id}");
    }
    assert_eq!(
        call(&svc, "GET", "/data_entries/", &admin).await.json(),
        json!([])
    );

    // An invalid key on a guarded route is 401, not 403.
    assert_401(
        &call(&svc, "DELETE", "/data_entries/de_1", "nope").await,
        "malformed key on DELETE",
    );
}

#[tokio::test]
async fn a_key_revoked_by_the_cli_stops_working_on_the_next_request() {
    let (db, svc) = start("entries-revoke");
    let (doomed, doomed_id) = key(&db, "read,write");
    let (other, _) = key(&db, "read");
    // Use the key a few times first: had the service cached it, it would be cached now.
    for _ in 0..3 {
        assert_eq!(
            call(&svc, "GET", "/data_entries/", &doomed).await.status,
            200
        );
    }
    create(&svc, &doomed).await;

    let revoked = db.keygate_json(&["keys", "revoke", &doomed_id]);
    assert_eq!(revoked["status"], "revoked");
    // No wait, no retry: the very next request is refused.
    assert_401(
        &call(&svc, "GET", "/data_entries/", &doomed).await,
        "revoked key, next request",
    );
    assert_401(
        &call(&svc, "POST", "/data_entries/", &doomed).await,
        "revoked key, write",
    );
    assert_eq!(
        call(&svc, "GET", "/data_entries/", &other).await.status,
        200,
        "other keys are untouched"
    );
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let (db, svc) = start("entries-expiry");
    let created = db.keygate_json(&[
        "keys",
        "create",
        "--name",
        "short",
        "--prefix",
        "atomscale",
        "--env",
        "live",
        "--scopes",
        "read",
        "--expires-in",
        "1s",
    ]);
    let expiring = created["key"].as_str().expect("a string field").to_owned();
    let expires_at = created["expiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("no expiresAt in {created}"));
    let before = call(&svc, "GET", "/data_entries/", &expiring).await;
    if chrono::Utc::now() < expires_at {
        assert_eq!(before.status, 200, "{}", before.body);
    }
    // The one wall-clock wait: just past the expiry.
    let wait = (expires_at - chrono::Utc::now() + chrono::Duration::milliseconds(150))
        .to_std()
        .unwrap_or_default();
    assert!(wait <= Duration::from_secs(2), "{wait:?}");
    std::thread::sleep(wait);
    assert_401(
        &call(&svc, "GET", "/data_entries/", &expiring).await,
        "expired key",
    );
}

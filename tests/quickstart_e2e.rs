//! End-to-end test of the two quickstarts: each start revokes the demo key the
//! previous start printed and prints one that expires, so restarts never pile up
//! working demo keys in the database.

use keygate_http_tests::process::{Reply, RunningService, TempDb};

/// The demo key a quickstart printed.
fn demo_key(svc: &RunningService) -> String {
    let lines = svc.stdout_lines();
    lines
        .iter()
        .find_map(|l| l.strip_prefix("demo key (shown once): "))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no demo key in {lines:?}"))
}

async fn hello(svc: &RunningService, key: &str) -> u16 {
    Reply::of(
        reqwest::Client::new()
            .get(svc.at("/hello"))
            .bearer_auth(key),
    )
    .await
    .status
}

async fn one_working_demo_key_after_two_starts(package: &str) {
    let db = TempDb::new(package);
    let first = RunningService::start(package, &db, &[]);
    let first_key = demo_key(&first);
    assert_eq!(hello(&first, &first_key).await, 200);
    drop(first);

    let second = RunningService::start(package, &db, &[]);
    let second_key = demo_key(&second);
    assert_ne!(first_key, second_key);
    assert_eq!(
        hello(&second, &first_key).await,
        401,
        "the first demo key is revoked"
    );
    assert_eq!(hello(&second, &second_key).await, 200);

    let active = db.keygate_json(&["keys", "list", "--tenant", "demo-tenant"]);
    let active = active.as_array().cloned().expect("an array field");
    assert_eq!(active.len(), 1, "exactly one active demo key: {active:?}");
    assert_eq!(active[0]["metadata"]["demo"], true, "{active:?}");
    let expires = active[0]["expiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("the demo key must expire: {active:?}"));
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
        "{left}"
    );
    let all = db.keygate_json(&[
        "keys",
        "list",
        "--tenant",
        "demo-tenant",
        "--include-revoked",
    ]);
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
}

#[tokio::test]
async fn axum_quickstart_keeps_one_demo_key() {
    one_working_demo_key_after_two_starts("example-axum-quickstart").await;
}

#[tokio::test]
async fn actix_quickstart_keeps_one_demo_key() {
    one_working_demo_key_after_two_starts("example-actix-quickstart").await;
}

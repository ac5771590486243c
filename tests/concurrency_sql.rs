//! Issue 11's concurrency suite over HTTP against real SQLite and PostgreSQL: parallel
//! PATCHes, disables, enables and rotations race one DELETE, round after round;
//! afterwards the key is revoked in the store and refused over HTTP. Parallel rotations
//! of one key mint exactly one successor. Verification counts written by many writers
//! at once add up.
//!
//! PostgreSQL is found through `KEYGATE_TEST_POSTGRES_URL`; without it the PostgreSQL
//! half is skipped with a reason, except under `CI=true`, where it fails.

use std::sync::Arc;
use std::time::Duration;

use keygate::{Actor, KeyGate, KeyManager, KeyStore, NewKey, ScopeSet};
use keygate_admin::Admin;
use keygate_tower::ApiKeyLayer;
use serde_json::Value;

const ROUNDS: usize = 15;
const WRITERS: usize = 4;

struct Server {
    base: String,
    admin_key: String,
    manager: KeyManager,
    client: reqwest::Client,
}

async fn serve(store: Arc<dyn KeyStore>) -> Server {
    let manager = KeyManager::builder(store.clone()).build();
    let admin_key = manager
        .create(
            &Actor::system(),
            NewKey::named("admin")
                .tenant("acme")
                .scopes(ScopeSet::parse(["*"]).expect("valid scopes")),
        )
        .await
        .unwrap_or_else(|e| panic!("admin key: {e}"))
        .key
        .expose()
        .to_owned();
    let gate = KeyGate::builder(store).build();
    let app =
        keygate_admin::axum::router(Admin::new(manager.clone())).layer(ApiKeyLayer::new(gate));
    let base = keygate_http_tests::serve::axum(app).await;
    Server {
        base,
        admin_key,
        manager,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

impl Server {
    async fn create(&self, name: &str) -> (String, String) {
        let res = self
            .client
            .post(format!("{}/v1/api-keys", self.base))
            .bearer_auth(&self.admin_key)
            .json(&serde_json::json!({"name": name, "scopes": ["read:items"]}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert_eq!(res.status().as_u16(), 201);
        let body: Value = res.json().await.expect("a JSON body");
        (
            body["id"].as_str().expect("a string field").to_owned(),
            body["key"].as_str().expect("a string field").to_owned(),
        )
    }

    async fn status(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn verifies(&self, key: &str) -> bool {
        self.client
            .get(format!("{}/v1/auth/verify", self.base))
            .bearer_auth(key)
            .send()
            .await
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false)
    }
}

/// Each round: WRITERS tasks PATCH the key in a loop, one rotates it, one DELETEs it.
async fn revocation_survives_concurrent_writers(server: Arc<Server>, backend: &str) {
    for round in 0..ROUNDS {
        let (id, key) = server.create(&format!("victim {round}")).await;
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (server, id) = (server.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..4 {
                    // Edits, disables and enables: none may undo the revoke.
                    let (method, path, body) = match (w + i) % 3 {
                        0 => (
                            reqwest::Method::PATCH,
                            format!("/v1/api-keys/{id}"),
                            Some(serde_json::json!({"name": format!("writer {w}.{i}")})),
                        ),
                        1 => (
                            reqwest::Method::POST,
                            format!("/v1/api-keys/{id}/disable"),
                            None,
                        ),
                        _ => (
                            reqwest::Method::POST,
                            format!("/v1/api-keys/{id}/enable"),
                            None,
                        ),
                    };
                    let status = server.status(method, &path, body).await;
                    // 404 once the DELETE landed: a revoked key is gone from the API.
                    assert!(
                        matches!(status, 200 | 404 | 409),
                        "{path} answered {status}"
                    );
                }
            }));
        }
        {
            let (server, id) = (server.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let body = serde_json::json!({"gracePeriod": "1h"});
                let status = server
                    .status(
                        reqwest::Method::POST,
                        &format!("/v1/api-keys/{id}/rotate"),
                        Some(body),
                    )
                    .await;
                assert!(
                    matches!(status, 201 | 404 | 409),
                    "rotate answered {status}"
                );
            }));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        let deleted = server
            .status(reqwest::Method::DELETE, &format!("/v1/api-keys/{id}"), None)
            .await;
        assert_eq!(deleted, 200, "{backend} round {round}: DELETE");
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
        let stored = server
            .manager
            .get(
                &Actor::system(),
                &keygate::KeyId::parse(&id).unwrap_or_else(|| panic!("bad id {id}")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stored.revoked_at.is_some(),
            "{backend} round {round}: the revoke was undone by a concurrent write"
        );
        assert!(
            !server.verifies(&key).await,
            "{backend} round {round}: the revoked key is accepted over HTTP"
        );
    }
}

/// Parallel rotations of one key: exactly one answers 201, exactly one successor exists.
async fn parallel_rotations_make_one_successor(server: Arc<Server>, backend: &str) {
    for round in 0..5 {
        let (id, _) = server.create(&format!("rotated {round}")).await;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (server, id) = (server.clone(), id.clone());
                tokio::spawn(async move {
                    server
                        .status(
                            reqwest::Method::POST,
                            &format!("/v1/api-keys/{id}/rotate"),
                            None,
                        )
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            let status = task.await.unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(status, 201 | 409 | 422),
                "{backend}: rotate answered {status}"
            );
            created += usize::from(status == 201);
        }
        assert_eq!(created, 1, "{backend} round {round}: one rotation wins");
        let keys = server
            .manager
            .list(
                &Actor::system(),
                Some("acme"),
                None,
                true,
                &keygate::store::PageRequest::first(1000),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let successors = keys
            .items
            .iter()
            .filter(|r| r.name == format!("rotated {round}"))
            .count();
        assert_eq!(
            successors, 2,
            "{backend} round {round}: the key and one successor"
        );
    }
}

/// Many writers (as many instances' flushers would) add to the same minute rows at
/// once: every count arrives.
async fn verification_counts_from_many_writers_add_up(store: Arc<dyn KeyStore>, backend: &str) {
    use keygate::analytics::{VerificationCount, VerificationFilter, VerificationOutcome};
    let key = keygate::KeyId::generate();
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
    let tasks: Vec<_> = (0..WRITERS * 2)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    let counts = [VerificationOutcome::Valid, VerificationOutcome::RateLimited]
                        .map(|outcome| VerificationCount {
                            key_id: Some(key.clone()),
                            tenant: Some("acme".into()),
                            env: Some("live".into()),
                            at,
                            outcome,
                            count: 1,
                        });
                    store
                        .record_verifications(&counts)
                        .await
                        .unwrap_or_else(|e| panic!("record: {e}"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
    let rows = store
        .verification_counts(&VerificationFilter {
            key_id: Some(key),
            ..VerificationFilter::between(at, at + chrono::Duration::minutes(1))
        })
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    let counts: Vec<u64> = rows.iter().map(|c| c.count).collect();
    let expected = u64::try_from(WRITERS * 2 * 10).expect("small");
    assert_eq!(counts, vec![expected, expected], "{backend}: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_holds_revocation_and_rotation_under_concurrency() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
    let store = keygate_sqlx::SqliteStore::builder(&url)
        .max_connections(8)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("sqlite: {e}"));
    let store: Arc<dyn KeyStore> = Arc::new(store);
    let server = Arc::new(serve(store.clone()).await);
    revocation_survives_concurrent_writers(server.clone(), "sqlite").await;
    parallel_rotations_make_one_successor(server, "sqlite").await;
    verification_counts_from_many_writers_add_up(store, "sqlite").await;
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_holds_revocation_and_rotation_under_concurrency() {
    let Ok(url) = std::env::var("KEYGATE_TEST_POSTGRES_URL") else {
        assert!(
            !in_ci(),
            "KEYGATE_TEST_POSTGRES_URL is required when CI=true"
        );
        eprintln!("skipping: KEYGATE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("kg_conc_{}", std::process::id());
    let store = match keygate_sqlx::PostgresStore::builder(&url)
        .schema(schema.clone())
        .max_connections(8)
        .connect()
        .await
    {
        Ok(store) => store,
        Err(e) if !in_ci() => {
            eprintln!("skipping: PostgreSQL unreachable: {e}");
            return;
        }
        Err(e) => panic!("PostgreSQL is required when CI=true: {e}"),
    };
    let pool = store.pool().clone();
    let store: Arc<dyn KeyStore> = Arc::new(store);
    let server = Arc::new(serve(store.clone()).await);
    revocation_survives_concurrent_writers(server.clone(), "postgres").await;
    parallel_rotations_make_one_successor(server, "postgres").await;
    verification_counts_from_many_writers_add_up(store, "postgres").await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await;
}

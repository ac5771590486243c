//! SqliteStore: conformance (memory and file), persistence, WAL, the change feed.
#![cfg(feature = "sqlite")]

mod common;

use std::time::Duration;

use chrono::SubsecRound;
use common::{key, TempDb};
use keygate::role::Role;
use keygate::store::{KeyFilter, PageRequest};
use keygate::{KeyStore, ScopeSet};
use keygate_moka::{Invalidation, InvalidationSource};
use keygate_sqlx::SqliteStore;
use sqlx::Row;

async fn open(url: &str) -> SqliteStore {
    SqliteStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[tokio::test]
async fn in_memory_passes_the_conformance_suite() {
    keygate::testing::conformance::run_all(|| open("sqlite::memory:")).await;
}

#[tokio::test]
async fn a_change_and_its_audit_event_are_one_transaction() {
    common::a_change_and_its_event_commit_together(&open("sqlite::memory:").await).await;
}

#[tokio::test]
async fn a_file_passes_the_conformance_suite() {
    let files: std::sync::Mutex<Vec<TempDb>> = std::sync::Mutex::default();
    keygate::testing::conformance::run_all(|| {
        let db = TempDb::new();
        let url = db.url();
        files.lock().unwrap_or_else(|e| e.into_inner()).push(db);
        async move { open(&url).await }
    })
    .await;
}

#[tokio::test]
async fn a_cache_over_a_file_passes_the_conformance_suite() {
    let files: std::sync::Mutex<Vec<TempDb>> = std::sync::Mutex::default();
    keygate::testing::conformance::run_all(|| {
        let db = TempDb::new();
        let url = db.url();
        files.lock().unwrap_or_else(|e| e.into_inner()).push(db);
        async move { keygate_moka::CachedStore::new(open(&url).await) }
    })
    .await;
}

#[tokio::test]
async fn a_file_is_created_migrated_and_survives_a_restart() {
    let db = TempDb::new();
    assert!(!db.path.exists());
    let (_, mut record) = key("durable");
    // Stores keep microseconds.
    record.created_at = record.created_at.trunc_subsecs(6);
    {
        let store = open(&db.url()).await;
        assert!(db.path.exists(), "created on first use");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode, "wal");
        store.pool().close().await;
    }
    let reopened = open(&db.url()).await;
    let got = reopened
        .find_by_hash(&record.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.as_deref(), Some(&record), "the key survives a restart");
    reopened
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating twice: {e}"));
}

#[tokio::test]
async fn lookups_use_the_unique_hash_index() {
    let store = open("sqlite::memory:").await;
    let plan: Vec<String> =
        sqlx::query("EXPLAIN QUERY PLAN SELECT id FROM keygate_keys WHERE hash = x'00'")
            .fetch_all(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|row| row.get("detail"))
            .collect();
    assert!(
        plan.iter().any(|d| d.contains("keygate_keys_hash")),
        "plan: {plan:?}"
    );
}

#[tokio::test]
async fn usage_is_one_batch_and_keeps_the_latest_time() {
    let store = open("sqlite::memory:").await;
    let (_, a) = key("a");
    let (_, b) = key("b");
    store.insert(&a).await.unwrap_or_else(|e| panic!("{e}"));
    store.insert(&b).await.unwrap_or_else(|e| panic!("{e}"));
    let t =
        |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a valid timestamp");
    store
        .record_usage(&[
            (a.id.clone(), t(5)),
            (b.id.clone(), t(7)),
            (a.id.clone(), t(9)),
        ])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_usage(&[(a.id.clone(), t(1))])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = store
        .list(&KeyFilter::tenant("acme"), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let used: Vec<_> = page
        .items
        .iter()
        .map(|r| (r.id.clone(), r.last_used_at))
        .collect();
    assert!(used.contains(&(a.id.clone(), Some(t(9)))), "{used:?}");
    assert!(used.contains(&(b.id.clone(), Some(t(7)))), "{used:?}");
}

#[tokio::test]
async fn writes_appear_on_the_change_feed() {
    let db = TempDb::new();
    let writer = open(&db.url()).await;
    let reader = open(&db.url()).await;
    let mut feed = reader.changes().interval(Duration::from_millis(20));
    let first = feed
        .next_batch()
        .await
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        first,
        Some(vec![Invalidation::All]),
        "the feed starts by dropping everything"
    );

    let (_, record) = key("watched");
    writer
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    writer
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let role = Role::new("viewer", ScopeSet::parse(["read"]).expect("valid scopes"))
        .unwrap_or_else(|e| panic!("{e}"));
    writer
        .put_role(&role)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tenants = role
        .clone()
        .in_namespace("acme", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    writer
        .put_role(&tenants)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..2 {
        // Announced once: the second delete deletes nothing.
        writer
            .delete_role(tenants.namespace(), "viewer")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let batch = feed
        .next_batch()
        .await
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        batch,
        Some(vec![
            Invalidation::Key(record.hash),
            Invalidation::Key(record.hash),
            Invalidation::Role("viewer".into()),
            Invalidation::Role("viewer".into()),
            Invalidation::Role("viewer".into()),
        ])
    );

    reader.pool().close().await;
    assert!(
        feed.next_batch().await.is_none(),
        "the feed ends with the pool"
    );
}

#[tokio::test]
async fn an_update_of_a_missing_key_writes_no_change() {
    let store = open("sqlite::memory:").await;
    let (_, ghost) = key("ghost");
    assert!(store.update(&ghost).await.is_err());
    let changes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keygate_changes")
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changes, 0, "the failed write rolled back");
}

#[tokio::test]
async fn owner_changes_and_rotations_are_on_the_change_feed() {
    let db = TempDb::new();
    let store = open(&db.url()).await;
    let mut feed = store.changes().interval(Duration::from_millis(20));
    assert_eq!(
        feed.next_batch()
            .await
            .map(|r| r.unwrap_or_else(|e| panic!("{e}"))),
        Some(vec![Invalidation::All])
    );
    let (_, mut personal) = key("personal");
    personal.kind = keygate::record::KeyKind::Personal;
    personal.owner = Some("alice".into());
    let (_, mut service) = key("service");
    service.owner = Some("alice".into());
    let (_, successor) = key("successor");
    for r in [&personal, &service] {
        store.insert(r).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let now = chrono::Utc::now();
    store
        .deactivate_owner("acme", "alice", now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Already deactivated: nothing changes, nothing is announced.
    store
        .deactivate_owner("acme", "alice", now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .reactivate_owner("acme", "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .rotate(&service, now, &successor)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let batch = feed
        .next_batch()
        .await
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        batch,
        Some(vec![
            Invalidation::Key(personal.hash),
            Invalidation::Key(service.hash),
            Invalidation::Key(personal.hash),
            Invalidation::Key(personal.hash),
            Invalidation::Key(service.hash),
            Invalidation::Key(successor.hash),
        ])
    );
}

//! PostgresStore against a real server (see `common/pg.rs` for how it is found):
//! conformance, persistence, the hash index, batched usage, NOTIFY on every write.
#![cfg(feature = "postgres")]

mod common;

use std::time::Duration;

use chrono::SubsecRound;
use common::key;
use common::pg::with_postgres;
use keygate::role::Role;
use keygate::{KeyStore, ScopeSet};
use keygate_moka::{Invalidation, InvalidationSource};
use sqlx::Row;

#[tokio::test]
async fn passes_the_conformance_suite() {
    with_postgres("postgres conformance", |pg| async move {
        keygate::testing::conformance::run_all(|| {
            let pg = pg.clone();
            async move { pg.store().await }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_cache_over_it_passes_the_conformance_suite() {
    with_postgres("postgres cached conformance", |pg| async move {
        keygate::testing::conformance::run_all(|| {
            let pg = pg.clone();
            async move { keygate_moka::CachedStore::new(pg.store().await) }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn keys_survive_a_new_connection_and_migrating_again() {
    with_postgres("postgres persistence", |pg| async move {
        let schema = pg.schema();
        let first = pg.store_in(&schema).await;
        let (_, mut record) = key("durable");
        record.created_at = record.created_at.trunc_subsecs(6);
        first
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        first.pool().close().await;

        let second = pg.store_in(&schema).await;
        let got = second
            .find_by_hash(&record.hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.as_deref(), Some(&record));
        assert_eq!(second.schema(), Some(schema.as_str()));
    })
    .await;
}

#[tokio::test]
async fn a_change_and_its_audit_event_are_one_transaction() {
    with_postgres(
        "postgres audit in the change's transaction",
        |pg| async move {
            let store = pg.store().await;
            common::a_change_and_its_event_commit_together(&store).await;
            store.pool().close().await;
        },
    )
    .await;
}

#[tokio::test]
async fn lookups_use_the_unique_hash_index() {
    with_postgres("postgres hash index", |pg| async move {
        let store = pg.store().await;
        let unique: bool = sqlx::query_scalar(
            "SELECT indisunique FROM pg_index WHERE indexrelid = 'keygate_keys_hash'::regclass",
        )
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(unique);
        let mut tx = store.pool().begin().await.unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let plan: Vec<String> =
            sqlx::query("EXPLAIN SELECT id FROM keygate_keys WHERE hash = '\\x00'::bytea")
                .fetch_all(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|row| row.get(0))
                .collect();
        assert!(
            plan.iter().any(|l| l.contains("keygate_keys_hash")),
            "{plan:?}"
        );
    })
    .await;
}

async fn next(feed: &mut keygate_sqlx::PgInvalidations) -> Vec<Invalidation> {
    tokio::time::timeout(Duration::from_secs(5), feed.next_batch())
        .await
        .unwrap_or_else(|_| panic!("no notification within 5 s"))
        .unwrap_or_else(|| panic!("feed ended"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn every_write_is_announced_after_it_commits() {
    with_postgres("postgres notify", |pg| async move {
        let store = pg.store().await;
        let mut feed = store.invalidations();
        assert_eq!(next(&mut feed).await, vec![Invalidation::All], "connected");

        let (_, record) = key("announced");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut feed).await, vec![Invalidation::Key(record.hash)]);

        // A failed write announces nothing; the next one is heard alone.
        let (_, ghost) = key("ghost");
        assert!(store.update(&ghost).await.is_err());
        store
            .revoke(&record.id, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut feed).await, vec![Invalidation::Key(record.hash)]);

        let role = Role::new("viewer", ScopeSet::parse(["read"]).expect("valid scopes"))
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .put_role(&role)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next(&mut feed).await,
            vec![Invalidation::Role("viewer".into())]
        );
        let ns =
            keygate::role::RoleNamespace::new("acme", "live").unwrap_or_else(|e| panic!("{e}"));
        assert!(!store
            .delete_role(Some(&ns), "viewer")
            .await
            .unwrap_or_else(|e| panic!("{e}")));
        assert!(store
            .delete_role(None, "viewer")
            .await
            .unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            next(&mut feed).await,
            vec![Invalidation::Role("viewer".into())],
            "a delete is announced; a delete of nothing is not"
        );

        // Another schema's writes are not heard here.
        let other = pg.store().await;
        let (_, elsewhere) = key("elsewhere");
        other
            .insert(&elsewhere)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let heard = tokio::time::timeout(Duration::from_millis(300), feed.next_batch()).await;
        assert!(heard.is_err(), "heard another schema: {heard:?}");

        store.pool().close().await;
    })
    .await;
}

#[tokio::test]
async fn owner_changes_announce_each_personal_key() {
    with_postgres("postgres owner notify", |pg| async move {
        let store = pg.store().await;
        let mut feed = store.invalidations();
        assert_eq!(next(&mut feed).await, vec![Invalidation::All], "connected");
        let (_, mut personal) = key("personal");
        personal.kind = keygate::record::KeyKind::Personal;
        personal.owner = Some("alice".into());
        let (_, mut service) = key("service");
        service.owner = Some("alice".into());
        for r in [&personal, &service] {
            store.insert(r).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(next(&mut feed).await, vec![Invalidation::Key(r.hash)]);
        }
        store
            .deactivate_owner("acme", "alice", chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next(&mut feed).await,
            vec![Invalidation::Key(personal.hash)]
        );
        store
            .reactivate_owner("acme", "alice")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next(&mut feed).await,
            vec![Invalidation::Key(personal.hash)]
        );
        store.pool().close().await;
    })
    .await;
}

//! A database made by the first release (migration 0001 only, with keys, a role and
//! audit events in it) opened by this one: migrations 0002 and 0003 apply, the old
//! rows read, update, revoke and rotate under the new invariants, and the old role is
//! global (shadowed per tenant and environment by a role of that namespace).

mod common;

use std::path::PathBuf;

use keygate::audit::AuditFilter;
use keygate::role::Role;
use keygate::store::{KeyFilter, PageRequest};
use keygate::{KeyRecord, KeyStore, ScopeSet, StoreError};
use sqlx::migrate::Migrator;

/// A directory holding only `0001_keygate.sql` of `dialect`, for sqlx's migrator (the
/// same text, so the same checksum the first release recorded).
fn only_0001(dialect: &str) -> (common::TempDir, PathBuf) {
    let dir = common::TempDir::new();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect)
        .join("0001_keygate.sql");
    let path = dir.path.join("0001_keygate.sql");
    std::fs::copy(src, &path).unwrap_or_else(|e| panic!("{e}"));
    let dir_path = dir.path.clone();
    (dir, dir_path)
}

/// What the old rows must do once migrated.
async fn old_rows_follow_the_new_invariants(store: &impl KeyStore, old: &KeyRecord) {
    let found = store
        .find_by_hash(&old.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the old key is gone"));
    assert_eq!((found.version, found.owner_deactivated_at), (0, None));
    assert_eq!(
        (found.name.as_str(), found.owner.as_deref()),
        ("old", Some("alice"))
    );

    let audit = store
        .list_audit(&AuditFilter::default(), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].count, 1, "old events count once");

    let global = store
        .get_role("acme", "live", "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the old role is gone"));
    assert!(global.is_global(), "an old role is global: {global:?}");
    assert_eq!(global.scopes.to_strings(), vec!["read"]);
    let acme = Role::new(
        "viewer",
        ScopeSet::parse(["read:scans"]).expect("valid scopes"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .in_namespace("acme", "live")
    .unwrap_or_else(|e| panic!("{e}"));
    store
        .put_role(&acme)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let resolved = store
        .get_role("acme", "live", "viewer")
        .await
        .ok()
        .flatten();
    assert_eq!(resolved.as_ref(), Some(&acme), "the namespace's role first");
    let other = store
        .get_role("globex", "live", "viewer")
        .await
        .ok()
        .flatten();
    assert_eq!(other, Some(global), "the global one elsewhere");
    assert_eq!(store.list_roles().await.map(|r| r.len()).ok(), Some(2));

    let mut renamed = KeyRecord::clone(&found);
    renamed.name = "renamed".into();
    store
        .update(&renamed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.update(&renamed).await,
        Err(StoreError::VersionConflict)
    ));
    store
        .deactivate_owner("acme", "alice", chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = store
        .list(
            &KeyFilter::tenant("acme").env("live"),
            &PageRequest::first(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].owner_deactivated_at.is_some());
    let revoked = store
        .revoke(&old.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked.version, 2);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_sqlite_file_from_0001_migrates() {
    let db = common::TempDb::new();
    let (_dir, path) = only_0001("sqlite");
    let (_, old) = common::key("old");
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&db.path)
                    .create_if_missing(true),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Migrator::new(path.as_path())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("0001: {e}"));
        // Rows as the first release wrote them: no version, no count.
        sqlx::query(
            "INSERT INTO keygate_keys (id, hash, hint, prefix, env, name, tenant, owner, kind, \
             created_at) VALUES (?, ?, 'sk_live_…old', 'sk', 'live', 'old', 'acme', 'alice', \
             'personal', 1700000000000000)",
        )
        .bind(old.id.as_str())
        .bind(old.hash.as_bytes().as_slice())
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(
            "INSERT INTO keygate_audit (id, at, action, outcome) \
             VALUES ('evt_old', 1700000000000000, 'key.verify', 'failure')",
        )
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("INSERT INTO keygate_roles (name, scopes) VALUES ('viewer', '[\"read\"]')")
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
    }
    let store = keygate_sqlx::SqliteStore::connect(&db.url())
        .await
        .unwrap_or_else(|e| panic!("opening a 0001 database: {e}"));
    old_rows_follow_the_new_invariants(&store, &old).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_schema_from_0001_migrates() {
    common::pg::with_postgres("postgres migration from 0001", |pg| async move {
        let schema = pg.schema();
        let (_dir, path) = only_0001("postgres");
        let (_, old) = common::key("old");
        {
            let options: sqlx::postgres::PgConnectOptions =
                pg.url.parse().unwrap_or_else(|e| panic!("{e}"));
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.options([("search_path", schema.as_str())]))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            Migrator::new(path.as_path())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .run(&pool)
                .await
                .unwrap_or_else(|e| panic!("0001: {e}"));
            sqlx::query(
                "INSERT INTO keygate_keys (id, hash, hint, prefix, env, name, tenant, owner, \
                 kind, created_at) VALUES ($1, $2, 'sk_live_…old', 'sk', 'live', 'old', 'acme', \
                 'alice', 'personal', now())",
            )
            .bind(old.id.as_str())
            .bind(old.hash.as_bytes().as_slice())
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query(
                "INSERT INTO keygate_audit (id, at, action, outcome) \
                 VALUES ('evt_old', now(), 'key.verify', 'failure')",
            )
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query("INSERT INTO keygate_roles (name, scopes) VALUES ('viewer', '[\"read\"]')")
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            pool.close().await;
        }
        let store = pg.store_in(&schema).await;
        old_rows_follow_the_new_invariants(&store, &old).await;
    })
    .await;
}

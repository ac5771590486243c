//! The store conformance suite: the cases every [`KeyStore`] must pass.
//!
//! Run it from your store's tests with a factory that returns a fresh, empty store:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! keygate::testing::conformance::run_all(|| async { keygate::MemoryStore::new() }).await;
//! # });
//! ```
//!
//! Each case panics with a message naming it when the store misbehaves.

use std::future::Future;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::{
    AuditEvent, AuditFilter, KeyFilter, KeyHasher, KeyId, KeyKind, KeyRecord, KeyStore, Outcome,
    PageRequest, RateLimitSpec, Role, Rotation, ScopeSet, StoreError,
};

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: KeyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    insert_then_find(&make().await).await;
    unknown_hash_is_none(&make().await).await;
    duplicate_id_or_hash_conflicts(&make().await).await;
    update_round_trips_every_field(&make().await).await;
    update_of_missing_key_is_not_found(&make().await).await;
    list_is_per_tenant_ordered_and_paged(&make().await).await;
    list_filters_owner_and_revoked(&make().await).await;
    bad_cursor_is_an_error(&make().await).await;
    roles_put_get_list_replace(&make().await).await;
    usage_keeps_the_latest_time(&make().await).await;
    audit_appends_filters_and_pages(&make().await).await;
}

/// A fixed instant with whole seconds, so every backend round-trips it exactly.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
}

/// A record with every optional field empty, created at `t(created)`.
pub fn record(key: &str, tenant: &str, created: i64) -> KeyRecord {
    let mut r = KeyRecord::new(
        KeyHasher::Sha256.hash(key),
        format!("sk_live_…{}", &key[key.len().saturating_sub(4)..]),
        "sk",
        "live",
        format!("name of {key}"),
        tenant,
    );
    r.created_at = t(created);
    r
}

fn full_record() -> KeyRecord {
    let mut r = record("sk_live_full", "acme", 1);
    r.description = Some("every field set".into());
    r.owner = Some("usr_42".into());
    r.kind = KeyKind::Personal;
    r.role = Some("radiologist".into());
    r.scopes = ScopeSet::parse(["read:scans", "write", "admin"]).unwrap_or_default();
    r.expires_at = Some(t(86_400));
    r.revoked_at = Some(t(500));
    r.last_used_at = Some(t(400));
    r.rotation = Some(Rotation {
        replaced_by: KeyId::generate(),
        grace_until: t(90_000),
    });
    r.allowed_ips = vec![
        "10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!()),
        "2001:db8::1/128".parse().unwrap_or_else(|_| unreachable!()),
    ];
    r.allowed_referrers = vec!["*.example.com".into()];
    r.rate_limit = Some(RateLimitSpec {
        requests: 1000,
        per_seconds: 3600,
        burst: Some(50),
        daily_quota: Some(10_000),
    });
    r.metadata.insert(
        "team".into(),
        serde_json::json!({"name": "imaging", "size": 3}),
    );
    r.created_by = Some(KeyId::generate());
    r
}

async fn insert_then_find(store: &impl KeyStore) {
    let r = record("sk_live_a", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("insert_then_find: insert failed: {e}"));
    let found = store
        .find_by_hash(&r.hash)
        .await
        .unwrap_or_else(|e| panic!("insert_then_find: {e}"));
    assert_eq!(
        found.as_ref(),
        Some(&r),
        "insert_then_find: find_by_hash returns the record"
    );
    let got = store
        .get(&r.id)
        .await
        .unwrap_or_else(|e| panic!("insert_then_find: {e}"));
    assert_eq!(
        got.as_ref(),
        Some(&r),
        "insert_then_find: get returns the record"
    );
}

async fn unknown_hash_is_none(store: &impl KeyStore) {
    let found = store.find_by_hash(&KeyHasher::Sha256.hash("nope")).await;
    assert!(
        matches!(found, Ok(None)),
        "unknown_hash_is_none: got {found:?}"
    );
    let got = store.get(&KeyId::generate()).await;
    assert!(
        matches!(got, Ok(None)),
        "unknown_hash_is_none: get of unknown id: {got:?}"
    );
}

async fn duplicate_id_or_hash_conflicts(store: &impl KeyStore) {
    let r = record("sk_live_dup", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("duplicate: first insert: {e}"));
    let mut same_hash = record("sk_live_dup", "acme", 1);
    same_hash.id = KeyId::generate();
    let res = store.insert(&same_hash).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "duplicate: same hash must conflict, got {res:?}"
    );
    let mut same_id = record("sk_live_other", "acme", 1);
    same_id.id = r.id.clone();
    let res = store.insert(&same_id).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "duplicate: same id must conflict, got {res:?}"
    );
}

async fn update_round_trips_every_field(store: &impl KeyStore) {
    let plain = record("sk_live_full", "acme", 1);
    store
        .insert(&plain)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: insert: {e}"));
    let mut full = full_record();
    full.id = plain.id.clone();
    full.hash = plain.hash;
    store
        .update(&full)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: update: {e}"));
    let got = store
        .get(&full.id)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: {e}"));
    assert_eq!(
        got.as_ref(),
        Some(&full),
        "update_round_trips: every field survives"
    );
    let by_hash = store
        .find_by_hash(&full.hash)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: {e}"));
    assert_eq!(
        by_hash.as_ref(),
        Some(&full),
        "update_round_trips: find_by_hash sees the update"
    );

    // A full record inserted directly round-trips too.
    let mut other = full_record();
    other.id = KeyId::generate();
    other.hash = KeyHasher::Sha256.hash("sk_live_full_2");
    store
        .insert(&other)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: insert full: {e}"));
    let got = store
        .get(&other.id)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: {e}"));
    assert_eq!(
        got.as_ref(),
        Some(&other),
        "update_round_trips: inserted full record"
    );
}

async fn update_of_missing_key_is_not_found(store: &impl KeyStore) {
    let res = store.update(&record("sk_live_ghost", "acme", 0)).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "update_missing: got {res:?}"
    );
}

async fn list_is_per_tenant_ordered_and_paged(store: &impl KeyStore) {
    let mut expected = Vec::new();
    for i in 0..5 {
        let r = record(&format!("sk_live_acme{i}"), "acme", 10 - i);
        store
            .insert(&r)
            .await
            .unwrap_or_else(|e| panic!("list: insert: {e}"));
        expected.push(r);
    }
    for i in 0..2 {
        store
            .insert(&record(&format!("sk_live_globex{i}"), "globex", i))
            .await
            .unwrap_or_else(|e| panic!("list: insert: {e}"));
    }
    expected.sort_by_key(|r| (r.created_at, r.id.to_string()));
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    let mut pages = 0;
    loop {
        let got = store
            .list(&KeyFilter::tenant("acme"), &page)
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert!(got.items.len() <= 2, "list: page size respected");
        seen.extend(got.items);
        pages += 1;
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "list: cursor loops");
    }
    assert_eq!(pages, 3, "list: 5 items in pages of 2");
    let ids: Vec<_> = seen.iter().map(|r| r.id.clone()).collect();
    let want: Vec<_> = expected.iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        ids, want,
        "list: only the tenant's keys, ordered by created_at"
    );
}

async fn list_filters_owner_and_revoked(store: &impl KeyStore) {
    let mut mine = record("sk_live_mine", "acme", 0);
    mine.owner = Some("alice".into());
    let mut revoked = record("sk_live_revoked", "acme", 1);
    revoked.owner = Some("alice".into());
    revoked.revoked_at = Some(t(2));
    let theirs = record("sk_live_theirs", "acme", 2);
    for r in [&mine, &revoked, &theirs] {
        store
            .insert(r)
            .await
            .unwrap_or_else(|e| panic!("list_filters: insert: {e}"));
    }
    let mut filter = KeyFilter::tenant("acme");
    filter.owner = Some("alice".into());
    let got = store
        .list(&filter, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("list_filters: {e}"));
    assert_eq!(
        got.items.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&mine.id],
        "list_filters: owner, not revoked"
    );
    filter.include_revoked = true;
    let got = store
        .list(&filter, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("list_filters: {e}"));
    assert_eq!(got.items.len(), 2, "list_filters: include_revoked");
}

async fn bad_cursor_is_an_error(store: &impl KeyStore) {
    let page = PageRequest {
        limit: 10,
        cursor: Some("not a cursor".into()),
    };
    let res = store.list(&KeyFilter::tenant("acme"), &page).await;
    assert!(
        matches!(res, Err(StoreError::InvalidCursor)),
        "bad_cursor: got {res:?}"
    );
}

async fn roles_put_get_list_replace(store: &impl KeyStore) {
    let role = |name: &str, scopes: &[&str]| {
        Role::new(name, ScopeSet::parse(scopes).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    store
        .put_role(&role("viewer", &["read"]))
        .await
        .unwrap_or_else(|e| panic!("roles: {e}"));
    store
        .put_role(&role("admin", &["*"]).with_description("full access"))
        .await
        .unwrap_or_else(|e| panic!("roles: {e}"));
    let got = store
        .get_role("admin")
        .await
        .unwrap_or_else(|e| panic!("roles: {e}"));
    assert_eq!(
        got,
        Some(role("admin", &["*"]).with_description("full access")),
        "roles: get"
    );
    store
        .put_role(&role("viewer", &["read", "read:billing"]))
        .await
        .unwrap_or_else(|e| panic!("roles: {e}"));
    let all = store
        .list_roles()
        .await
        .unwrap_or_else(|e| panic!("roles: {e}"));
    assert_eq!(
        all.iter().map(Role::name).collect::<Vec<_>>(),
        vec!["admin", "viewer"],
        "roles: listed by name"
    );
    assert_eq!(
        all[1].scopes.to_strings(),
        vec!["read", "read:billing"],
        "roles: put replaces"
    );
    assert_eq!(
        store.get_role("nobody").await.ok().flatten(),
        None,
        "roles: unknown is None"
    );
}

async fn usage_keeps_the_latest_time(store: &impl KeyStore) {
    let r = record("sk_live_used", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("usage: {e}"));
    store
        .record_usage(&[(r.id.clone(), t(100)), (KeyId::generate(), t(100))])
        .await
        .unwrap_or_else(|e| panic!("usage: {e}"));
    store
        .record_usage(&[(r.id.clone(), t(50))])
        .await
        .unwrap_or_else(|e| panic!("usage: {e}"));
    let got = store
        .get(&r.id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.last_used_at);
    assert_eq!(got, Some(t(100)), "usage: never moves backwards");
    store
        .record_usage(&[])
        .await
        .unwrap_or_else(|e| panic!("usage: empty batch: {e}"));
}

async fn audit_appends_filters_and_pages(store: &impl KeyStore) {
    let key = KeyId::generate();
    let ip: IpAddr = "203.0.113.9".parse().unwrap_or_else(|_| unreachable!());
    let mut events = Vec::new();
    for i in 0..4 {
        let mut e = AuditEvent::new(
            if i % 2 == 0 {
                "key.verify"
            } else {
                "key.revoke"
            },
            Outcome::Failure,
        )
        .at(t(i * 10))
        .with_tenant("acme")
        .with_client_ip(Some(ip))
        .with_reason("revoked");
        if i < 3 {
            e = e.with_target(key.clone());
        }
        store
            .append_audit(&e)
            .await
            .unwrap_or_else(|err| panic!("audit: {err}"));
        events.push(e);
    }
    let filter = AuditFilter {
        key: Some(key.clone()),
        ..AuditFilter::default()
    };
    let first = store
        .list_audit(&filter, &PageRequest::first(2))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(
        first.items,
        events[..2].to_vec(),
        "audit: first page, oldest first, all fields"
    );
    let second = store
        .list_audit(
            &filter,
            &PageRequest {
                limit: 2,
                cursor: first.next_cursor.clone(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(second.items, events[2..3].to_vec(), "audit: second page");
    assert_eq!(second.next_cursor, None, "audit: last page has no cursor");
    let revokes = AuditFilter {
        action: Some("key.revoke".into()),
        since: Some(t(0)),
        until: Some(t(40)),
        ..AuditFilter::default()
    };
    let got = store
        .list_audit(&revokes, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(got.items.len(), 2, "audit: action + time filter");
    let other_tenant = AuditFilter {
        tenant: Some("globex".into()),
        ..AuditFilter::default()
    };
    let got = store
        .list_audit(&other_tenant, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert!(got.items.is_empty(), "audit: tenant filter");
}

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

use futures_util::future::join_all;

use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::hash::KeyHasher;
use crate::record::{KeyKind, Rotation};
use crate::role::Role;
use crate::store::{KeyFilter, PageRequest};
use crate::{KeyId, KeyRecord, KeyStore, RateLimitSpec, ScopeSet, StoreError};

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
    update_round_trips_every_setting(&make().await).await;
    credits_settle_as_deltas_and_survive_updates(&make().await).await;
    shared_limits_are_per_tenant_env_and_owner(&make().await).await;
    disabling_is_a_conditional_setting(&make().await).await;
    verification_counts_add_up_and_filter(&make().await).await;
    scope_use_keeps_the_first_and_last_use(&make().await).await;
    update_of_missing_key_is_not_found(&make().await).await;
    update_is_conditional_on_the_version(&make().await).await;
    revocation_is_monotonic(&make().await).await;
    concurrent_updates_never_undo_a_revoke(&make().await).await;
    rotation_is_atomic_with_one_successor(&make().await).await;
    concurrent_rotations_make_one_successor(&make().await).await;
    owner_deactivation_is_read_with_every_key(&make().await).await;
    list_filters_env(&make().await).await;
    audit_counts_and_pruning(&make().await).await;
    list_is_per_tenant_ordered_and_paged(&make().await).await;
    list_filters_owner_and_revoked(&make().await).await;
    bad_cursor_is_an_error(&make().await).await;
    roles_put_get_list_replace(&make().await).await;
    roles_resolve_per_namespace(&make().await).await;
    roles_delete_per_namespace(&make().await).await;
    list_crosses_tenants_and_filters_role(&make().await).await;
    usage_keeps_the_latest_time(&make().await).await;
    audit_appends_filters_and_pages(&make().await).await;
    writes_come_with_their_audit_events(&make().await).await;
}

/// A fixed instant with whole seconds, so every backend round-trips it exactly.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("a valid timestamp")
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
    r.scopes = ScopeSet::parse(["read:scans", "write", "admin"]).expect("valid scopes");
    r.expires_at = Some(t(86_400));
    r.revoked_at = Some(t(500));
    r.disabled_at = Some(t(450));
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
    r.limits = crate::rate_limit::NamedLimits::parse([
        ("burst", "10/s"),
        ("daily", "1000/day,quota=1000"),
    ])
    .unwrap_or_else(|e| panic!("valid limits: {e}"));
    r.rate_limit = Some(RateLimitSpec {
        requests: 1000,
        per_seconds: 3600,
        burst: Some(50),
        daily_quota: Some(10_000),
        shadow: false,
    });
    r.credits = Some(crate::credits::Credits {
        remaining: 250,
        refill: crate::credits::Refill::monthly(1000, 15).ok(),
        period: 680,
        epoch: 1_700_000_000_123_456,
        account: KeyId::generate(),
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
        found.as_deref(),
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

/// `record`'s settings (what `update` writes) copied onto `onto`.
fn with_settings_of(mut onto: KeyRecord, from: &KeyRecord) -> KeyRecord {
    onto.name.clone_from(&from.name);
    onto.description.clone_from(&from.description);
    onto.role.clone_from(&from.role);
    onto.scopes.clone_from(&from.scopes);
    onto.expires_at = from.expires_at;
    onto.allowed_ips.clone_from(&from.allowed_ips);
    onto.allowed_referrers.clone_from(&from.allowed_referrers);
    onto.rate_limit = from.rate_limit;
    onto.limits.clone_from(&from.limits);
    onto.credits.clone_from(&from.credits);
    onto.metadata.clone_from(&from.metadata);
    onto.disabled_at = from.disabled_at;
    onto
}

async fn get_or_panic(store: &impl KeyStore, id: &KeyId, case: &str) -> KeyRecord {
    store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("{case}: get: {e}"))
        .unwrap_or_else(|| panic!("{case}: the key is gone"))
}

async fn update_round_trips_every_setting(store: &impl KeyStore) {
    let plain = record("sk_live_full", "acme", 1);
    store
        .insert(&plain)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: insert: {e}"));
    // The update carries every field; only the settings may be written.
    let mut full = full_record();
    full.id = plain.id.clone();
    full.hash = plain.hash;
    full.version = plain.version;
    store
        .update(&full)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: update: {e}"));
    let mut expected = with_settings_of(plain.clone(), &full);
    expected.version = plain.version + 1;
    let got = get_or_panic(store, &full.id, "update_round_trips").await;
    assert_eq!(
        got, expected,
        "update_round_trips: every setting survives, and nothing else is written \
         (revocation, rotation, last use, owner, kind stay as they were)"
    );
    let by_hash = store
        .find_by_hash(&full.hash)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: {e}"));
    assert_eq!(
        by_hash.as_deref(),
        Some(&expected),
        "update_round_trips: find_by_hash sees the update"
    );

    // A full record inserted directly round-trips, every field.
    let mut other = full_record();
    other.id = KeyId::generate();
    other.hash = KeyHasher::Sha256.hash("sk_live_full_2");
    other.version = 7;
    store
        .insert(&other)
        .await
        .unwrap_or_else(|e| panic!("update_round_trips: insert full: {e}"));
    let got = get_or_panic(store, &other.id, "update_round_trips").await;
    assert_eq!(got, other, "update_round_trips: inserted full record");
}

async fn credits_settle_as_deltas_and_survive_updates(store: &impl KeyStore) {
    use crate::credits::{CreditBalance, CreditSpend, Credits, Refill};
    let case = "credits_settle";
    let account = KeyId::generate();
    let credits = |remaining, epoch| Credits {
        remaining,
        refill: Refill::daily(100).ok(),
        period: 19_000,
        epoch,
        account: account.clone(),
    };
    let mut a = record("sk_live_cred_a", "acme", 1);
    a.credits = Some(credits(100, 5));
    // A successor (same account and epoch) and a key made by a metered key before its
    // balance was set anew (an older epoch).
    let mut b = record("sk_live_cred_b", "acme", 2);
    b.credits = Some(credits(100, 5));
    let mut c = record("sk_live_cred_c", "acme", 3);
    c.credits = Some(credits(40, 3));
    for r in [&a, &b, &c] {
        store
            .insert(r)
            .await
            .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    }
    let stale = get_or_panic(store, &a.id, case).await;
    let spend = |epoch, period, spent| CreditSpend {
        account: account.clone(),
        epoch,
        period,
        refill: Refill::daily(100).ok(),
        spent,
    };
    let balance = |remaining, period| Some(CreditBalance { remaining, period });
    let settle = |spends: Vec<CreditSpend>| async move {
        store
            .settle_credits(&spends)
            .await
            .unwrap_or_else(|e| panic!("{case}: settle: {e}"))
    };
    let remaining_of = |id: KeyId| async move {
        get_or_panic(store, &id, case)
            .await
            .credits
            .map(|c| (c.remaining, c.period, c.epoch))
    };
    // Two instances' spends add up, in one batch or two.
    assert_eq!(
        settle(vec![spend(5, 19_000, 30), spend(5, 19_000, 20)]).await,
        vec![balance(70, 19_000), balance(50, 19_000)],
        "{case}: deltas"
    );
    for id in [&a.id, &b.id, &c.id] {
        assert_eq!(
            remaining_of(id.clone()).await,
            Some((50, 19_000, 5)),
            "{case}: every key of the account, the older epoch brought up to date"
        );
    }
    // A spend of a later interval refills first; one of an earlier one is dropped.
    assert_eq!(
        settle(vec![spend(5, 19_001, 10)]).await,
        vec![balance(90, 19_001)]
    );
    assert_eq!(
        settle(vec![spend(5, 19_000, 5)]).await,
        vec![balance(90, 19_001)]
    );
    // Never below zero; an unknown epoch or account matches nothing.
    assert_eq!(
        settle(vec![spend(5, 19_001, 500)]).await,
        vec![balance(0, 19_001)]
    );
    let unknown = CreditSpend {
        account: KeyId::generate(),
        ..spend(5, 19_001, 1)
    };
    assert_eq!(
        settle(vec![spend(4, 19_001, 1), unknown]).await,
        vec![None, None]
    );
    assert_eq!(
        get_or_panic(store, &a.id, case).await.version,
        stale.version,
        "{case}: settling is no settings write"
    );
    // A settings write from a record read before the spends keeps them.
    let mut renamed = stale.clone();
    renamed.name = "renamed".into();
    store
        .update(&renamed)
        .await
        .unwrap_or_else(|e| panic!("{case}: update: {e}"));
    assert_eq!(
        remaining_of(a.id.clone()).await,
        Some((0, 19_001, 5)),
        "{case}: kept"
    );
    // A balance set anew (another epoch) replaces it; removing credits removes them.
    let mut reset = get_or_panic(store, &a.id, case).await;
    reset.credits = Some(credits(7, 9));
    store
        .update(&reset)
        .await
        .unwrap_or_else(|e| panic!("{case}: update: {e}"));
    assert_eq!(remaining_of(a.id.clone()).await, Some((7, 19_000, 9)));
    assert_eq!(
        settle(vec![spend(9, 19_000, 2)]).await,
        vec![balance(5, 19_000)]
    );
    assert_eq!(
        remaining_of(b.id.clone()).await,
        Some((5, 19_000, 9)),
        "{case}: the successor follows the new balance"
    );
    let mut removed = get_or_panic(store, &a.id, case).await;
    removed.credits = None;
    store
        .update(&removed)
        .await
        .unwrap_or_else(|e| panic!("{case}: update: {e}"));
    assert_eq!(remaining_of(a.id.clone()).await, None);
}

async fn shared_limits_are_per_tenant_env_and_owner(store: &impl KeyStore) {
    use crate::rate_limit::NamedLimits;
    let case = "shared_limits";
    let limits = |pairs: &[(&str, &str)]| {
        NamedLimits::parse(pairs.iter().copied()).unwrap_or_else(|e| panic!("{case}: {e}"))
    };
    let get = |tenant: &'static str, env: &'static str, owner: Option<&'static str>| async move {
        store
            .shared_limits(tenant, env, owner)
            .await
            .unwrap_or_else(|e| panic!("{case}: get: {e}"))
    };
    assert!(
        get("acme", "live", None).await.is_empty(),
        "{case}: none at first"
    );
    let org = limits(&[("org", "600/m"), ("daily", "100000/day,quota=100000")]);
    let user = limits(&[("user", "60/m")]);
    store
        .put_shared_limits("acme", "live", None, &org)
        .await
        .unwrap_or_else(|e| panic!("{case}: put: {e}"));
    store
        .put_shared_limits("acme", "live", Some("u1"), &user)
        .await
        .unwrap_or_else(|e| panic!("{case}: put: {e}"));
    assert_eq!(get("acme", "live", None).await, org, "{case}: the tenant's");
    assert_eq!(
        get("acme", "live", Some("u1")).await,
        user,
        "{case}: the owner's"
    );
    assert!(
        get("acme", "test", None).await.is_empty(),
        "{case}: per environment"
    );
    assert!(
        get("globex", "live", None).await.is_empty(),
        "{case}: per tenant"
    );
    assert!(
        get("acme", "live", Some("u2")).await.is_empty(),
        "{case}: per owner"
    );
    // Replaced, then removed by an empty set.
    let smaller = limits(&[("org", "60/m")]);
    store
        .put_shared_limits("acme", "live", None, &smaller)
        .await
        .unwrap_or_else(|e| panic!("{case}: put: {e}"));
    assert_eq!(get("acme", "live", None).await, smaller, "{case}: replaced");
    store
        .put_shared_limits("acme", "live", None, &NamedLimits::new())
        .await
        .unwrap_or_else(|e| panic!("{case}: put: {e}"));
    assert!(
        get("acme", "live", None).await.is_empty(),
        "{case}: removed"
    );
    assert_eq!(
        get("acme", "live", Some("u1")).await,
        user,
        "{case}: the owner's stay"
    );
}

async fn update_is_conditional_on_the_version(store: &impl KeyStore) {
    let case = "update_conditional";
    let r = record("sk_live_cas", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let mut first = r.clone();
    first.name = "first".into();
    store
        .update(&first)
        .await
        .unwrap_or_else(|e| panic!("{case}: first update: {e}"));
    let mut stale = r.clone();
    stale.name = "stale".into();
    let res = store.update(&stale).await;
    assert!(
        matches!(res, Err(StoreError::VersionConflict)),
        "{case}: an update from a stale read must fail, got {res:?}"
    );
    let got = get_or_panic(store, &r.id, case).await;
    assert_eq!(
        (got.name.as_str(), got.version),
        ("first", r.version + 1),
        "{case}: the stale update wrote nothing"
    );
    let mut next = got.clone();
    next.name = "second".into();
    store
        .update(&next)
        .await
        .unwrap_or_else(|e| panic!("{case}: update at the current version: {e}"));
    assert_eq!(
        get_or_panic(store, &r.id, case).await.version,
        r.version + 2,
        "{case}: each write bumps the version"
    );
}

async fn disabling_is_a_conditional_setting(store: &impl KeyStore) {
    let case = "disabling";
    let r = record("sk_live_disable", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let mut disabled = r.clone();
    disabled.disabled_at = Some(t(10));
    store
        .update(&disabled)
        .await
        .unwrap_or_else(|e| panic!("{case}: disable: {e}"));
    let got = get_or_panic(store, &r.id, case).await;
    assert_eq!(got.disabled_at, Some(t(10)), "{case}: stored");
    let found = store
        .find_by_hash(&r.hash)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        found.and_then(|f| f.disabled_at),
        Some(t(10)),
        "{case}: find_by_hash sees it"
    );
    // An enable written from the read before the disable is stale: it must not undo it.
    let res = store.update(&r).await;
    assert!(
        matches!(res, Err(StoreError::VersionConflict)),
        "{case}: a stale enable must fail, got {res:?}"
    );
    let mut enabled = got.clone();
    enabled.disabled_at = None;
    store
        .update(&enabled)
        .await
        .unwrap_or_else(|e| panic!("{case}: enable: {e}"));
    assert_eq!(
        get_or_panic(store, &r.id, case).await.disabled_at,
        None,
        "{case}: enabled again"
    );
    // A revoked key stays revoked: an enable over it is refused.
    store
        .revoke(&r.id, t(20))
        .await
        .unwrap_or_else(|e| panic!("{case}: revoke: {e}"));
    let current = get_or_panic(store, &r.id, case).await;
    let res = store.update(&current).await;
    assert!(
        matches!(res, Err(StoreError::Revoked)),
        "{case}: a revoked key cannot be changed, got {res:?}"
    );
}

async fn verification_counts_add_up_and_filter(store: &impl KeyStore) {
    use crate::analytics::{
        Granularity, VerificationCount, VerificationFilter, VerificationOutcome,
    };
    let case = "verification_counts";
    // Seconds after a whole minute (t(0) itself is not one).
    let base = Granularity::Minute.start_of(t(0));
    let t = |secs: i64| base + chrono::Duration::seconds(secs);
    let key = KeyId::generate();
    let other = KeyId::generate();
    let row = |key: Option<&KeyId>, tenant: &str, secs: i64, outcome, count| VerificationCount {
        key_id: key.cloned(),
        tenant: key.map(|_| tenant.to_owned()),
        env: key.map(|_| "live".to_owned()),
        at: t(secs),
        outcome,
        count,
    };
    let batch = [
        // Two rows of one minute (seconds 60 and 90): added up.
        row(Some(&key), "acme", 60, VerificationOutcome::Valid, 3),
        row(Some(&key), "acme", 90, VerificationOutcome::Valid, 4),
        row(Some(&key), "acme", 60, VerificationOutcome::RateLimited, 1),
        row(Some(&other), "globex", 60, VerificationOutcome::Valid, 9),
        row(None, "", 120, VerificationOutcome::Unknown, 2),
    ];
    store
        .record_verifications(&batch)
        .await
        .unwrap_or_else(|e| panic!("{case}: record: {e}"));
    // A second flush adds to the stored rows.
    store
        .record_verifications(&batch[..1])
        .await
        .unwrap_or_else(|e| panic!("{case}: record again: {e}"));
    store
        .record_verifications(&[])
        .await
        .unwrap_or_else(|e| panic!("{case}: an empty batch: {e}"));
    let read = |filter: VerificationFilter| async move {
        store
            .verification_counts(&filter)
            .await
            .unwrap_or_else(|e| panic!("{case}: read: {e}"))
    };
    let all = read(VerificationFilter::between(t(0), t(600))).await;
    let total: u64 = all.iter().map(|c| c.count).sum();
    assert_eq!(total, 3 + 4 + 1 + 9 + 2 + 3, "{case}: {all:?}");
    let mine = read(VerificationFilter {
        key_id: Some(key.clone()),
        ..VerificationFilter::between(t(0), t(600))
    })
    .await;
    let valid: Vec<(DateTime<Utc>, u64)> = mine
        .iter()
        .filter(|c| c.outcome == VerificationOutcome::Valid)
        .map(|c| (c.at, c.count))
        .collect();
    assert_eq!(valid, vec![(t(60), 10)], "{case}: one minute row, added up");
    assert!(mine
        .iter()
        .all(|c| c.tenant.as_deref() == Some("acme") && c.env.as_deref() == Some("live")));
    let globex = read(VerificationFilter {
        tenant: Some("globex".into()),
        ..VerificationFilter::between(t(0), t(600))
    })
    .await;
    assert_eq!(globex.len(), 1, "{case}: {globex:?}");
    assert_eq!(globex[0].key_id.as_ref(), Some(&other));
    let unknown: Vec<&VerificationCount> = all.iter().filter(|c| c.key_id.is_none()).collect();
    assert_eq!(unknown.len(), 1, "{case}: unknown keys have no id");
    assert_eq!((unknown[0].tenant.as_deref(), unknown[0].count), (None, 2));
    assert!(
        read(VerificationFilter::between(t(60), t(120))).await.len() == 3,
        "{case}: from inclusive, to exclusive"
    );
    // A large batch (more rows than one SQL statement holds) arrives whole.
    let many: Vec<VerificationCount> = (0..400)
        .map(|m| {
            row(
                Some(&other),
                "globex",
                3600 + m * 60,
                VerificationOutcome::Valid,
                1,
            )
        })
        .collect();
    store
        .record_verifications(&many)
        .await
        .unwrap_or_else(|e| panic!("{case}: a large batch: {e}"));
    let late = read(VerificationFilter::between(t(3600), t(3600 + 400 * 60))).await;
    assert_eq!(
        (late.len(), late.iter().map(|c| c.count).sum::<u64>()),
        (400, 400),
        "{case}: a large batch"
    );
    store
        .prune_verifications(t(3600 + 400 * 60))
        .await
        .unwrap_or_else(|e| panic!("{case}: prune the large batch: {e}"));
    store
        .record_verifications(&batch)
        .await
        .unwrap_or_else(|e| panic!("{case}: record again: {e}"));
    store
        .record_verifications(&batch[..1])
        .await
        .unwrap_or_else(|e| panic!("{case}: record again: {e}"));
    // Retention: rows of minutes before the cut are deleted, later ones stay.
    let pruned = store
        .prune_verifications(t(120))
        .await
        .unwrap_or_else(|e| panic!("{case}: prune: {e}"));
    assert_eq!(pruned, 3, "{case}: the three rows of the first minute");
    let left = read(VerificationFilter::between(t(0), t(600))).await;
    assert_eq!(left.len(), 1, "{case}: {left:?}");
    assert_eq!(left[0].outcome, VerificationOutcome::Unknown);
}

async fn scope_use_keeps_the_first_and_last_use(store: &impl KeyStore) {
    use crate::analytics::ScopeUse;
    let case = "scope_use";
    let key = KeyId::generate();
    let other = KeyId::generate();
    let used = |key: &KeyId, scope: &str, first: i64, last: i64| ScopeUse {
        key_id: key.clone(),
        scope: scope.into(),
        first_used: t(first),
        last_used: t(last),
    };
    store
        .record_scope_use(&[
            used(&key, "read:scans", 10, 10),
            used(&key, "write:scans", 20, 20),
            used(&other, "read:scans", 30, 30),
        ])
        .await
        .unwrap_or_else(|e| panic!("{case}: record: {e}"));
    // Later and earlier notes: first stays the earliest, last the latest.
    store
        .record_scope_use(&[
            used(&key, "read:scans", 50, 50),
            used(&key, "write:scans", 5, 5),
        ])
        .await
        .unwrap_or_else(|e| panic!("{case}: record again: {e}"));
    let got = store
        .scope_use(&key)
        .await
        .unwrap_or_else(|e| panic!("{case}: read: {e}"));
    assert_eq!(
        got,
        vec![
            used(&key, "read:scans", 10, 50),
            used(&key, "write:scans", 5, 20)
        ],
        "{case}"
    );
    assert!(store
        .scope_use(&KeyId::generate())
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .is_empty());
}

async fn revocation_is_monotonic(store: &impl KeyStore) {
    let case = "revocation_monotonic";
    let r = record("sk_live_rev", "acme", 0);
    store
        .insert(&r)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let revoked = store
        .revoke(&r.id, t(10))
        .await
        .unwrap_or_else(|e| panic!("{case}: revoke: {e}"));
    assert_eq!(
        revoked.revoked_at,
        Some(t(10)),
        "{case}: revoke returns the state"
    );
    assert!(
        revoked.version > r.version,
        "{case}: revoke bumps the version"
    );
    let again = store
        .revoke(&r.id, t(20))
        .await
        .unwrap_or_else(|e| panic!("{case}: second revoke: {e}"));
    assert_eq!(
        again.revoked_at,
        Some(t(10)),
        "{case}: the first revocation stays"
    );

    // An update carrying the current version still cannot touch a revoked key, and no
    // field of the update can clear the revocation.
    let mut current = get_or_panic(store, &r.id, case).await;
    current.revoked_at = None;
    current.name = "revived".into();
    let res = store.update(&current).await;
    assert!(
        matches!(res, Err(StoreError::Revoked)),
        "{case}: update of a revoked key must fail with Revoked, got {res:?}"
    );
    let got = get_or_panic(store, &r.id, case).await;
    assert_eq!(got.revoked_at, Some(t(10)), "{case}: still revoked");
    assert_ne!(got.name, "revived", "{case}: nothing written");
    let hit = store
        .find_by_hash(&r.hash)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        hit.and_then(|h| h.revoked_at),
        Some(t(10)),
        "{case}: find_by_hash sees the revocation"
    );
    let res = store.revoke(&KeyId::generate(), t(10)).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "{case}: revoke of an unknown key, got {res:?}"
    );
}

async fn concurrent_updates_never_undo_a_revoke(store: &impl KeyStore) {
    let case = "concurrent_updates_vs_revoke";
    for round in 0..10 {
        let r = record(&format!("sk_live_race{round}"), "acme", round);
        store
            .insert(&r)
            .await
            .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
        // Writers that read the key and write it back, racing one revoke.
        let writers = (0..4).map(|i| {
            let id = r.id.clone();
            async move {
                for _ in 0..3 {
                    let Ok(Some(mut read)) = store.get(&id).await else {
                        return;
                    };
                    read.name = format!("writer {i}");
                    match store.update(&read).await {
                        Ok(()) | Err(StoreError::VersionConflict | StoreError::Revoked) => {}
                        Err(e) => panic!("{case}: unexpected update error: {e}"),
                    }
                }
            }
        });
        let revoke = async {
            store
                .revoke(&r.id, t(100))
                .await
                .unwrap_or_else(|e| panic!("{case}: revoke: {e}"));
        };
        let writers = join_all(writers);
        let ((), _) = futures_util::future::join(revoke, writers).await;
        let got = get_or_panic(store, &r.id, case).await;
        assert_eq!(
            got.revoked_at,
            Some(t(100)),
            "{case}: round {round}: the key must stay revoked"
        );
    }
}

async fn rotation_is_atomic_with_one_successor(store: &impl KeyStore) {
    let case = "rotation_atomic";
    let old = record("sk_live_old", "acme", 0);
    store
        .insert(&old)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let new = record("sk_live_new", "acme", 1);
    store
        .rotate(&old, t(500), &new)
        .await
        .unwrap_or_else(|e| panic!("{case}: rotate: {e}"));
    let got_old = get_or_panic(store, &old.id, case).await;
    assert_eq!(
        got_old.rotation,
        Some(Rotation {
            replaced_by: new.id.clone(),
            grace_until: t(500)
        }),
        "{case}: old key points at its successor"
    );
    assert!(got_old.version > old.version, "{case}: version bumped");
    assert_eq!(
        get_or_panic(store, &new.id, case).await,
        new,
        "{case}: successor stored"
    );

    // A second rotation, from the current version, is refused: one successor only.
    let third = record("sk_live_third", "acme", 2);
    let res = store.rotate(&got_old, t(600), &third).await;
    assert!(
        matches!(res, Err(StoreError::VersionConflict)),
        "{case}: a rotated key cannot be rotated again, got {res:?}"
    );
    assert_eq!(
        store.get(&third.id).await.ok().flatten(),
        None,
        "{case}: the refused successor was not inserted"
    );
    assert!(
        store
            .find_by_hash(&third.hash)
            .await
            .ok()
            .flatten()
            .is_none(),
        "{case}: the refused successor's hash does not verify"
    );

    // A successor whose hash exists rolls the whole rotation back.
    let old2 = record("sk_live_old2", "acme", 6);
    store
        .insert(&old2)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let mut clash = record("sk_live_clash", "acme", 7);
    clash.hash = new.hash;
    let res = store.rotate(&old2, t(600), &clash).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "{case}: a successor with an existing hash conflicts, got {res:?}"
    );
    let after = get_or_panic(store, &old2.id, case).await;
    assert_eq!(
        (after.rotation, after.version),
        (None, old2.version),
        "{case}: the refused rotation left the old key as it was"
    );

    // A revoked key cannot be rotated.
    let victim = record("sk_live_victim", "acme", 3);
    store
        .insert(&victim)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    let revoked = store
        .revoke(&victim.id, t(5))
        .await
        .unwrap_or_else(|e| panic!("{case}: revoke: {e}"));
    let fourth = record("sk_live_fourth", "acme", 4);
    let res = store.rotate(&revoked, t(600), &fourth).await;
    assert!(
        matches!(res, Err(StoreError::Revoked)),
        "{case}: a revoked key cannot be rotated, got {res:?}"
    );
    assert_eq!(
        store.get(&fourth.id).await.ok().flatten(),
        None,
        "{case}: nothing inserted"
    );
    // A stale version is refused too.
    let fifth = record("sk_live_fifth", "acme", 5);
    let stale = victim.clone();
    let res = store.rotate(&stale, t(600), &fifth).await;
    assert!(
        matches!(res, Err(StoreError::Revoked | StoreError::VersionConflict)),
        "{case}: a stale rotation is refused, got {res:?}"
    );
}

async fn concurrent_rotations_make_one_successor(store: &impl KeyStore) {
    let case = "concurrent_rotations";
    for round in 0..5 {
        let old = record(&format!("sk_live_rot{round}"), "acme", round);
        store
            .insert(&old)
            .await
            .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
        let successors: Vec<KeyRecord> = (0..4)
            .map(|i| record(&format!("sk_live_rot{round}_succ{i}"), "acme", 100 + i))
            .collect();
        let results = join_all(
            successors
                .iter()
                .map(|new| async { store.rotate(&old, t(1000), new).await }),
        )
        .await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            won, 1,
            "{case}: round {round}: exactly one rotation wins: {results:?}"
        );
        let mut stored = 0;
        for new in &successors {
            if store.get(&new.id).await.ok().flatten().is_some() {
                stored += 1;
            }
        }
        assert_eq!(
            stored, 1,
            "{case}: round {round}: exactly one successor exists"
        );
    }
}

async fn owner_deactivation_is_read_with_every_key(store: &impl KeyStore) {
    let case = "owner_deactivation";
    let mut personal = record("sk_live_alice", "acme", 0);
    personal.kind = KeyKind::Personal;
    personal.owner = Some("alice".into());
    let mut service = record("sk_live_alice_svc", "acme", 1);
    service.owner = Some("alice".into());
    let mut elsewhere = record("sk_live_alice_globex", "globex", 2);
    elsewhere.kind = KeyKind::Personal;
    elsewhere.owner = Some("alice".into());
    for r in [&personal, &service, &elsewhere] {
        store
            .insert(r)
            .await
            .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    }
    assert_eq!(
        store.owner_deactivated_at("acme", "alice").await.ok(),
        Some(None),
        "{case}: active at first"
    );
    store
        .deactivate_owner("acme", "alice", t(50))
        .await
        .unwrap_or_else(|e| panic!("{case}: deactivate: {e}"));
    store
        .deactivate_owner("acme", "alice", t(60))
        .await
        .unwrap_or_else(|e| panic!("{case}: deactivate again: {e}"));
    assert_eq!(
        store.owner_deactivated_at("acme", "alice").await.ok(),
        Some(Some(t(50))),
        "{case}: the first deactivation stays"
    );
    let hit = store
        .find_by_hash(&personal.hash)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        hit.and_then(|r| r.owner_deactivated_at),
        Some(t(50)),
        "{case}: find_by_hash carries the owner's deactivation"
    );
    assert_eq!(
        get_or_panic(store, &personal.id, case)
            .await
            .owner_deactivated_at,
        Some(t(50)),
        "{case}: get carries it"
    );
    assert_eq!(
        get_or_panic(store, &service.id, case)
            .await
            .owner_deactivated_at,
        None,
        "{case}: only personal keys follow their owner"
    );
    assert_eq!(
        get_or_panic(store, &elsewhere.id, case)
            .await
            .owner_deactivated_at,
        None,
        "{case}: owners are per tenant"
    );
    let listed = store
        .list(
            &KeyFilter::tenant("acme").owner("alice"),
            &PageRequest::first(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: list: {e}"));
    assert_eq!(
        listed
            .items
            .iter()
            .find(|r| r.id == personal.id)
            .and_then(|r| r.owner_deactivated_at),
        Some(t(50)),
        "{case}: list carries it"
    );
    // A personal key inserted afterwards (a race with deactivation) carries it too.
    let mut late = record("sk_live_alice_late", "acme", 3);
    late.kind = KeyKind::Personal;
    late.owner = Some("alice".into());
    store
        .insert(&late)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert late: {e}"));
    let hit = store
        .find_by_hash(&late.hash)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        hit.and_then(|r| r.owner_deactivated_at),
        Some(t(50)),
        "{case}: a key inserted after deactivation is refused too"
    );
    store
        .reactivate_owner("acme", "alice")
        .await
        .unwrap_or_else(|e| panic!("{case}: reactivate: {e}"));
    // Insert never stores the field: it is read from the owner's state only.
    let mut claims = record("sk_live_bob", "acme", 4);
    claims.kind = KeyKind::Personal;
    claims.owner = Some("bob".into());
    claims.owner_deactivated_at = Some(t(1));
    store
        .insert(&claims)
        .await
        .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    assert_eq!(
        get_or_panic(store, &claims.id, case)
            .await
            .owner_deactivated_at,
        None,
        "{case}: an active owner's key is not deactivated, whatever the insert said"
    );
    assert_eq!(
        store.owner_deactivated_at("acme", "alice").await.ok(),
        Some(None),
        "{case}: reactivated"
    );
    let hit = store
        .find_by_hash(&personal.hash)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        hit.map(|r| r.owner_deactivated_at),
        Some(None),
        "{case}: reactivation is read with the key"
    );
}

async fn list_filters_env(store: &impl KeyStore) {
    let live = record("sk_live_env", "acme", 0);
    let mut test = record("sk_test_env", "acme", 1);
    test.env = "test".into();
    for r in [&live, &test] {
        store
            .insert(r)
            .await
            .unwrap_or_else(|e| panic!("list_env: insert: {e}"));
    }
    let got = store
        .list(
            &KeyFilter::tenant("acme").env("test"),
            &PageRequest::first(10),
        )
        .await
        .unwrap_or_else(|e| panic!("list_env: {e}"));
    assert_eq!(
        got.items.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&test.id],
        "list_env: only the environment's keys"
    );
}

async fn audit_counts_and_pruning(store: &impl KeyStore) {
    let case = "audit_counts_pruning";
    let old = AuditEvent::new("key.verify", Outcome::Failure)
        .at(t(0))
        .with_reason("unknown")
        .with_count(1234);
    let new = AuditEvent::new("role.put", Outcome::Success)
        .at(t(100))
        .with_tenant("acme")
        .with_role("viewer");
    for e in [&old, &new] {
        store
            .append_audit(e)
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
    }
    let all = store
        .list_audit(&AuditFilter::default(), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        all.items,
        vec![old.clone(), new.clone()],
        "{case}: count and role round-trip"
    );
    let pruned = store
        .prune_audit(t(50))
        .await
        .unwrap_or_else(|e| panic!("{case}: prune: {e}"));
    assert_eq!(pruned, 1, "{case}: one event older than the cut");
    let all = store
        .list_audit(&AuditFilter::default(), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(all.items, vec![new], "{case}: the newer event stays");
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
        Role::new(name, ScopeSet::parse(scopes).expect("valid scopes"))
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
        .get_role("", "", "admin")
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
        store
            .get_role("acme", "live", "nobody")
            .await
            .ok()
            .flatten(),
        None,
        "roles: unknown is None"
    );
}

fn scoped_role(name: &str, scopes: &[&str], ns: Option<(&str, &str)>) -> Role {
    let role = Role::new(name, ScopeSet::parse(scopes).expect("valid scopes"))
        .unwrap_or_else(|e| panic!("{e}"));
    match ns {
        Some((tenant, env)) => role
            .in_namespace(tenant, env)
            .unwrap_or_else(|e| panic!("{e}")),
        None => role,
    }
}

async fn roles_resolve_per_namespace(store: &impl KeyStore) {
    let case = "roles_namespaces";
    let global = scoped_role("viewer", &["read"], None);
    let acme_live = scoped_role("viewer", &["read:scans"], Some(("acme", "live")));
    let acme_test = scoped_role("viewer", &["write"], Some(("acme", "test")));
    for r in [&acme_live, &global, &acme_test] {
        store
            .put_role(r)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    let get = |tenant: &'static str, env: &'static str| async move {
        store
            .get_role(tenant, env, "viewer")
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"))
    };
    assert_eq!(
        get("acme", "live").await,
        Some(acme_live.clone()),
        "{case}: own namespace first"
    );
    assert_eq!(
        get("acme", "test").await,
        Some(acme_test.clone()),
        "{case}: per environment"
    );
    assert_eq!(
        get("globex", "live").await,
        Some(global.clone()),
        "{case}: else global"
    );
    assert_eq!(
        get("acme", "dev").await,
        Some(global.clone()),
        "{case}: else global"
    );
    assert_eq!(
        get("", "").await,
        Some(global.clone()),
        "{case}: empty = global"
    );
    let all = store
        .list_roles()
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        all,
        vec![global.clone(), acme_live.clone(), acme_test],
        "{case}: every namespace, by name then namespace (global first)"
    );
    // Replacing one namespace's role leaves the others alone.
    let wider = scoped_role(
        "viewer",
        &["read:scans", "read:reports"],
        Some(("acme", "live")),
    );
    store
        .put_role(&wider)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(get("acme", "live").await, Some(wider), "{case}: replaced");
    assert_eq!(
        get("globex", "live").await,
        Some(global),
        "{case}: global untouched"
    );
    assert_eq!(
        store.list_roles().await.map(|r| r.len()).ok(),
        Some(3),
        "{case}: replaced, not added"
    );
}

async fn roles_delete_per_namespace(store: &impl KeyStore) {
    let case = "roles_delete";
    let global = scoped_role("viewer", &["read"], None);
    let acme = scoped_role("viewer", &["read:scans"], Some(("acme", "live")));
    for r in [&global, &acme] {
        store
            .put_role(r)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    let ns = acme.namespace();
    assert!(
        store
            .delete_role(ns, "viewer")
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}")),
        "{case}: deleted"
    );
    assert!(
        !store
            .delete_role(ns, "viewer")
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}")),
        "{case}: once"
    );
    assert_eq!(
        store
            .get_role("acme", "live", "viewer")
            .await
            .ok()
            .flatten(),
        Some(global),
        "{case}: the tenant falls back to the global role"
    );
    assert!(
        store
            .delete_role(None, "viewer")
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}")),
        "{case}: global deleted"
    );
    assert_eq!(
        store
            .get_role("acme", "live", "viewer")
            .await
            .ok()
            .flatten(),
        None,
        "{case}: gone everywhere"
    );
    assert!(
        store
            .list_roles()
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .is_empty(),
        "{case}: nothing left"
    );
}

async fn list_crosses_tenants_and_filters_role(store: &impl KeyStore) {
    let case = "list_all_tenants";
    let mut a = record("sk_live_xa", "acme", 3);
    a.role = Some("viewer".into());
    let mut b = record("sk_live_xb", "globex", 1);
    b.role = Some("viewer".into());
    let c = record("sk_live_xc", "initech", 2);
    let mut d = record("sk_live_xd", "globex", 4);
    d.role = Some("viewer".into());
    d.revoked_at = Some(t(5));
    for r in [&a, &b, &c, &d] {
        store
            .insert(r)
            .await
            .unwrap_or_else(|e| panic!("{case}: insert: {e}"));
    }
    let ids = |page: crate::store::Page<KeyRecord>| -> Vec<KeyId> {
        page.items.into_iter().map(|r| r.id).collect()
    };
    let all = store
        .list(&KeyFilter::all(), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        ids(all),
        vec![b.id.clone(), c.id.clone(), a.id.clone()],
        "{case}: every tenant, ordered"
    );
    // Paged across tenants.
    let first = store
        .list(&KeyFilter::all(), &PageRequest::first(2))
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let next = PageRequest {
        limit: 2,
        cursor: first.next_cursor.clone(),
    };
    let second = store
        .list(&KeyFilter::all(), &next)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        (ids(first), ids(second)),
        (vec![b.id.clone(), c.id.clone()], vec![a.id.clone()]),
        "{case}: pages"
    );
    let holding = store
        .list(&KeyFilter::all().role("viewer"), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        ids(holding),
        vec![b.id.clone(), a.id.clone()],
        "{case}: role filter"
    );
    let holding = store
        .list(
            &KeyFilter::tenant("globex")
                .role("viewer")
                .include_revoked(true),
            &PageRequest::first(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        ids(holding),
        vec![b.id.clone(), d.id.clone()],
        "{case}: role and tenant"
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
    let refusals = AuditFilter {
        outcome: Some(Outcome::Failure),
        ..AuditFilter::default()
    };
    let got = store
        .list_audit(&refusals, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(
        got.items.len(),
        4,
        "audit: outcome filter keeps the refusals"
    );
    let successes = AuditFilter {
        outcome: Some(Outcome::Success),
        ..AuditFilter::default()
    };
    let got = store
        .list_audit(&successes, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert!(
        got.items.is_empty(),
        "audit: outcome filter drops the refusals"
    );
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

/// `write` makes each change with its audit event, and a change that fails (a stale
/// version, a duplicate key, a missing role) writes no event.
async fn writes_come_with_their_audit_events(store: &impl KeyStore) {
    use crate::store::{Write, Written};
    let event = |action: &str, n: i64| {
        AuditEvent::new(action, Outcome::Success)
            .at(t(n))
            .with_tenant("acme")
    };
    let count = || async {
        store
            .list_audit(&AuditFilter::default(), &PageRequest::first(100))
            .await
            .expect("the audit log")
            .items
            .len()
    };
    let r = record("sk_live_written", "acme", 1);
    let wrote = store
        .write(Write::Insert(&r), &event("key.create", 1))
        .await
        .expect("an insert");
    assert_eq!(wrote, Written::Done);
    assert_eq!(count().await, 1);
    let refused = store
        .write(Write::Insert(&r), &event("key.create", 2))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(count().await, 1, "a refused insert writes no event");

    let mut changed = store.get(&r.id).await.expect("a read").expect("the key");
    changed.name = "renamed".into();
    store
        .write(Write::Update(&changed), &event("key.update", 3))
        .await
        .expect("an update");
    let stale = store
        .write(Write::Update(&changed), &event("key.update", 4))
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict)),
        "{stale:?}"
    );
    assert_eq!(count().await, 2, "a stale update writes no event");

    let successor = record("sk_live_successor", "acme", 5);
    let current = store.get(&r.id).await.expect("a read").expect("the key");
    store
        .write(
            Write::Rotate {
                old: &current,
                grace_until: t(100),
                new: &successor,
            },
            &event("key.rotate", 5),
        )
        .await
        .expect("a rotation");
    let revoked = store
        .write(
            Write::Revoke {
                id: &r.id,
                at: t(6),
            },
            &event("key.revoke", 6),
        )
        .await
        .expect("a revoke");
    assert!(
        matches!(&revoked, Written::Revoked(record) if record.revoked_at == Some(t(6))),
        "{revoked:?}"
    );
    assert_eq!(count().await, 4);

    let role = Role::new("auditor", ScopeSet::parse(["read"]).expect("valid scopes"))
        .expect("a role name");
    store
        .write(Write::PutRole(&role), &event("role.put", 7))
        .await
        .expect("a role");
    let deleted = store
        .write(
            Write::DeleteRole {
                namespace: None,
                name: "auditor",
            },
            &event("role.delete", 8),
        )
        .await
        .expect("a deletion");
    assert_eq!(deleted, Written::RoleDeleted(true));
    let missing = store
        .write(
            Write::DeleteRole {
                namespace: None,
                name: "auditor",
            },
            &event("role.delete", 9),
        )
        .await
        .expect("a deletion of nothing");
    assert_eq!(missing, Written::RoleDeleted(false));
    assert_eq!(count().await, 6, "deleting nothing writes no event");
}

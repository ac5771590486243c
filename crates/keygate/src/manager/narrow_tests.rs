//! Least-privilege narrowing: the report of granted against used scopes, and the
//! narrowed replacement, under the policy of a rotation.

use chrono::Duration;

use super::tests::{fixture, scopes, Fixture};
use super::*;
use crate::analytics::ScopeUse;

/// A key of acme with `list` scopes that used `used` (one and five days ago).
async fn used_key(f: &Fixture, list: &[&str], used: &[&str]) -> CreatedKey {
    let made = f
        .create(
            &Actor::system(),
            NewKey::named("broad").tenant("acme").scopes(scopes(list)),
        )
        .await;
    let now = f.clock.now();
    let uses: Vec<ScopeUse> = used
        .iter()
        .enumerate()
        .map(|(i, scope)| ScopeUse {
            key_id: made.record.id.clone(),
            scope: (*scope).to_owned(),
            first_used: now - Duration::days(if i == 0 { 5 } else { 40 }),
            last_used: now - Duration::days(if i == 0 { 1 } else { 35 }),
        })
        .collect();
    f.store
        .record_scope_use(&uses)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    made
}

#[tokio::test]
async fn the_report_says_what_was_used_in_the_window_and_what_was_not() {
    let f = fixture();
    let key = used_key(
        &f,
        &["read:items", "write:items", "admin"],
        &["read:items", "write:items"],
    )
    .await;
    let usage = f
        .manager
        .scope_usage(&Actor::system(), &key.record.id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let used: Vec<&str> = usage.used.iter().map(|u| u.scope.as_str()).collect();
    assert_eq!(
        used,
        ["read:items"],
        "write:items was last used 35 days ago"
    );
    assert_eq!(usage.unused, ["write:items", "admin"]);
    let wider = f
        .manager
        .scope_usage(
            &Actor::system(),
            &key.record.id,
            Some(f.clock.now() - Duration::days(60)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        wider.unused,
        ["admin"],
        "read:items and write:items used in 60 days"
    );
    // A broad grant counts as unused even when a scope it covers was used.
    let broad = used_key(&f, &["read", "admin"], &["read:items"]).await;
    let usage = f
        .manager
        .scope_usage(&Actor::system(), &broad.record.id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(usage.unused, ["read", "admin"]);
    let future = f
        .manager
        .scope_usage(
            &Actor::system(),
            &key.record.id,
            Some(f.clock.now() + Duration::days(1)),
        )
        .await;
    assert!(
        future.is_ok_and(|u| u.used.is_empty() && u.unused.len() == 3),
        "a future start is an empty window"
    );
}

#[tokio::test]
async fn narrowing_rotates_to_the_used_scopes_with_a_grace_period() {
    let f = fixture();
    let key = used_key(&f, &["read:items", "write:items", "admin"], &["read:items"]).await;
    let narrowed = f
        .manager
        .narrow(
            &Actor::system(),
            &key.record.id,
            None,
            Some(Duration::hours(1)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(narrowed.record.scopes.to_strings(), ["read:items"]);
    assert!(narrowed.record.role.is_none());
    // The old key works through the grace period, then not.
    assert!(f.verify(key.key.expose()).await.is_ok());
    let principal = f.principal(narrowed.key.expose()).await;
    assert!(principal.has_scope("read:items") && !principal.has_scope("write:items"));
    f.clock.advance(Duration::hours(2));
    assert!(f.verify(key.key.expose()).await.is_err());
    // Audited with what was dropped.
    let log = f
        .store
        .list_audit(
            &crate::audit::AuditFilter::default(),
            &PageRequest::first(50),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(log
        .items
        .iter()
        .any(|e| e.action == "key.narrow"
            && e.reason.as_deref() == Some("dropped write:items admin")));
}

#[tokio::test]
async fn narrowing_is_refused_without_use_without_slack_and_to_weaker_keys() {
    let f = fixture();
    let idle = used_key(&f, &["read:items"], &[]).await;
    let res = f
        .manager
        .narrow(&Actor::system(), &idle.record.id, None, None)
        .await;
    assert!(
        matches!(&res, Err(ManageError::Conflict(m)) if m.contains("revoke it instead")),
        "{res:?}"
    );
    let tight = used_key(&f, &["read:items"], &["read:items"]).await;
    let res = f
        .manager
        .narrow(&Actor::system(), &tight.record.id, None, None)
        .await;
    assert!(
        matches!(&res, Err(ManageError::Conflict(m)) if m.contains("nothing to narrow")),
        "{res:?}"
    );
    // A key without the target's scopes cannot narrow it (and receive its successor).
    let broad = used_key(&f, &["read:items", "write:items"], &["read:items"]).await;
    let weak = f.actor("acme", None, &["*:api-keys", "read:items"]).await;
    let res = f.manager.narrow(&weak, &broad.record.id, None, None).await;
    assert!(matches!(res, Err(ManageError::Forbidden(_))), "{res:?}");
    let other = f.actor("globex", None, &["*"]).await;
    let res = f.manager.scope_usage(&other, &broad.record.id, None).await;
    assert!(matches!(res, Err(ManageError::NotFound)), "{res:?}");
    // The refused attempts rotated nothing.
    assert!(f
        .manager
        .get(&Actor::system(), &broad.record.id)
        .await
        .is_ok_and(|r| r.rotation.is_none()));
}

#[tokio::test]
async fn leaked_keys_are_revoked_or_quarantined_and_strangers_change_nothing() {
    use crate::manager::{LeakPolicy, LeakedToken};
    let f = fixture();
    let a = used_key(&f, &["read"], &[]).await;
    let b = used_key(&f, &["read"], &[]).await;
    let leak = |token: &str| LeakedToken {
        token: token.to_owned(),
        url: Some("https://github.com/o/r/blob/main/.env".into()),
        source: None,
    };
    let stranger = crate::key_format::generate("sk", "live").unwrap_or_else(|e| panic!("{e}"));
    let findings = f
        .manager
        .respond_to_leaks(
            &[
                leak(a.key.expose()),
                leak(stranger.expose()),
                leak("not a key at all"),
            ],
            LeakPolicy::Quarantine,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<bool> = findings.iter().map(|x| x.ours).collect();
    assert_eq!(ours, [true, false, false]);
    assert!(matches!(
        f.verify(a.key.expose()).await,
        Err(crate::AuthError::DisabledKey)
    ));
    assert!(
        f.verify(b.key.expose()).await.is_ok(),
        "only the reported key"
    );
    // Reported again after a revoke: still ours, nothing more to do.
    f.manager
        .revoke(&Actor::system(), &a.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = f
        .manager
        .respond_to_leaks(&[leak(a.key.expose())], LeakPolicy::Revoke)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again[0].ours);
    let log = f
        .store
        .list_audit(
            &crate::audit::AuditFilter::default(),
            &PageRequest::first(50),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut reasons: Vec<String> = log
        .items
        .iter()
        .filter(|e| e.action == "key.leaked")
        .filter_map(|e| e.reason.clone())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "reported leaked at https://github.com/o/r/blob/main/.env: already revoked",
            "reported leaked at https://github.com/o/r/blob/main/.env: disabled",
        ]
    );
}

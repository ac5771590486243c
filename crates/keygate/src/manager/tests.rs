use std::sync::Arc;

use chrono::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::error::InvalidKeyReason;
use crate::{AuthError, MemoryStore, Principal, Verifier, VerifyRequest};

pub(super) struct Fixture {
    pub(super) store: Arc<MemoryStore>,
    pub(super) clock: ManualClock,
    pub(super) manager: KeyManager,
    pub(super) verifier: Verifier,
}

pub(super) fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::at_unix(1_700_000_000);
    let manager = KeyManager::builder(store.clone())
        .clock(clock.clone())
        .build();
    let verifier = Verifier::builder(store.clone())
        .clock(clock.clone())
        .build();
    Fixture {
        store,
        clock,
        manager,
        verifier,
    }
}

pub(super) fn scopes(list: &[&str]) -> ScopeSet {
    ScopeSet::parse(list).expect("valid scopes")
}

impl Fixture {
    pub(super) async fn create(&self, actor: &Actor, new: NewKey) -> CreatedKey {
        self.manager
            .create(actor, new)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"))
    }

    /// A key acting for `tenant` with `scopes`, as the admin API would see it.
    pub(super) async fn actor(&self, tenant: &str, owner: Option<&str>, list: &[&str]) -> Actor {
        let mut new = NewKey::named("actor").tenant(tenant).scopes(scopes(list));
        new.owner = owner.map(str::to_owned);
        let created = self.create(&Actor::system(), new).await;
        Actor::key(self.principal(created.key.expose()).await)
    }

    pub(super) async fn principal(&self, key: &str) -> Principal {
        self.verifier
            .verify(VerifyRequest::key(key))
            .await
            .map(|v| v.principal)
            .unwrap_or_else(|e| panic!("verify: {e}"))
    }

    pub(super) async fn verify(&self, key: &str) -> Result<(), AuthError> {
        self.verifier
            .verify(VerifyRequest::key(key))
            .await
            .map(|_| ())
    }
}

#[tokio::test]
async fn create_returns_the_key_once_and_stores_only_its_hash() {
    let f = fixture();
    let created = f
        .create(
            &Actor::system(),
            NewKey::named("ci").tenant("acme").scopes(scopes(&["read"])),
        )
        .await;
    let stored = f
        .store
        .get(&created.record.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.hash, KeyHasher::Sha256.hash(created.key.expose()));
    assert!(!format!("{stored:?}").contains(created.key.expose()));
    assert!(created.key.expose().starts_with("sk_live_"));
    assert!(f.verify(created.key.expose()).await.is_ok());
}

#[tokio::test]
async fn validation_errors() {
    let f = fixture();
    let sys = Actor::system();
    let past = f.clock.now() - Duration::seconds(1);
    let cases: Vec<(NewKey, &str)> = vec![
        (NewKey::named("").tenant("t"), "name"),
        (NewKey::named("x".repeat(201)).tenant("t"), "name"),
        (NewKey::named("ok"), "tenant"),
        (
            NewKey::named("ok").tenant("t").expires_at(past),
            "expiresAt",
        ),
        (
            NewKey::named("ok").tenant("t").role("ghost"),
            "unknown role",
        ),
        (NewKey::named("ok").tenant("t").env("PROD"), "environment"),
        (
            NewKey::named("ok").tenant("t").kind(KeyKind::Personal),
            "owner",
        ),
    ];
    for (new, needle) in cases {
        match f.manager.create(&sys, new).await {
            Err(ManageError::Invalid(msg)) => {
                assert!(msg.contains(needle), "{msg:?} should mention {needle}")
            }
            other => panic!("expected invalid ({needle}), got {other:?}"),
        }
    }
    let mut huge = NewKey::named("ok").tenant("t");
    huge.metadata
        .insert("blob".into(), serde_json::Value::String("x".repeat(20_000)));
    assert!(matches!(
        f.manager.create(&sys, huge).await,
        Err(ManageError::Invalid(_))
    ));
    let page = f
        .store
        .list(&KeyFilter::tenant("t"), &PageRequest::first(10))
        .await
        .map(|p| p.items.len());
    assert_eq!(page.ok(), Some(0), "nothing half-written");
}

#[tokio::test]
async fn privilege_ceiling() {
    let f = fixture();
    f.store
        .put_role(&Role::new("writer", scopes(&["write:scans"])).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actor = f
        .actor("acme", Some("alice"), &["read", "write:api-keys"])
        .await;
    assert!(f
        .manager
        .create(&actor, NewKey::named("ok").scopes(scopes(&["read:scans"])))
        .await
        .is_ok());
    for (new, what) in [
        (
            NewKey::named("no").scopes(scopes(&["write:scans"])),
            "scope",
        ),
        (NewKey::named("no").scopes(scopes(&["*"])), "wildcard"),
        (NewKey::named("no").role("writer"), "role"),
    ] {
        assert!(
            matches!(
                f.manager.create(&actor, new).await,
                Err(ManageError::Forbidden(_))
            ),
            "{what}"
        );
    }
    // Not in another tenant either.
    let other = NewKey::named("no").tenant("globex");
    assert!(matches!(
        f.manager.create(&actor, other).await,
        Err(ManageError::Forbidden(_))
    ));
    // An update cannot escalate.
    let created = f
        .create(
            &actor,
            NewKey::named("mine").scopes(scopes(&["read:scans"])),
        )
        .await;
    let escalate = KeyUpdate {
        scopes: Some(scopes(&["admin"])),
        ..KeyUpdate::default()
    };
    assert!(matches!(
        f.manager.update(&actor, &created.record.id, escalate).await,
        Err(ManageError::Forbidden(_))
    ));
    let audit = f
        .manager
        .audit_log(&actor, AuditFilter::default(), &PageRequest::first(100))
        .await;
    let failures = audit.map(|p| {
        p.items
            .iter()
            .filter(|e| e.outcome == Outcome::Failure)
            .count()
    });
    assert_eq!(failures.ok(), Some(5), "refusals are audited");
}

#[tokio::test]
async fn personal_keys_default_to_the_creators_owner() {
    let f = fixture();
    let actor = f.actor("acme", Some("usr_1"), &["read"]).await;
    let created = f
        .create(&actor, NewKey::named("mine").kind(KeyKind::Personal))
        .await;
    assert_eq!(created.record.owner.as_deref(), Some("usr_1"));
    assert_eq!(created.record.tenant, "acme");
    assert_eq!(
        created.record.created_by.as_ref(),
        actor.principal().map(|p| p.key_id())
    );
    let for_other = NewKey::named("theirs")
        .kind(KeyKind::Personal)
        .owner("usr_2");
    assert!(matches!(
        f.manager.create(&actor, for_other).await,
        Err(ManageError::Forbidden(_))
    ));
}

#[tokio::test]
async fn tenants_are_isolated() {
    let f = fixture();
    let globex = f
        .create(&Actor::system(), NewKey::named("theirs").tenant("globex"))
        .await;
    let acme = f.actor("acme", None, &["*"]).await;
    assert!(matches!(
        f.manager.get(&acme, &globex.record.id).await,
        Err(ManageError::NotFound)
    ));
    assert!(matches!(
        f.manager.revoke(&acme, &globex.record.id).await,
        Err(ManageError::NotFound)
    ));
    assert!(matches!(
        f.manager.rotate(&acme, &globex.record.id, None).await,
        Err(ManageError::NotFound)
    ));
    let listed = f
        .manager
        .list(&acme, Some("globex"), None, false, &PageRequest::first(10))
        .await;
    assert!(listed
        .map(|p| p.items.iter().all(|r| r.tenant == "acme"))
        .unwrap_or(false));
    assert!(f.verify(globex.key.expose()).await.is_ok(), "untouched");
}

#[tokio::test]
async fn rotation_grace_boundary() {
    let f = fixture();
    let sys = Actor::system();
    let old = f
        .create(
            &sys,
            NewKey::named("svc")
                .tenant("acme")
                .scopes(scopes(&["read"])),
        )
        .await;
    let new = f
        .manager
        .rotate(&sys, &old.record.id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(new.record.scopes, old.record.scopes, "settings copied");
    assert_ne!(new.key.expose(), old.key.expose());
    assert!(f.verify(new.key.expose()).await.is_ok());
    f.clock.advance(Duration::hours(24) - Duration::seconds(1));
    assert!(
        f.verify(old.key.expose()).await.is_ok(),
        "old key works for 24 h"
    );
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        f.verify(old.key.expose()).await,
        Err(AuthError::InvalidKey(InvalidKeyReason::Rotated))
    );
    assert!(f.verify(new.key.expose()).await.is_ok());
    assert!(
        matches!(
            f.manager.rotate(&sys, &old.record.id, None).await,
            Err(ManageError::Conflict(_))
        ),
        "rotate twice"
    );
}

#[tokio::test]
async fn custom_and_zero_grace() {
    let f = fixture();
    let sys = Actor::system();
    let a = f.create(&sys, NewKey::named("a").tenant("acme")).await;
    f.manager
        .rotate(&sys, &a.record.id, Some(Duration::zero()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        f.verify(a.key.expose()).await.is_err(),
        "zero grace: old key stops now"
    );
    let b = f.create(&sys, NewKey::named("b").tenant("acme")).await;
    assert!(matches!(
        f.manager
            .rotate(&sys, &b.record.id, Some(Duration::days(31)))
            .await,
        Err(ManageError::Invalid(_))
    ));
    assert!(matches!(
        f.manager
            .rotate(&sys, &b.record.id, Some(Duration::seconds(-1)))
            .await,
        Err(ManageError::Invalid(_))
    ));
}

#[tokio::test]
async fn revoking_a_rotated_key_ends_its_grace_at_once() {
    let f = fixture();
    let sys = Actor::system();
    let old = f.create(&sys, NewKey::named("svc").tenant("acme")).await;
    let new = f
        .manager
        .rotate(&sys, &old.record.id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.manager
        .revoke(&sys, &old.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.verify(old.key.expose()).await,
        Err(AuthError::InvalidKey(InvalidKeyReason::Revoked))
    );
    assert!(
        f.verify(new.key.expose()).await.is_ok(),
        "the replacement is untouched"
    );
    // Revoking twice is idempotent and keeps the first time.
    let first = f
        .store
        .get(&old.record.id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.revoked_at);
    f.clock.advance(Duration::hours(1));
    let again = f
        .manager
        .revoke(&sys, &old.record.id)
        .await
        .map(|r| r.revoked_at);
    assert_eq!(again.ok().flatten(), first);
    assert!(matches!(
        f.manager.rotate(&sys, &old.record.id, None).await,
        Err(ManageError::Conflict(_))
    ));
    let no_change = KeyUpdate {
        name: Some("x".into()),
        ..KeyUpdate::default()
    };
    assert!(matches!(
        f.manager.update(&sys, &old.record.id, no_change).await,
        Err(ManageError::Conflict(_))
    ));
}

#[tokio::test]
async fn owner_deactivation_revokes_only_their_personal_keys() {
    let f = fixture();
    let sys = Actor::system();
    let personal = f
        .create(
            &sys,
            NewKey::named("p")
                .tenant("acme")
                .kind(KeyKind::Personal)
                .owner("bob"),
        )
        .await;
    let team = f
        .create(
            &sys,
            NewKey::named("t")
                .tenant("acme")
                .kind(KeyKind::Team)
                .owner("bob"),
        )
        .await;
    let other = f
        .create(
            &sys,
            NewKey::named("o")
                .tenant("acme")
                .kind(KeyKind::Personal)
                .owner("carol"),
        )
        .await;
    let elsewhere = f
        .create(
            &sys,
            NewKey::named("e")
                .tenant("globex")
                .kind(KeyKind::Personal)
                .owner("bob"),
        )
        .await;
    let revoked = f
        .manager
        .deactivate_owner(&sys, Some("acme"), "bob")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked, vec![personal.record.id.clone()]);
    assert!(f.verify(personal.key.expose()).await.is_err());
    for alive in [&team, &other, &elsewhere] {
        assert!(f.verify(alive.key.expose()).await.is_ok());
    }
}

#[tokio::test]
async fn update_changes_fields_and_keeps_the_rest() {
    let f = fixture();
    let sys = Actor::system();
    let created = f
        .create(
            &sys,
            NewKey::named("svc")
                .tenant("acme")
                .scopes(scopes(&["read"])),
        )
        .await;
    let expires = f.clock.now() + Duration::days(7);
    let update = KeyUpdate {
        name: Some("renamed".into()),
        description: Some(Some("for billing".into())),
        expires_at: Some(Some(expires)),
        allowed_referrers: Some(vec!["app.example.com".into()]),
        ..KeyUpdate::default()
    };
    let updated = f
        .manager
        .update(&sys, &created.record.id, update)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (updated.name.as_str(), updated.description.as_deref()),
        ("renamed", Some("for billing"))
    );
    assert_eq!(updated.expires_at, Some(expires));
    assert_eq!(updated.scopes, created.record.scopes);
    let bad = KeyUpdate {
        allowed_referrers: Some(vec!["has space".into()]),
        ..KeyUpdate::default()
    };
    assert!(matches!(
        f.manager.update(&sys, &created.record.id, bad).await,
        Err(ManageError::Invalid(_))
    ));
    let stored = f
        .store
        .get(&created.record.id)
        .await
        .ok()
        .flatten()
        .map(|r| r.allowed_referrers);
    assert_eq!(
        stored,
        Some(vec!["app.example.com".to_owned()]),
        "a refused update writes nothing"
    );
}

#[tokio::test]
async fn every_change_is_audited() {
    let f = fixture();
    let sys = Actor::system().from_ip("192.0.2.1".parse().ok());
    let created = f.create(&sys, NewKey::named("svc").tenant("acme")).await;
    // Events at one instant are ordered by id; move the clock so the order is the story.
    f.clock.advance(Duration::seconds(1));
    let _ = f.manager.rotate(&sys, &created.record.id, None).await;
    f.clock.advance(Duration::seconds(1));
    let _ = f.manager.revoke(&sys, &created.record.id).await;
    let events = f
        .manager
        .audit_log(
            &Actor::system(),
            AuditFilter {
                key: Some(created.record.id.clone()),
                ..AuditFilter::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["key.create", "key.rotate", "key.revoke"]);
    assert!(events
        .items
        .iter()
        .all(|e| e.client_ip == "192.0.2.1".parse().ok() && e.tenant.as_deref() == Some("acme")));
}

#[tokio::test]
async fn a_key_defines_roles_of_its_own_namespace_and_the_system_global_ones() {
    // A key of one tenant defining `viewer` must not change what other tenants' keys
    // hold: its roles go into its own tenant and environment.
    let f = fixture();
    let actor = f.actor("acme", None, &["*"]).await;
    let narrow = Role::new("viewer", scopes(&["read:scans"])).unwrap_or_else(|e| panic!("{e}"));
    let (role, created) = f
        .manager
        .put_role(&actor, narrow.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created);
    assert_eq!((role.tenant(), role.env()), (Some("acme"), Some("live")));
    let (global, created) = f
        .manager
        .put_role(&Actor::system(), narrow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created && global.is_global());
    let listed: Vec<(String, Option<String>)> = f
        .manager
        .list_roles(&Actor::system())
        .await
        .expect("roles listed")
        .iter()
        .map(|r| (r.name().to_owned(), r.tenant().map(str::to_owned)))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("viewer".into(), None),
            ("viewer".into(), Some("acme".into()))
        ]
    );
    // Replacing reports "not created"; creating an existing one is a 409.
    let again = Role::new("viewer", scopes(&["read"])).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        f.manager.put_role(&actor, again.clone()).await,
        Ok((_, false))
    ));
    let conflict = f.manager.create_role(&actor, again).await;
    assert!(
        matches!(&conflict, Err(e @ ManageError::Conflict(_)) if e.status() == 409),
        "got {conflict:?}"
    );
}

#[tokio::test]
async fn role_descriptions_are_held_to_the_rules_of_key_descriptions() {
    // A role is listed beside keys (CLI tables, the dashboard): the same characters that
    // would make a key's listing lie are refused in a role's description.
    let f = fixture();
    for (description, says) in [
        ("reads\u{0084}scans", "control character"),
        ("safe\u{202E}txt.exe", "bidirectional"),
        (&"x".repeat(2001)[..], "at most 2000"),
    ] {
        let role = Role::new("viewer", scopes(&["read"]))
            .expect("role")
            .with_description(description);
        match f.manager.put_role(&Actor::system(), role).await {
            Ok(put) => panic!("{description:?} was stored: {put:?}"),
            Err(e) => {
                assert_eq!(e.status(), 422, "{e}");
                assert!(e.to_string().contains(says), "{e}");
            }
        }
    }
    assert!(f
        .manager
        .list_roles(&Actor::system())
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn store_down_is_reported_not_swallowed() {
    let f = fixture();
    f.store.set_unavailable(true);
    let err = f
        .manager
        .create(&Actor::system(), NewKey::named("x").tenant("acme"))
        .await
        .err();
    assert_eq!(
        err.map(|e| (e.code(), e.status())),
        Some(("store_unavailable", 503))
    );
}

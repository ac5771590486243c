//! Issue 11's findings, each as the attack that worked before and must fail now.

use chrono::Duration;

use super::tests::{fixture, scopes, Fixture};
use super::*;
use crate::error::InvalidKeyReason;
use crate::{AuthError, RateLimitSpec};

/// A key of `tenant`/`env` with `list` scopes, created by the system; returns the actor
/// and the key's id.
async fn key_actor(f: &Fixture, env: &str, list: &[&str]) -> (Actor, KeyId) {
    let created = f
        .create(
            &Actor::system(),
            NewKey::named("actor")
                .tenant("acme")
                .env(env)
                .scopes(scopes(list)),
        )
        .await;
    let principal = f.principal(created.key.expose()).await;
    (Actor::key(principal), created.record.id)
}

async fn admin_key(f: &Fixture, env: &str) -> CreatedKey {
    f.create(
        &Actor::system(),
        NewKey::named("root")
            .tenant("acme")
            .env(env)
            .scopes(scopes(&["*"])),
    )
    .await
}

fn is_forbidden<T: std::fmt::Debug>(r: &Result<T, ManageError>) -> bool {
    matches!(r, Err(ManageError::Forbidden(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: &Result<T, ManageError>) -> bool {
    matches!(r, Err(ManageError::NotFound))
}

// Finding 1: rotation escapes the privilege ceiling.
#[tokio::test]
async fn a_weaker_key_cannot_rotate_a_stronger_one_and_receive_it() {
    let f = fixture();
    let admin = admin_key(&f, "live").await;
    let (manager_key, _) = key_actor(&f, "live", &["read:api-keys", "write:api-keys"]).await;
    let res = f
        .manager
        .rotate(&manager_key, &admin.record.id, Some(Duration::zero()))
        .await;
    assert!(is_forbidden(&res), "got {res:?}");
    // The admin key was not touched and still works.
    let stored = f.manager.get(&Actor::system(), &admin.record.id).await;
    assert!(stored.is_ok_and(|r| r.rotation.is_none()));
    assert!(f.verify(admin.key.expose()).await.is_ok());
    // Its own key (covered) rotates fine.
    let own = f
        .create(
            &Actor::system(),
            NewKey::named("svc")
                .tenant("acme")
                .scopes(scopes(&["read:api-keys"])),
        )
        .await;
    assert!(f
        .manager
        .rotate(&manager_key, &own.record.id, None)
        .await
        .is_ok());
}

#[tokio::test]
async fn a_role_counts_toward_the_ceiling_of_rotate_update_and_revoke() {
    let f = fixture();
    f.manager
        .put_role(
            &Actor::system(),
            Role::new("administrator", scopes(&["*"])).unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = f
        .create(
            &Actor::system(),
            NewKey::named("admin").tenant("acme").role("administrator"),
        )
        .await;
    let (weak, _) = key_actor(
        &f,
        "live",
        &["read:api-keys", "write:api-keys", "delete:api-keys"],
    )
    .await;
    let id = &admin.record.id;
    assert!(is_forbidden(&f.manager.rotate(&weak, id, None).await));
    let demote = KeyUpdate {
        role: Some(None),
        scopes: Some(scopes(&["read"])),
        ..KeyUpdate::default()
    };
    assert!(is_forbidden(&f.manager.update(&weak, id, demote).await));
    assert!(is_forbidden(&f.manager.revoke(&weak, id).await));
    assert!(f.verify(admin.key.expose()).await.is_ok());
}

// Finding 2: a revocation can be undone by a concurrent update or rotate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_and_rotations_never_undo_a_revoke() {
    for round in 0..20 {
        let f = fixture();
        let created = f
            .create(
                &Actor::system(),
                NewKey::named("victim")
                    .tenant("acme")
                    .scopes(scopes(&["read"])),
            )
            .await;
        let id = created.record.id.clone();
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (manager, id) = (f.manager.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                for j in 0..5 {
                    let update = KeyUpdate {
                        name: Some(format!("writer {i}.{j}")),
                        ..KeyUpdate::default()
                    };
                    let _ = manager.update(&Actor::system(), &id, update).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        {
            let (manager, id) = (f.manager.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let _ = manager
                    .rotate(&Actor::system(), &id, Some(Duration::hours(1)))
                    .await;
            }));
        }
        let revoke = f.manager.revoke(&Actor::system(), &id).await;
        assert!(revoke.is_ok(), "round {round}: {revoke:?}");
        for t in tasks {
            t.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let stored = f
            .manager
            .get(&Actor::system(), &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stored.revoked_at.is_some(),
            "round {round}: the revoke was undone"
        );
        assert!(
            matches!(
                f.verify(created.key.expose()).await,
                Err(AuthError::InvalidKey(InvalidKeyReason::Revoked))
            ),
            "round {round}: the revoked key verifies"
        );
    }
}

#[tokio::test]
async fn a_stolen_key_patching_itself_cannot_survive_a_revoke() {
    let f = fixture();
    let created = f
        .create(
            &Actor::system(),
            NewKey::named("stolen")
                .tenant("acme")
                .scopes(scopes(&["read:api-keys", "write:api-keys"])),
        )
        .await;
    let thief = Actor::key(f.principal(created.key.expose()).await);
    // The thief read its record before the revoke…
    let before = f
        .manager
        .get(&thief, &created.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.manager
        .revoke(&Actor::system(), &created.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // …and its write-back of that stale record loses at the store.
    assert!(matches!(
        f.store.update(&before).await,
        Err(crate::StoreError::Revoked | crate::StoreError::VersionConflict)
    ));
    // Through the manager, the update is refused outright.
    let res = f
        .manager
        .update(
            &thief,
            &created.record.id,
            KeyUpdate {
                name: Some("still here".into()),
                ..KeyUpdate::default()
            },
        )
        .await;
    assert!(matches!(res, Err(ManageError::Conflict(_))), "got {res:?}");
    assert!(f.verify(created.key.expose()).await.is_err());
}

// Finding 3: the environment boundary.
#[tokio::test]
async fn a_test_key_cannot_mint_see_or_rotate_live_keys() {
    let f = fixture();
    let live_admin = admin_key(&f, "live").await;
    let (test_admin, _) = key_actor(&f, "test", &["*"]).await;
    let live = f
        .manager
        .create(
            &test_admin,
            NewKey::named("escalate").env("live").scopes(scopes(&["*"])),
        )
        .await;
    assert!(is_forbidden(&live), "got {live:?}");
    // Without an env, the new key is of the caller's environment, not the default.
    let made = f
        .manager
        .create(&test_admin, NewKey::named("default env"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.record.env, "test");
    assert!(made.key.expose().starts_with("sk_test_"));
    // Live keys are invisible to it.
    let id = &live_admin.record.id;
    assert!(is_not_found(&f.manager.get(&test_admin, id).await));
    assert!(is_not_found(&f.manager.rotate(&test_admin, id, None).await));
    assert!(is_not_found(&f.manager.revoke(&test_admin, id).await));
    assert!(is_not_found(
        &f.manager
            .update(&test_admin, id, KeyUpdate::default())
            .await
    ));
    let listed = f
        .manager
        .list(&test_admin, None, None, true, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.items.iter().all(|r| r.env == "test"), "{listed:?}");
    // The system actor (CLI) may do anything.
    assert!(f
        .manager
        .create(
            &Actor::system(),
            NewKey::named("ops").tenant("acme").env("live")
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn a_live_key_cannot_mint_test_keys_either() {
    let f = fixture();
    let (live_admin, _) = key_actor(&f, "live", &["*"]).await;
    let res = f
        .manager
        .create(&live_admin, NewKey::named("t").env("test"))
        .await;
    assert!(
        is_forbidden(&res),
        "environments are kept apart both ways: {res:?}"
    );
}

// Finding 4: the ceiling covers every field, and a key cannot loosen itself.
#[tokio::test]
async fn a_weaker_key_cannot_demote_lock_shorten_or_revoke_a_stronger_one() {
    let f = fixture();
    let admin = admin_key(&f, "live").await;
    let (weak, _) = key_actor(
        &f,
        "live",
        &["read:api-keys", "write:api-keys", "delete:api-keys"],
    )
    .await;
    let id = &admin.record.id;
    let attempts = [
        KeyUpdate {
            scopes: Some(scopes(&["read"])),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            allowed_ips: Some(vec!["192.0.2.1/32"
                .parse()
                .unwrap_or_else(|_| unreachable!())]),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            expires_at: Some(Some(f.clock.now() + Duration::minutes(1))),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            name: Some("renamed".into()),
            ..KeyUpdate::default()
        },
    ];
    for update in attempts {
        let res = f.manager.update(&weak, id, update.clone()).await;
        assert!(is_forbidden(&res), "{update:?}: {res:?}");
    }
    assert!(is_forbidden(&f.manager.revoke(&weak, id).await));
    assert!(f.verify(admin.key.expose()).await.is_ok());
}

#[tokio::test]
async fn a_key_may_tighten_but_not_loosen_its_own_restrictions() {
    let f = fixture();
    let mut new = NewKey::named("self")
        .tenant("acme")
        .scopes(scopes(&["read:api-keys", "write:api-keys"]))
        .expires_at(f.clock.now() + Duration::days(30));
    new.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
    new.rate_limit = Some(RateLimitSpec::per_hour(100));
    new.limits =
        crate::rate_limit::NamedLimits::parse([("tiny", "2/h")]).unwrap_or_else(|e| panic!("{e}"));
    let created = f.create(&Actor::system(), new).await;
    let me = Actor::key(
        f.verifier
            .verify(crate::VerifyRequest {
                key: created.key.expose(),
                client_ip: "10.1.2.3".parse().ok(),
                referrer: None,
                cost: 1,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .principal,
    );
    let id = &created.record.id;
    let loosen = [
        KeyUpdate {
            expires_at: Some(None),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            expires_at: Some(Some(f.clock.now() + Duration::days(300))),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            allowed_ips: Some(Vec::new()),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            allowed_ips: Some(vec!["0.0.0.0/0".parse().unwrap_or_else(|_| unreachable!())]),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            rate_limit: Some(None),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            rate_limit: Some(Some(RateLimitSpec::per_hour(1000))),
            ..KeyUpdate::default()
        },
        // Its own limit put in shadow mode: it would no longer refuse.
        KeyUpdate {
            rate_limit: Some(Some(RateLimitSpec::per_hour(100).in_shadow())),
            ..KeyUpdate::default()
        },
        // Its named limits: dropped, raised, or put in shadow mode.
        KeyUpdate {
            limits: crate::rate_limit::NamedLimits::parse([("tiny", "2/h,shadow")]).ok(),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            limits: Some(crate::rate_limit::NamedLimits::new()),
            ..KeyUpdate::default()
        },
        KeyUpdate {
            limits: crate::rate_limit::NamedLimits::parse([("tiny", "3/h")]).ok(),
            ..KeyUpdate::default()
        },
    ];
    for update in loosen {
        let res = f.manager.update(&me, id, update.clone()).await;
        assert!(is_forbidden(&res), "{update:?}: {res:?}");
    }
    let tighten = KeyUpdate {
        expires_at: Some(Some(f.clock.now() + Duration::days(1))),
        allowed_ips: Some(vec!["10.1.0.0/16"
            .parse()
            .unwrap_or_else(|_| unreachable!())]),
        rate_limit: Some(Some(RateLimitSpec::per_hour(10))),
        limits: crate::rate_limit::NamedLimits::parse([("tiny", "1/h"), ("extra", "5/m")]).ok(),
        ..KeyUpdate::default()
    };
    let res = f.manager.update(&me, id, tighten).await;
    assert!(res.is_ok(), "tightening is allowed: {res:?}");
}

#[tokio::test]
async fn an_expiring_key_cannot_mint_a_key_that_outlives_it() {
    let f = fixture();
    let expires = f.clock.now() + Duration::days(1);
    let created = f
        .create(
            &Actor::system(),
            NewKey::named("temp")
                .tenant("acme")
                .scopes(scopes(&["read", "write:api-keys"]))
                .expires_at(expires),
        )
        .await;
    let temp = Actor::key(f.principal(created.key.expose()).await);
    let forever = f
        .manager
        .create(&temp, NewKey::named("forever").scopes(scopes(&["read"])))
        .await;
    assert!(is_forbidden(&forever), "{forever:?}");
    let later = f
        .manager
        .create(
            &temp,
            NewKey::named("later")
                .scopes(scopes(&["read"]))
                .expires_at(expires + Duration::days(1)),
        )
        .await;
    assert!(is_forbidden(&later), "{later:?}");
    let within = f
        .manager
        .create(
            &temp,
            NewKey::named("within")
                .scopes(scopes(&["read"]))
                .expires_at(expires),
        )
        .await;
    assert!(within.is_ok(), "{within:?}");
}

// Finding 5: unauthenticated write amplification.
#[tokio::test]
async fn a_flood_of_unknown_keys_writes_a_bounded_number_of_audit_rows() {
    let f = fixture();
    let ip = "203.0.113.50".parse().ok();
    let mut throttled = 0;
    for _ in 0..3000 {
        let key = crate::key_format::generate("sk", "live").unwrap_or_else(|e| panic!("{e}"));
        let res = f
            .verifier
            .verify(crate::VerifyRequest {
                key: key.expose(),
                client_ip: ip,
                referrer: None,
                cost: 1,
            })
            .await;
        if matches!(res, Err(AuthError::RateLimited { .. })) {
            throttled += 1;
        }
    }
    assert!(
        throttled > 2900,
        "the default throttle refuses the flood: {throttled}"
    );
    f.clock.advance(Duration::minutes(5));
    f.verifier
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let events = f
        .manager
        .audit_log(
            &Actor::system(),
            AuditFilter::default(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let verify_events: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.action == "key.verify")
        .collect();
    assert!(
        verify_events.len() <= 3,
        "3000 requests wrote {} rows: {verify_events:?}",
        verify_events.len()
    );
    let counted: u32 = verify_events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("unknown"))
        .map(|e| e.count)
        .sum();
    assert_eq!(counted, 3000 - throttled, "every lookup failure is counted");
}

// Finding 6: low items.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_rotations_mint_exactly_one_successor() {
    for _ in 0..10 {
        let f = fixture();
        let created = f
            .create(&Actor::system(), NewKey::named("k").tenant("acme"))
            .await;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (manager, id) = (f.manager.clone(), created.record.id.clone());
                tokio::spawn(async move { manager.rotate(&Actor::system(), &id, None).await })
            })
            .collect();
        let mut successes = Vec::new();
        for t in tasks {
            if let Ok(made) = t.await.unwrap_or_else(|e| panic!("{e}")) {
                successes.push(made);
            }
        }
        assert_eq!(successes.len(), 1, "exactly one rotation wins");
        let live = f
            .manager
            .list(
                &Actor::system(),
                Some("acme"),
                None,
                false,
                &PageRequest::first(100),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(live.items.len(), 2, "the old key and one successor");
    }
}

#[tokio::test]
async fn a_service_key_cannot_mint_personal_keys_for_other_owners() {
    let f = fixture();
    let (service, _) = key_actor(&f, "live", &["read", "write:api-keys"]).await;
    let res = f
        .manager
        .create(
            &service,
            NewKey::named("for alice")
                .kind(KeyKind::Personal)
                .owner("alice")
                .scopes(scopes(&["read"])),
        )
        .await;
    assert!(is_forbidden(&res), "{res:?}");
    let (owner_admin, _) = key_actor(&f, "live", &["read", "admin:api-keys"]).await;
    let res = f
        .manager
        .create(
            &owner_admin,
            NewKey::named("for alice")
                .kind(KeyKind::Personal)
                .owner("alice")
                .scopes(scopes(&["read"])),
        )
        .await;
    assert!(res.is_ok(), "{res:?}");
}

#[tokio::test]
async fn owner_deactivation_persists_at_creation_and_at_verify_time() {
    let f = fixture();
    let personal = |name: &str| {
        NewKey::named(name)
            .tenant("acme")
            .kind(KeyKind::Personal)
            .owner("alice")
            .scopes(scopes(&["read"]))
    };
    let before = f.create(&Actor::system(), personal("before")).await;
    f.manager
        .deactivate_owner(&Actor::system(), Some("acme"), "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f.verify(before.key.expose()).await.is_err());
    // No new personal key for a deactivated owner…
    let res = f.manager.create(&Actor::system(), personal("after")).await;
    assert!(matches!(res, Err(ManageError::Invalid(_))), "{res:?}");
    // …and one that slipped in (a race with the deactivation) is refused at verify time.
    let (key, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "raced", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    record.kind = KeyKind::Personal;
    record.owner = Some("alice".into());
    f.store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.verify(key.expose()).await,
        Err(AuthError::InvalidKey(InvalidKeyReason::OwnerDeactivated))
    );
    // A non-admin key cannot deactivate or reactivate owners.
    let (weak, _) = key_actor(&f, "live", &["*:scans", "write:api-keys"]).await;
    assert!(is_forbidden(
        &f.manager.reactivate_owner(&weak, None, "alice").await
    ));
    assert!(is_forbidden(
        &f.manager.deactivate_owner(&weak, None, "bob").await
    ));
    // Reactivation allows new keys again; revoked ones stay revoked.
    f.manager
        .reactivate_owner(&Actor::system(), Some("acme"), "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = f.create(&Actor::system(), personal("again")).await;
    assert!(f.verify(again.key.expose()).await.is_ok());
    assert!(f.verify(before.key.expose()).await.is_err());
}

#[tokio::test]
async fn a_key_can_always_revoke_itself() {
    let f = fixture();
    let (me, id) = key_actor(&f, "live", &["read"]).await;
    assert!(f.manager.revoke(&me, &id).await.is_ok());
}

// Disable / enable (usage issue, item 5): the same rights as editing a key.
#[tokio::test]
async fn disabling_needs_the_rights_of_an_edit_and_is_audited() {
    let f = fixture();
    let admin = admin_key(&f, "live").await;
    let (weaker, _) = key_actor(&f, "live", &["read:api-keys", "write:api-keys"]).await;
    let (test_key, _) = key_actor(&f, "test", &["*"]).await;
    let (reader, _) = key_actor(&f, "live", &["read:api-keys"]).await;
    // A weaker key, a test key and a read-only key cannot switch off the admin key.
    let mut forbidden = 0;
    for (who, actor) in [
        ("weaker", &weaker),
        ("test", &test_key),
        ("reader", &reader),
    ] {
        let res = f.manager.disable(actor, &admin.record.id).await;
        assert!(is_forbidden(&res) || is_not_found(&res), "{who}: {res:?}");
        forbidden += usize::from(is_forbidden(&res));
    }
    assert!(
        forbidden >= 2,
        "the weaker and the read-only key are refused"
    );
    assert!(f.verify(admin.key.expose()).await.is_ok());
    // Another tenant's key does not even see it.
    let other = f
        .create(
            &Actor::system(),
            NewKey::named("other")
                .tenant("globex")
                .scopes(scopes(&["*"])),
        )
        .await;
    let other = Actor::key(f.principal(other.key.expose()).await);
    assert!(is_not_found(
        &f.manager.disable(&other, &admin.record.id).await
    ));

    // A key covered by the weaker one: disabled (401 key_disabled), enabled again.
    let victim = f
        .create(
            &Actor::system(),
            NewKey::named("victim")
                .tenant("acme")
                .scopes(scopes(&["read:api-keys"])),
        )
        .await;
    let disabled = f.manager.disable(&weaker, &victim.record.id).await;
    assert!(disabled.is_ok_and(|r| r.disabled_at.is_some()));
    assert_eq!(
        f.verify(victim.key.expose()).await,
        Err(AuthError::DisabledKey)
    );
    // Twice is no error and changes nothing.
    let again = f.manager.disable(&weaker, &victim.record.id).await;
    assert!(again.is_ok_and(|r| r.disabled_at.is_some()));
    // A disabled key cannot be rotated into a working one.
    let rotated = f
        .manager
        .rotate(&Actor::system(), &victim.record.id, None)
        .await;
    assert!(rotated.is_err(), "got {rotated:?}");
    let enabled = f.manager.enable(&weaker, &victim.record.id).await;
    assert!(enabled.is_ok_and(|r| r.disabled_at.is_none()));
    assert!(f.verify(victim.key.expose()).await.is_ok());

    // Every attempt is in the audit log, the refused ones as failures.
    let events = f
        .manager
        .audit_log(
            &Actor::system(),
            AuditFilter::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items;
    let count = |action: &str, outcome: Outcome| {
        events
            .iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .count()
    };
    assert_eq!(count("key.disable", Outcome::Success), 2);
    assert_eq!(count("key.enable", Outcome::Success), 1);
    // Refusals are recorded (a key that cannot even see the target is not-found: no
    // change, no event).
    assert_eq!(count("key.disable", Outcome::Failure), forbidden);
}

#[tokio::test]
async fn a_revoked_key_cannot_be_enabled_or_disabled() {
    let f = fixture();
    let created = f
        .create(&Actor::system(), NewKey::named("gone").tenant("acme"))
        .await;
    let id = created.record.id.clone();
    f.manager
        .disable(&Actor::system(), &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.manager
        .revoke(&Actor::system(), &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for res in [
        f.manager.enable(&Actor::system(), &id).await,
        f.manager.disable(&Actor::system(), &id).await,
    ] {
        assert!(matches!(res, Err(ManageError::Conflict(_))), "got {res:?}");
    }
    assert_eq!(
        f.verify(created.key.expose()).await,
        Err(AuthError::InvalidKey(InvalidKeyReason::Revoked))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enables_never_undo_a_revoke() {
    for round in 0..20 {
        let f = fixture();
        let created = f
            .create(&Actor::system(), NewKey::named("victim").tenant("acme"))
            .await;
        let id = created.record.id.clone();
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (manager, id) = (f.manager.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                for j in 0..5 {
                    let _ = if (i + j) % 2 == 0 {
                        manager.disable(&Actor::system(), &id).await
                    } else {
                        manager.enable(&Actor::system(), &id).await
                    };
                    tokio::task::yield_now().await;
                }
            }));
        }
        let revoke = f.manager.revoke(&Actor::system(), &id).await;
        assert!(revoke.is_ok(), "round {round}: {revoke:?}");
        for t in tasks {
            t.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let stored = f
            .manager
            .get(&Actor::system(), &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(stored.revoked_at.is_some(), "round {round}: undone");
        assert_eq!(
            f.verify(created.key.expose()).await,
            Err(AuthError::InvalidKey(InvalidKeyReason::Revoked)),
            "round {round}"
        );
    }
}

// Verification analytics (usage issue, item 6): a key reads its own tenant's and
// environment's counts only.
#[tokio::test]
async fn analytics_stay_inside_the_tenant_and_environment() {
    use crate::analytics::{
        Granularity, VerificationCount, VerificationFilter, VerificationOutcome,
    };
    let f = fixture();
    let now = f.clock.now();
    let live = admin_key(&f, "live").await;
    let (live_actor, _) = key_actor(&f, "live", &["read:analytics"]).await;
    let (test_actor, _) = key_actor(&f, "test", &["*"]).await;
    let foreign = f
        .create(
            &Actor::system(),
            NewKey::named("foreign")
                .tenant("globex")
                .scopes(scopes(&["*"])),
        )
        .await;
    let row = |record: Option<&KeyRecord>, outcome, count| VerificationCount {
        key_id: record.map(|r| r.id.clone()),
        tenant: record.map(|r| r.tenant.clone()),
        env: record.map(|r| r.env.clone()),
        at: now,
        outcome,
        count,
    };
    f.store
        .record_verifications(&[
            row(Some(&live.record), VerificationOutcome::Valid, 5),
            row(Some(&foreign.record), VerificationOutcome::Valid, 7),
            row(None, VerificationOutcome::Unknown, 11),
        ])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let day = VerificationFilter::between(now - Duration::hours(1), now + Duration::hours(1));
    let total = |rows: &[VerificationCount]| rows.iter().map(|c| c.count).sum::<u64>();

    let mine = f
        .manager
        .verification_counts(&live_actor, day.clone(), Granularity::Hour)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .counts;
    assert_eq!(total(&mine), 5, "its tenant's live key only: {mine:?}");
    // Naming another tenant changes nothing; naming its key is not found.
    let named = VerificationFilter {
        tenant: Some("globex".into()),
        ..day.clone()
    };
    let still_mine = f
        .manager
        .verification_counts(&live_actor, named, Granularity::Hour)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .counts;
    assert_eq!(total(&still_mine), 5);
    let theirs = VerificationFilter {
        key_id: Some(foreign.record.id.clone()),
        ..day.clone()
    };
    assert!(is_not_found(
        &f.manager
            .verification_counts(&live_actor, theirs, Granularity::Hour)
            .await
    ));
    // A test key sees no live counts.
    let test_view = f
        .manager
        .verification_counts(&test_actor, day.clone(), Granularity::Hour)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .counts;
    assert_eq!(total(&test_view), 0);
    // The operator sees everything, unknown keys too.
    let all = f
        .manager
        .verification_counts(&Actor::system(), day.clone(), Granularity::Day)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .counts;
    assert_eq!(total(&all), 23);
    // An empty range has no counts; a long one is cut to its last part, and says so.
    let backwards = VerificationFilter::between(now, now - Duration::hours(1));
    let empty = f
        .manager
        .verification_counts(&Actor::system(), backwards, Granularity::Hour)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(empty.counts.is_empty());
    let long = VerificationFilter::between(now - Duration::days(2), now + Duration::hours(1));
    let cut = f
        .manager
        .verification_counts(&Actor::system(), long, Granularity::Minute)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cut.from, now + Duration::hours(1) - Duration::days(1));
    assert_eq!(total(&cut.counts), 23, "the last day still holds them all");
}

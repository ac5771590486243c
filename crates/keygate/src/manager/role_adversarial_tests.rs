//! Roles managed by keys (issue 13), each as an attack that must fail: a tenant's admin
//! key changing what another tenant's keys hold, a `test` key changing `live` keys, a
//! weaker key defining, replacing or deleting roles beyond its own scopes, a key
//! listing another tenant. Checked through the verifier: what keys actually hold.

use super::tests::{fixture, scopes, Fixture};
use super::*;
use crate::audit::AuditFilter;

fn role(name: &str, list: &[&str]) -> Role {
    Role::new(name, scopes(list)).unwrap_or_else(|e| panic!("{e}"))
}

fn ns(tenant: &str, env: &str) -> RoleNamespace {
    RoleNamespace::new(tenant, env).unwrap_or_else(|e| panic!("{e}"))
}

/// A key of `tenant`/`env` with `own` scopes and `role`, made by the system.
async fn key_in(
    f: &Fixture,
    tenant: &str,
    env: &str,
    own: &[&str],
    role: Option<&str>,
) -> CreatedKey {
    let mut new = NewKey::named("k")
        .tenant(tenant)
        .env(env)
        .scopes(scopes(own));
    new.role = role.map(str::to_owned);
    f.create(&Actor::system(), new).await
}

/// An admin-API caller: a key of `tenant`/`env` holding `list`.
async fn actor_in(f: &Fixture, tenant: &str, env: &str, list: &[&str]) -> Actor {
    let created = key_in(f, tenant, env, list, None).await;
    Actor::key(f.principal(created.key.expose()).await)
}

/// What a key holds right now, as the verifier says.
async fn holds(f: &Fixture, key: &CreatedKey) -> Vec<String> {
    let mut held = f.principal(key.key.expose()).await.scopes().to_strings();
    held.sort();
    held
}

async fn put_global(f: &Fixture, name: &str, list: &[&str]) {
    f.manager
        .put_role(&Actor::system(), role(name, list))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn is_forbidden<T: std::fmt::Debug>(r: &Result<T, ManageError>) -> bool {
    matches!(r, Err(ManageError::Forbidden(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: &Result<T, ManageError>) -> bool {
    matches!(r, Err(ManageError::NotFound))
}

#[tokio::test]
async fn a_tenants_admin_defining_replacing_or_deleting_a_role_never_changes_another_tenants_keys()
{
    let f = fixture();
    put_global(&f, "viewer", &["read"]).await;
    let globex_key = key_in(&f, "globex", "live", &[], Some("viewer")).await;
    let acme_admin = actor_in(&f, "acme", "live", &["*"]).await;
    assert_eq!(holds(&f, &globex_key).await, vec!["read"]);

    // Defined (in acme's namespace, whatever the role says) ...
    let (defined, created) = f
        .manager
        .put_role(&acme_admin, role("viewer", &["*"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created);
    assert_eq!(defined.namespace(), Some(&ns("acme", "live")));
    assert_eq!(holds(&f, &globex_key).await, vec!["read"], "after define");
    // ... replaced ...
    let replaced = f
        .manager
        .put_role(&acme_admin, role("viewer", &["write"]))
        .await;
    assert!(matches!(replaced, Ok((_, false))), "{replaced:?}");
    assert_eq!(holds(&f, &globex_key).await, vec!["read"], "after replace");
    // ... deleted.
    f.manager
        .delete_role(&acme_admin, None, "viewer", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holds(&f, &globex_key).await, vec!["read"], "after delete");

    // Aimed at globex's namespace: "not found", whether the role is there or not.
    let aimed = role("viewer", &["*"])
        .in_namespace("globex", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(is_not_found(
        &f.manager.put_role(&acme_admin, aimed.clone()).await
    ));
    assert!(is_not_found(
        &f.manager.create_role(&acme_admin, aimed.clone()).await
    ));
    assert!(is_not_found(
        &f.manager
            .delete_role(&acme_admin, Some(&ns("globex", "live")), "viewer", true)
            .await
    ));
    f.manager
        .put_role(
            &Actor::system(),
            role("viewer", &["read:billing"])
                .in_namespace("globex", "live")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holds(&f, &globex_key).await, vec!["read:billing"]);
    assert!(is_not_found(&f.manager.put_role(&acme_admin, aimed).await));
    assert!(is_not_found(
        &f.manager
            .delete_role(&acme_admin, Some(&ns("globex", "live")), "viewer", true)
            .await
    ));
    assert!(is_not_found(
        &f.manager
            .get_role(&acme_admin, Some(&ns("globex", "live")), "viewer")
            .await
    ));
    assert_eq!(
        holds(&f, &globex_key).await,
        vec!["read:billing"],
        "untouched"
    );

    // And never global: a role naming no namespace is the key's own, and the policy
    // refuses a global one outright.
    let (own, _) = f
        .manager
        .put_role(&acme_admin, role("viewer", &["*"]).with_namespace(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(own.namespace(), Some(&ns("acme", "live")));
    let everything = scopes(&["*"]);
    assert!(is_forbidden(&authorize(
        &acme_admin,
        Action::PutRole {
            namespace: None,
            before: None,
            after: &ScopeSet::new(),
        },
    )));
    assert!(is_forbidden(&authorize(
        &acme_admin,
        Action::DeleteRole {
            namespace: None,
            role: &ScopeSet::new(),
            fallback: None,
        },
    )));
    assert!(authorize(
        &Actor::system(),
        Action::PutRole {
            namespace: None,
            before: Some(&everything),
            after: &everything,
        },
    )
    .is_ok());
}

#[tokio::test]
async fn a_test_keys_role_never_affects_live_keys() {
    let f = fixture();
    put_global(&f, "viewer", &["read"]).await;
    let live_key = key_in(&f, "acme", "live", &[], Some("viewer")).await;
    let test_key = key_in(&f, "acme", "test", &[], Some("viewer")).await;
    let test_admin = actor_in(&f, "acme", "test", &["*"]).await;

    f.manager
        .put_role(&test_admin, role("viewer", &["*"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holds(&f, &test_key).await, vec!["*"], "the test key's role");
    assert_eq!(holds(&f, &live_key).await, vec!["read"], "live untouched");

    let at_live = role("viewer", &["*"])
        .in_namespace("acme", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(is_not_found(
        &f.manager.put_role(&test_admin, at_live).await
    ));
    assert!(is_not_found(
        &f.manager
            .delete_role(&test_admin, Some(&ns("acme", "live")), "viewer", true)
            .await
    ));
    f.manager
        .delete_role(&test_admin, None, "viewer", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        holds(&f, &test_key).await,
        vec!["read"],
        "back to the global role"
    );
    assert_eq!(holds(&f, &live_key).await, vec!["read"]);
}

#[tokio::test]
async fn a_weaker_key_cannot_define_replace_shadow_or_delete_roles_beyond_its_scopes() {
    let f = fixture();
    let weak = actor_in(&f, "acme", "live", &["read:scans", "write:scans"]).await;

    // Define: only scopes it holds.
    assert!(is_forbidden(
        &f.manager
            .put_role(&weak, role("ops", &["read:scans", "admin"]))
            .await
    ));
    assert!(is_forbidden(
        &f.manager.create_role(&weak, role("ops", &["*"])).await
    ));
    assert!(f
        .manager
        .create_role(&weak, role("scanner", &["read:scans"]))
        .await
        .is_ok());

    // Replace or delete a role of its namespace holding more than it does.
    let strong = role("ops", &["*"])
        .in_namespace("acme", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    f.manager
        .put_role(&Actor::system(), strong)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ops_key = key_in(&f, "acme", "live", &[], Some("ops")).await;
    assert!(is_forbidden(
        &f.manager
            .put_role(&weak, role("ops", &["read:scans"]))
            .await
    ));
    assert!(is_forbidden(
        &f.manager.delete_role(&weak, None, "ops", true).await
    ));
    assert_eq!(holds(&f, &ops_key).await, vec!["*"], "untouched");

    // Shadow a stronger global role (stripping what its tenant's keys hold) ...
    put_global(&f, "boss", &["admin"]).await;
    let boss_key = key_in(&f, "acme", "live", &[], Some("boss")).await;
    assert!(is_forbidden(
        &f.manager
            .put_role(&weak, role("boss", &["read:scans"]))
            .await
    ));
    assert_eq!(holds(&f, &boss_key).await, vec!["admin"]);
    // ... or un-shadow it by deleting the tenant's role in front of it.
    f.manager
        .put_role(
            &Actor::system(),
            role("boss", &["read:scans"])
                .in_namespace("acme", "live")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holds(&f, &boss_key).await, vec!["read:scans"]);
    assert!(is_forbidden(
        &f.manager.delete_role(&weak, None, "boss", true).await
    ));
    assert_eq!(
        holds(&f, &boss_key).await,
        vec!["read:scans"],
        "still shadowed"
    );

    // The system actor may.
    assert!(f
        .manager
        .delete_role(&Actor::system(), Some(&ns("acme", "live")), "boss", true)
        .await
        .is_ok());
    assert_eq!(holds(&f, &boss_key).await, vec!["admin"]);
}

#[tokio::test]
async fn a_tenant_role_shadows_the_global_one_for_that_tenant_and_environment_only() {
    let f = fixture();
    put_global(&f, "viewer", &["read"]).await;
    let acme_live = key_in(&f, "acme", "live", &["write:x"], Some("viewer")).await;
    let acme_test = key_in(&f, "acme", "test", &[], Some("viewer")).await;
    let globex_live = key_in(&f, "globex", "live", &[], Some("viewer")).await;
    let acme_admin = actor_in(&f, "acme", "live", &["*"]).await;
    let globex_admin = actor_in(&f, "globex", "live", &["*"]).await;
    f.manager
        .put_role(&acme_admin, role("viewer", &["read:scans"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(holds(&f, &acme_live).await, vec!["read:scans", "write:x"]);
    assert_eq!(holds(&f, &acme_test).await, vec!["read"]);
    assert_eq!(holds(&f, &globex_live).await, vec!["read"]);

    // The manager resolves as the verifier does.
    let seen = |actor: Actor| {
        let manager = f.manager.clone();
        async move {
            manager
                .get_role(&actor, None, "viewer")
                .await
                .map(|r| (r.tenant().map(str::to_owned), r.scopes.to_strings()))
                .ok()
        }
    };
    assert_eq!(
        seen(acme_admin.clone()).await,
        Some((Some("acme".into()), vec!["read:scans".into()]))
    );
    assert_eq!(
        seen(globex_admin.clone()).await,
        Some((None, vec!["read".into()]))
    );
    assert_eq!(
        seen(Actor::system()).await,
        Some((None, vec!["read".into()]))
    );
    let stored = f
        .manager
        .get(&Actor::system(), &acme_live.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut managed = f
        .manager
        .effective_scopes(&stored)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .to_strings();
    managed.sort();
    assert_eq!(managed, holds(&f, &acme_live).await, "manager = verifier");

    // Listings: a key sees the global roles and its own namespace's.
    let names = |actor: Actor| {
        let manager = f.manager.clone();
        async move {
            manager
                .list_roles(&actor)
                .await
                .expect("roles listed")
                .iter()
                .map(|r| {
                    format!(
                        "{}@{}",
                        r.name(),
                        r.namespace().map(ToString::to_string).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(acme_admin).await, vec!["viewer@", "viewer@acme/live"]);
    assert_eq!(names(globex_admin).await, vec!["viewer@"]);
    assert_eq!(names(Actor::system()).await.len(), 2);
}

#[tokio::test]
async fn deleting_a_role_in_use_is_refused_unless_forced_and_then_keys_hold_only_their_own() {
    let f = fixture();
    let acme_admin = actor_in(&f, "acme", "live", &["*"]).await;
    f.manager
        .create_role(&acme_admin, role("ops", &["write:scans"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = key_in(&f, "acme", "live", &["read"], Some("ops")).await;
    let second = key_in(&f, "acme", "live", &[], Some("ops")).await;
    let revoked = key_in(&f, "acme", "live", &[], Some("ops")).await;
    f.manager
        .revoke(&Actor::system(), &revoked.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holds(&f, &first).await, vec!["read", "write:scans"]);

    let refused = f.manager.delete_role(&acme_admin, None, "ops", false).await;
    match &refused {
        Err(e @ ManageError::Conflict(msg)) => {
            assert_eq!(e.status(), 409);
            assert!(msg.contains("2 key"), "revoked keys do not count: {msg}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(holds(&f, &first).await, vec!["read", "write:scans"]);

    let deleted = f
        .manager
        .delete_role(&acme_admin, None, "ops", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deleted.scopes.to_strings(), vec!["write:scans"]);
    assert_eq!(holds(&f, &first).await, vec!["read"], "only its own");
    assert!(holds(&f, &second).await.is_empty());
    assert!(is_not_found(
        &f.manager.delete_role(&acme_admin, None, "ops", true).await
    ));

    // A global role counts its keys of every tenant.
    put_global(&f, "viewer", &["read"]).await;
    key_in(&f, "acme", "live", &[], Some("viewer")).await;
    key_in(&f, "globex", "test", &[], Some("viewer")).await;
    let refused = f
        .manager
        .delete_role(&Actor::system(), None, "viewer", false)
        .await;
    assert!(
        matches!(&refused, Err(ManageError::Conflict(msg)) if msg.contains("2 key")),
        "{refused:?}"
    );
    // Unused: no force needed.
    put_global(&f, "unused", &["read"]).await;
    assert!(f
        .manager
        .delete_role(&Actor::system(), None, "unused", false)
        .await
        .is_ok());
}

#[tokio::test]
async fn a_key_never_lists_another_tenant_or_environment_even_if_it_asks() {
    let f = fixture();
    put_global(&f, "viewer", &["read"]).await;
    let mine = key_in(&f, "acme", "live", &[], Some("viewer")).await;
    key_in(&f, "acme", "test", &[], Some("viewer")).await;
    key_in(&f, "globex", "live", &[], Some("viewer")).await;
    let actor = actor_in(&f, "acme", "live", &["*"]).await;
    let page = PageRequest::first(100);
    let asks = [
        KeyFilter::all(),
        KeyFilter::tenant("globex"),
        KeyFilter::tenant("globex").env("live"),
        KeyFilter::tenant("acme").env("test"),
        KeyFilter::all().role("viewer"),
    ];
    for ask in asks {
        let listed = f
            .manager
            .list_matching(&actor, ask.clone(), &page)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            listed
                .items
                .iter()
                .all(|r| r.tenant == "acme" && r.env == "live"),
            "{ask:?} gave {:?}",
            listed
                .items
                .iter()
                .map(|r| (&r.tenant, &r.env))
                .collect::<Vec<_>>()
        );
    }
    let by_role = f
        .manager
        .list_matching(&actor, KeyFilter::all().role("viewer"), &page)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        by_role.items.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&mine.record.id]
    );
    let listed = f
        .manager
        .list(&actor, Some("globex"), None, true, &page)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.items.iter().all(|r| r.tenant == "acme"));

    // The system actor lists every tenant when it names none.
    let everything = f
        .manager
        .list(&Actor::system(), None, None, false, &page)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tenants: Vec<&str> = everything.items.iter().map(|r| r.tenant.as_str()).collect();
    tenants.dedup();
    assert!(tenants.contains(&"globex") && tenants.contains(&"acme"));
    assert_eq!(everything.items.len(), 4, "three keys and the actor's");
}

#[tokio::test]
async fn role_operations_are_audited_with_the_role_name() {
    let f = fixture();
    let admin = actor_in(&f, "acme", "live", &["read"]).await;
    f.manager
        .create_role(&admin, role("reader", &["read"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f
        .manager
        .put_role(&admin, role("writer", &["write"]))
        .await
        .is_err());
    assert!(f
        .manager
        .create_role(&admin, role("reader", &["read"]))
        .await
        .is_err());
    f.manager
        .delete_role(&admin, None, "reader", false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
    // (Events of one instant are ordered by id: compare them sorted.)
    let mut roles: Vec<(&str, &str, Option<&str>, Option<&str>)> = events
        .iter()
        .filter(|e| e.action.starts_with("role."))
        .map(|e| {
            (
                e.action.as_str(),
                e.outcome.as_str(),
                e.role.as_deref(),
                e.tenant.as_deref(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            ("role.create", "failure", Some("reader"), Some("acme")),
            ("role.create", "success", Some("reader"), Some("acme")),
            ("role.delete", "success", Some("reader"), Some("acme")),
            ("role.put", "failure", Some("writer"), Some("acme")),
        ]
    );
    assert!(events
        .iter()
        .filter(|e| e.action.starts_with("role."))
        .all(|e| e.actor.is_some()));
}

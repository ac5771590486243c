//! Property test of the management policy: whatever sequence of operations a key
//! attempts (and whatever keys it obtains along the way, acting through them too), it
//! never ends up holding a key or grant beyond its own, and never changes a key it
//! does not cover or cannot see.

use std::collections::HashMap;

use chrono::Duration;
use proptest::prelude::*;

use super::tests::fixture;
use super::*;
use crate::{Principal, VerifyRequest};

/// The scope universe the test draws from.
const SCOPES: &[&str] = &[
    "read:scans",
    "write:scans",
    "read:*",
    "read",
    "write:api-keys",
    "read:api-keys",
    "delete:api-keys",
    "admin:api-keys",
    "*",
];
const ENVS: &[&str] = &["live", "test"];
const TENANTS: &[&str] = &["acme", "globex"];

fn scope_set(mask: u16) -> ScopeSet {
    let chosen: Vec<&str> = SCOPES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect();
    ScopeSet::parse(chosen).expect("valid scopes")
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        actor: usize,
        scopes: u16,
        role: Option<usize>,
        env: Option<usize>,
        personal_for_other: bool,
        expires_days: Option<i64>,
    },
    Update {
        actor: usize,
        target: usize,
        scopes: Option<u16>,
        role: Option<Option<usize>>,
        expires_days: Option<Option<i64>>,
    },
    Rotate {
        actor: usize,
        target: usize,
    },
    Revoke {
        actor: usize,
        target: usize,
    },
    PutRole {
        actor: usize,
        role: usize,
        scopes: u16,
        /// Aimed at another tenant's namespace (else the actor's own).
        elsewhere: bool,
    },
    DeleteRole {
        actor: usize,
        role: usize,
        force: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0usize..16;
    prop_oneof![
        (
            idx.clone(),
            any::<u16>(),
            proptest::option::of(0usize..2),
            proptest::option::of(0usize..2),
            any::<bool>(),
            proptest::option::of(1i64..100),
        )
            .prop_map(
                |(actor, scopes, role, env, personal_for_other, expires_days)| {
                    Op::Create {
                        actor,
                        scopes,
                        role,
                        env,
                        personal_for_other,
                        expires_days,
                    }
                }
            ),
        (
            idx.clone(),
            idx.clone(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(proptest::option::of(0usize..2)),
            proptest::option::of(proptest::option::of(1i64..100)),
        )
            .prop_map(|(actor, target, scopes, role, expires_days)| Op::Update {
                actor,
                target,
                scopes,
                role,
                expires_days,
            }),
        (idx.clone(), idx.clone()).prop_map(|(actor, target)| Op::Rotate { actor, target }),
        (idx.clone(), idx.clone()).prop_map(|(actor, target)| Op::Revoke { actor, target }),
        (idx.clone(), 0usize..2, any::<u16>(), any::<bool>()).prop_map(
            |(actor, role, scopes, elsewhere)| Op::PutRole {
                actor,
                role,
                scopes,
                elsewhere,
            }
        ),
        (idx, 0usize..2, any::<bool>()).prop_map(|(actor, role, force)| Op::DeleteRole {
            actor,
            role,
            force
        }),
    ]
}

const ROLES: &[&str] = &["viewer", "boss"];

/// Runs one scenario; returns an error message when an invariant breaks.
async fn scenario(
    actor_scopes: u16,
    actor_env: usize,
    actor_expires: Option<i64>,
    others: Vec<(u16, usize, usize, Option<usize>)>,
    ops: Vec<Op>,
) -> Result<(), String> {
    let f = fixture();
    let sys = Actor::system();
    f.manager
        .put_role(
            &sys,
            Role::new("viewer", scope_set(0b1)).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
    f.manager
        .put_role(
            &sys,
            Role::new("boss", scope_set(1 << 8)).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;

    // The attacker's first key.
    let ceiling = scope_set(actor_scopes);
    let env = ENVS[actor_env];
    let mut first = NewKey::named("attacker")
        .tenant("acme")
        .env(env)
        .scopes(ceiling.clone());
    first.owner = Some("mallory".into());
    let lifetime = actor_expires.map(|d| f.clock.now() + Duration::days(d));
    first.expires_at = lifetime;
    let first = f
        .manager
        .create(&sys, first)
        .await
        .map_err(|e| e.to_string())?;

    // Everyone else's keys, made by the system.
    let mut all_ids = vec![first.record.id.clone()];
    for (mask, tenant, env, role) in others {
        let mut new = NewKey::named("other")
            .tenant(TENANTS[tenant])
            .env(ENVS[env])
            .scopes(scope_set(mask));
        new.role = role.map(|r| ROLES[r].to_owned());
        let made = f
            .manager
            .create(&sys, new)
            .await
            .map_err(|e| e.to_string())?;
        all_ids.push(made.record.id);
    }

    // Keys the attacker does not cover, or cannot see: they must never change, and
    // what they hold changes only by scopes the attacker holds (through a role of its
    // namespace), or not at all (outside its namespace).
    let mut protected: HashMap<KeyId, (KeyRecord, ScopeSet)> = HashMap::new();
    for id in &all_ids {
        let r = f.manager.get(&sys, id).await.map_err(|e| e.to_string())?;
        let eff = f
            .manager
            .effective_scopes(&r)
            .await
            .map_err(|e| e.to_string())?;
        if r.tenant != "acme" || r.env != env || !ceiling.covers(&eff) {
            protected.insert(id.clone(), (r, eff));
        }
    }

    let principal_of = |key: String| {
        let verifier = f.verifier.clone();
        async move {
            verifier
                .verify(VerifyRequest::key(&key))
                .await
                .map(|v| v.principal)
                .ok()
        }
    };
    let mut held: Vec<Principal> = vec![principal_of(first.key.expose().to_owned())
        .await
        .ok_or("the attacker's key does not verify")?];

    for op in ops {
        let pick = |i: usize| held[i % held.len()].clone();
        let target = |i: usize| all_ids[i % all_ids.len()].clone();
        let obtained = match op {
            Op::Create {
                actor,
                scopes,
                role,
                env: asked_env,
                personal_for_other,
                expires_days,
            } => {
                let mut new = NewKey::named("made").scopes(scope_set(scopes));
                new.role = role.map(|r| ROLES[r].to_owned());
                new.env = asked_env.map(|e| ENVS[e].to_owned());
                if personal_for_other {
                    new.kind = KeyKind::Personal;
                    new.owner = Some("victim".into());
                }
                new.expires_at = expires_days.map(|d| f.clock.now() + Duration::days(d));
                f.manager.create(&Actor::key(pick(actor)), new).await.ok()
            }
            Op::Update {
                actor,
                target: t,
                scopes,
                role,
                expires_days,
            } => {
                let update = KeyUpdate {
                    scopes: scopes.map(scope_set),
                    role: role.map(|r| r.map(|r| ROLES[r].to_owned())),
                    expires_at: expires_days.map(|e| e.map(|d| f.clock.now() + Duration::days(d))),
                    ..KeyUpdate::default()
                };
                let _ = f
                    .manager
                    .update(&Actor::key(pick(actor)), &target(t), update)
                    .await;
                None
            }
            Op::Rotate { actor, target: t } => f
                .manager
                .rotate(
                    &Actor::key(pick(actor)),
                    &target(t),
                    Some(Duration::hours(1)),
                )
                .await
                .ok(),
            Op::Revoke { actor, target: t } => {
                let _ = f.manager.revoke(&Actor::key(pick(actor)), &target(t)).await;
                None
            }
            Op::PutRole {
                actor,
                role,
                scopes,
                elsewhere,
            } => {
                let mut role =
                    Role::new(ROLES[role], scope_set(scopes)).map_err(|e| e.to_string())?;
                if elsewhere {
                    role = role
                        .in_namespace("globex", env)
                        .map_err(|e| e.to_string())?;
                }
                let result = f.manager.put_role(&Actor::key(pick(actor)), role).await;
                if let Ok((role, _)) = result {
                    if role.namespace().map(|ns| (ns.tenant(), ns.env())) != Some(("acme", env)) {
                        return Err(format!(
                            "a key defined a role outside its namespace: {role:?}"
                        ));
                    }
                }
                None
            }
            Op::DeleteRole { actor, role, force } => {
                let _ = f
                    .manager
                    .delete_role(&Actor::key(pick(actor)), None, ROLES[role], force)
                    .await;
                None
            }
        };
        if let Some(made) = obtained {
            all_ids.push(made.record.id.clone());
            if let Some(p) = principal_of(made.key.expose().to_owned()).await {
                held.push(p);
            }
        }
        // Every key the attacker holds stays within its first key's reach.
        for p in &held {
            let Ok(stored) = f.manager.get(&sys, p.key_id()).await else {
                return Err(format!("held key {} vanished", p.key_id()));
            };
            let eff = f
                .manager
                .effective_scopes(&stored)
                .await
                .map_err(|e| e.to_string())?;
            if !ceiling.covers(&eff) {
                return Err(format!(
                    "attacker holds {:?} beyond {:?}",
                    eff.to_strings(),
                    ceiling.to_strings()
                ));
            }
            if stored.tenant != "acme" || stored.env != env {
                return Err(format!(
                    "attacker holds a key of {}/{}",
                    stored.tenant, stored.env
                ));
            }
            if let Some(limit) = lifetime {
                if stored.expires_at.is_none_or(|at| at > limit) {
                    return Err("attacker holds a key that outlives its own".into());
                }
            }
        }
    }
    for (id, (before, held)) in &protected {
        let now = f.manager.get(&sys, id).await.map_err(|e| e.to_string())?;
        if now.version != before.version || now.revoked_at != before.revoked_at {
            return Err(format!(
                "protected key {id} was changed: {before:?} -> {now:?}"
            ));
        }
        let holds = f
            .manager
            .effective_scopes(&now)
            .await
            .map_err(|e| e.to_string())?;
        let in_reach = now.tenant == "acme" && now.env == env;
        let changed_by = |from: &ScopeSet, to: &ScopeSet| {
            to.iter()
                .filter(|s| !from.grants(s))
                .any(|s| !in_reach || !ceiling.grants(s))
        };
        if changed_by(held, &holds) || changed_by(&holds, held) {
            return Err(format!(
                "what protected key {id} ({}/{}) holds changed beyond the attacker's reach: {:?} -> {:?}",
                now.tenant,
                now.env,
                held.to_strings(),
                holds.to_strings()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_operations_escapes_the_actors_own_reach(
        actor_scopes in any::<u16>().prop_map(|m| m | (1 << 4) | (1 << 5) | (1 << 6)),
        actor_env in 0usize..2,
        actor_expires in proptest::option::of(1i64..50),
        others in proptest::collection::vec(
            (any::<u16>(), 0usize..2, 0usize..2, proptest::option::of(0usize..2)),
            1..6,
        ),
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outcome = runtime.block_on(scenario(actor_scopes, actor_env, actor_expires, others, ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.err().unwrap_or_default());
    }
}

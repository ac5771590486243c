//! The management policy: one function decides whether an actor may do an action to a
//! key. Every [`KeyManager`](super::KeyManager) operation asks it before touching the
//! store; nothing else in the manager (or in the admin API, or the CLI) decides who may
//! do what.
//!
//! For a non-system actor (a caller authenticated by its own key):
//! 1. **Boundary.** It sees and acts on keys of its own tenant and its own environment
//!    only; others are "not found" (404), so the API is no oracle for them.
//! 2. **Ceiling.** It acts only on keys whose effective scopes (own + role) it covers,
//!    and can never give a key (new, updated or rotated) a scope it does not hold.
//!    Revoking its own key is always allowed.
//! 3. **Environment.** New keys are of its environment; asking for another is refused.
//! 4. **Lifetime.** A key it makes, or whose expiry it sets, expires no later than the
//!    actor itself (when the actor expires).
//! 5. **Own restrictions.** Changing its own key, it may tighten but never loosen the
//!    expiry, IP and referrer allow-lists and the rate limit.
//! 6. **Owners.** Personal keys of another owner, and owner deactivation, need the
//!    `admin:api-keys` scope (held by `*`, `admin`, `admin:*`, `*:api-keys`) on top of
//!    the ceiling; a service or team key gets no exception for having no owner.
//! 7. **Credits** are set only with the `admin:credits` scope, never by a key on
//!    itself; a key it makes without credits spends its maker's balance (the manager
//!    gives it), so a metered key cannot mint unmetered ones.
//! 8. **Shared limits** of a tenant or an owner are read and set only in the key's own
//!    tenant and environment; setting them needs the `admin:limits` scope.
//! 9. **Listings** are of its own tenant and environment, whatever it asks for; only
//!    the system actor lists across tenants.
//! 10. **Roles.** It sees the global roles and those of its own tenant and environment
//!     (others are "not found"). The roles it defines, replaces or deletes are of its
//!     own tenant and environment: never global (refused), never another namespace
//!     ("not found", whether the role exists there or not). It must
//!     cover every scope of what its tenant's keys holding that role name hold before
//!     (the role it replaces, or the global role a new role shadows) and after (the new
//!     role; for a delete, the global role the deleted one shadowed), so a role change
//!     adds to or takes from any key only scopes the actor holds itself. No further
//!     scope is needed here (the admin API asks for its route scopes, e.g.
//!     `write:roles`).
//!
//! The system actor may do anything: its roles are global unless they name a
//! namespace, and it lists keys of every tenant when it names none.

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use super::actor::Actor;
use super::error::ManageError;
use crate::rate_limit::RateLimitSpec;
use crate::record::{KeyKind, KeyRecord};
use crate::role::{Role, RoleNamespace};
use crate::scope::Scope;
use crate::scope_set::ScopeSet;
use crate::store::KeyFilter;

/// A key as the policy sees it: the record and its effective scopes (own + role).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) record: &'a KeyRecord,
    pub(crate) scopes: &'a ScopeSet,
}

/// What an actor wants to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    /// Read one key (get, or an item of a listing).
    See(&'a KeyRecord),
    /// Create this key.
    Create(Subject<'a>),
    /// Change `before` into `after`.
    Update {
        before: Subject<'a>,
        after: Subject<'a>,
    },
    /// Issue a successor of this key (copying every setting) and receive its plaintext.
    Rotate(Subject<'a>),
    /// Revoke this key.
    Revoke(Subject<'a>),
    /// Deactivate (or reactivate) an owner of a tenant.
    ManageOwner { tenant: &'a str },
    /// Read the limits shared by a tenant's (or one owner's) keys in an environment.
    SeeSharedLimits { tenant: &'a str, env: &'a str },
    /// Set them.
    SetSharedLimits { tenant: &'a str, env: &'a str },
    /// Read a role (get, or an item of a listing).
    SeeRole(&'a Role),
    /// Define or replace the role of `namespace` (`None`: global): keys of that
    /// namespace holding its name held `before` (the role replaced, or the global role
    /// it shadows) and will hold `after`.
    PutRole {
        namespace: Option<&'a RoleNamespace>,
        before: Option<&'a ScopeSet>,
        after: &'a ScopeSet,
    },
    /// Delete the role of `namespace` (`None`: global) holding `role`; keys holding its
    /// name then hold `fallback` (the global role of that name, if any).
    DeleteRole {
        namespace: Option<&'a RoleNamespace>,
        role: &'a ScopeSet,
        fallback: Option<&'a ScopeSet>,
    },
}

/// The scope that allows acting for other owners and deactivating owners.
pub const OWNER_ADMIN_SCOPE: &str = "admin:api-keys";

/// The scope that allows setting keys' credits (held by `*`, `admin`, `admin:*`,
/// `*:credits`): credits are what a customer pays for, so a key without it can neither
/// give nor change them, and the keys it makes spend its own balance.
pub const CREDITS_ADMIN_SCOPE: &str = "admin:credits";

/// The scope that allows setting the limits a tenant's or an owner's keys share (held
/// by `*`, `admin`, `admin:*`, `*:limits`): what a customer's keys may spend together.
pub const LIMITS_ADMIN_SCOPE: &str = "admin:limits";

/// Whether `principal` may set credits (holds [`CREDITS_ADMIN_SCOPE`]).
pub(crate) fn holds_credits_admin(principal: &crate::Principal) -> bool {
    Scope::parse(CREDITS_ADMIN_SCOPE).is_ok_and(|s| principal.scopes().grants(&s))
}

/// What `actor` may list when it asks for `filter`: a key actor lists only keys of its
/// own tenant and environment (a tenant or environment it names is replaced by its
/// own); the system actor's filter stands (`tenant == None`: every tenant). Each item
/// listed is still checked with [`Action::See`].
pub(crate) fn listing_filter(actor: &Actor, mut filter: KeyFilter) -> KeyFilter {
    if let Some(p) = actor.principal() {
        filter.tenant = Some(p.tenant().to_owned());
        filter.env = Some(p.env().to_owned());
    }
    filter
}

/// Which verification counts `actor` may read when it asks for `filter`: a key actor
/// reads only its own tenant's and environment's (those of unknown keys are no key's);
/// the system actor's filter stands.
pub(crate) fn analytics_filter(
    actor: &Actor,
    mut filter: crate::analytics::VerificationFilter,
) -> crate::analytics::VerificationFilter {
    if let Some(p) = actor.principal() {
        filter.tenant = Some(p.tenant().to_owned());
        filter.env = Some(p.env().to_owned());
    }
    filter
}

/// Whether `actor` may do `action`. The only place management permissions are decided.
pub(crate) fn authorize(actor: &Actor, action: Action<'_>) -> Result<(), ManageError> {
    let Some(p) = actor.principal() else {
        return Ok(()); // the system actor
    };
    let visible = |r: &KeyRecord| -> bool {
        r.tenant == p.tenant() && (r.env == p.env() || r.env.is_empty())
    };
    let covers = |s: &Subject<'_>| p.scopes().covers(s.scopes);
    let owner_admin = || Scope::parse(OWNER_ADMIN_SCOPE).is_ok_and(|s| p.scopes().grants(&s));
    let own_namespace = |ns: &RoleNamespace| ns.tenant() == p.tenant() && ns.env() == p.env();
    match action {
        Action::See(record) => visible(record).then_some(()).ok_or(ManageError::NotFound),
        Action::Create(new) => {
            if new.record.tenant != p.tenant() {
                return Err(forbidden("a key can only create keys in its own tenant"));
            }
            if new.record.env != p.env() {
                return Err(forbidden(format!(
                    "a {} key can only create {} keys",
                    p.env(),
                    p.env()
                )));
            }
            if !covers(&new) {
                return Err(forbidden(
                    "a key cannot be given scopes its creator does not hold",
                ));
            }
            check_lifetime(p.expires_at(), new.record.expires_at)?;
            // Credits of the new key's own account were asked for; another account's
            // are its maker's, inherited.
            if new
                .record
                .credits
                .as_ref()
                .is_some_and(|c| c.account == new.record.id)
                && !holds_credits_admin(p)
            {
                return Err(forbidden(format!(
                    "setting credits needs the {CREDITS_ADMIN_SCOPE} scope"
                )));
            }
            check_owner(p.owner(), new.record, owner_admin)
        }
        Action::Update { before, after } => {
            if !visible(before.record) {
                return Err(ManageError::NotFound);
            }
            if !covers(&before) {
                return Err(forbidden(
                    "a key can only change keys whose scopes it holds itself",
                ));
            }
            if !covers(&after) {
                return Err(forbidden(
                    "a key cannot be given scopes its creator does not hold",
                ));
            }
            if after.record.expires_at != before.record.expires_at {
                check_lifetime(p.expires_at(), after.record.expires_at)?;
            }
            if before.record.id == *p.key_id() {
                check_not_loosened(before.record, after.record)?;
            }
            if before.record.credits != after.record.credits {
                if before.record.id == *p.key_id() {
                    return Err(forbidden("a key may not change its own credits"));
                }
                if !holds_credits_admin(p) {
                    return Err(forbidden(format!(
                        "changing credits needs the {CREDITS_ADMIN_SCOPE} scope"
                    )));
                }
            }
            Ok(())
        }
        Action::Rotate(target) => {
            if !visible(target.record) {
                return Err(ManageError::NotFound);
            }
            if !covers(&target) {
                return Err(forbidden(
                    "a key can only rotate keys whose scopes it holds itself",
                ));
            }
            check_lifetime(p.expires_at(), target.record.expires_at)
        }
        Action::Revoke(target) => {
            if !visible(target.record) {
                return Err(ManageError::NotFound);
            }
            if target.record.id == *p.key_id() || covers(&target) {
                Ok(())
            } else {
                Err(forbidden(
                    "a key can only revoke keys whose scopes it holds itself",
                ))
            }
        }
        Action::SeeSharedLimits { tenant, env } => {
            if tenant == p.tenant() && env == p.env() {
                Ok(())
            } else {
                Err(ManageError::NotFound)
            }
        }
        Action::SetSharedLimits { tenant, env } => {
            if tenant != p.tenant() || env != p.env() {
                return Err(ManageError::NotFound);
            }
            if Scope::parse(LIMITS_ADMIN_SCOPE).is_ok_and(|s| p.scopes().grants(&s)) {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "setting shared limits needs the {LIMITS_ADMIN_SCOPE} scope"
                )))
            }
        }
        Action::ManageOwner { tenant } => {
            if tenant != p.tenant() {
                return Err(ManageError::NotFound);
            }
            if owner_admin() {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "deactivating an owner needs the {OWNER_ADMIN_SCOPE} scope"
                )))
            }
        }
        Action::SeeRole(role) => match role.namespace() {
            None => Ok(()),
            Some(ns) if own_namespace(ns) => Ok(()),
            Some(_) => Err(ManageError::NotFound),
        },
        Action::PutRole {
            namespace,
            before,
            after,
        } => {
            check_role_namespace(namespace, own_namespace)?;
            if before.is_some_and(|b| !p.scopes().covers(b)) {
                return Err(forbidden(
                    "a key can only replace (or shadow) roles whose scopes it holds itself",
                ));
            }
            if !p.scopes().covers(after) {
                return Err(forbidden(
                    "a key cannot define a role with scopes it does not hold",
                ));
            }
            Ok(())
        }
        Action::DeleteRole {
            namespace,
            role,
            fallback,
        } => {
            check_role_namespace(namespace, own_namespace)?;
            if !p.scopes().covers(role) {
                return Err(forbidden(
                    "a key can only delete roles whose scopes it holds itself",
                ));
            }
            if fallback.is_some_and(|f| !p.scopes().covers(f)) {
                return Err(forbidden(
                    "deleting this role gives its keys the global role of that name, whose scopes the key does not hold",
                ));
            }
            Ok(())
        }
    }
}

/// A key's roles are of its own tenant and environment: a global role is the system
/// actor's; another namespace is "not found", whether or not the role exists there.
fn check_role_namespace(
    namespace: Option<&RoleNamespace>,
    own: impl Fn(&RoleNamespace) -> bool,
) -> Result<(), ManageError> {
    match namespace {
        None => Err(forbidden(
            "global roles are defined by the system actor (the CLI): a key defines roles of its own tenant and environment",
        )),
        Some(ns) if own(ns) => Ok(()),
        Some(_) => Err(ManageError::NotFound),
    }
}

fn forbidden(msg: impl Into<String>) -> ManageError {
    ManageError::Forbidden(msg.into())
}

/// A key made or changed by an expiring actor must not outlive it.
fn check_lifetime(
    actor_expires: Option<DateTime<Utc>>,
    key_expires: Option<DateTime<Utc>>,
) -> Result<(), ManageError> {
    match (actor_expires, key_expires) {
        (Some(limit), None) => Err(forbidden(format!(
            "a key that expires cannot make a key that never expires (set expiresAt no later than {})",
            limit.to_rfc3339()
        ))),
        (Some(limit), Some(at)) if at > limit => Err(forbidden(format!(
            "a key cannot outlive the key that makes it (expiresAt must be no later than {})",
            limit.to_rfc3339()
        ))),
        _ => Ok(()),
    }
}

/// Personal keys belong to their owner: only the owner itself, or an owner admin.
fn check_owner(
    actor_owner: Option<&str>,
    new: &KeyRecord,
    owner_admin: impl Fn() -> bool,
) -> Result<(), ManageError> {
    if new.kind != KeyKind::Personal {
        return Ok(());
    }
    match (actor_owner, new.owner.as_deref()) {
        (Some(own), Some(owner)) if own == owner => Ok(()),
        _ if owner_admin() => Ok(()),
        _ => Err(forbidden(format!(
            "only the owner, or a key with {OWNER_ADMIN_SCOPE}, may create personal keys for an owner"
        ))),
    }
}

/// A key changing itself may tighten, never loosen, its restrictions.
fn check_not_loosened(before: &KeyRecord, after: &KeyRecord) -> Result<(), ManageError> {
    let loosened = |what: &str| {
        Err(forbidden(format!(
            "a key may tighten but not loosen its own {what}"
        )))
    };
    match (before.expires_at, after.expires_at) {
        (Some(_), None) => return loosened("expiry"),
        (Some(b), Some(a)) if a > b => return loosened("expiry"),
        _ => {}
    }
    if !ips_within(&before.allowed_ips, &after.allowed_ips) {
        return loosened("IP allow-list");
    }
    if !before.allowed_referrers.is_empty()
        && (after.allowed_referrers.is_empty()
            || !after
                .allowed_referrers
                .iter()
                .all(|r| before.allowed_referrers.contains(r)))
    {
        return loosened("referrer allow-list");
    }
    if !rate_within(before.rate_limit.as_ref(), after.rate_limit.as_ref()) {
        return loosened("rate limit");
    }
    // Every named limit stays, no looser (new ones may be added).
    for (name, spec) in before.limits.iter() {
        if !rate_within(Some(spec), after.limits.get(name.as_str())) {
            return loosened(&format!("limit {name}"));
        }
    }
    Ok(())
}

/// Whether every network of `after` lies within one of `before` (an empty list allows
/// every address).
fn ips_within(before: &[IpNet], after: &[IpNet]) -> bool {
    before.is_empty()
        || (!after.is_empty() && after.iter().all(|a| before.iter().any(|b| b.contains(a))))
}

/// Whether `after` allows no more than `before` (no limit, or one in shadow mode,
/// allows everything).
fn rate_within(before: Option<&RateLimitSpec>, after: Option<&RateLimitSpec>) -> bool {
    let (before, after) = (before.filter(|s| !s.shadow), after.filter(|s| !s.shadow));
    let (Some(b), Some(a)) = (before, after) else {
        return before.is_none();
    };
    // Compare rates without division: a.requests / a.per <= b.requests / b.per.
    let rate_ok = u128::from(a.requests) * u128::from(b.per_seconds)
        <= u128::from(b.requests) * u128::from(a.per_seconds);
    let burst = |s: &RateLimitSpec| s.burst.unwrap_or(s.requests);
    let quota_ok = match (b.daily_quota, a.daily_quota) {
        (Some(bq), Some(aq)) => aq <= bq,
        (Some(_), None) => false,
        (None, _) => true,
    };
    rate_ok && burst(a) <= burst(b) && quota_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(requests: u32, per: u32, burst: Option<u32>, quota: Option<u32>) -> RateLimitSpec {
        RateLimitSpec {
            requests,
            per_seconds: per,
            burst,
            daily_quota: quota,
            shadow: false,
        }
    }

    #[test]
    fn rate_limits_compare_by_rate_burst_and_quota() {
        let base = spec(100, 60, None, Some(1000));
        assert!(rate_within(
            Some(&base),
            Some(&spec(50, 60, None, Some(10)))
        ));
        assert!(rate_within(
            Some(&base),
            Some(&spec(1, 1, Some(1), Some(1)))
        ));
        assert!(
            !rate_within(Some(&base), Some(&spec(2, 1, None, Some(1)))),
            "faster"
        );
        assert!(
            !rate_within(Some(&base), Some(&spec(100, 60, None, None))),
            "quota dropped"
        );
        assert!(!rate_within(Some(&base), None), "limit removed");
        assert!(rate_within(None, None));
        assert!(rate_within(None, Some(&base)));
    }

    #[test]
    fn ip_lists_compare_by_containment() {
        let nets = |v: &[&str]| -> Vec<IpNet> { v.iter().filter_map(|s| s.parse().ok()).collect() };
        assert!(ips_within(&[], &nets(&["0.0.0.0/0"])));
        assert!(ips_within(&nets(&["10.0.0.0/8"]), &nets(&["10.1.0.0/16"])));
        assert!(!ips_within(&nets(&["10.0.0.0/8"]), &nets(&["11.0.0.0/8"])));
        assert!(
            !ips_within(&nets(&["10.0.0.0/8"]), &[]),
            "emptied = any address"
        );
    }
}

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::rate_limit::RateLimitSpec;
use crate::record::KeyKind;
use crate::scope_set::ScopeSet;

use super::error::ManageError;

/// What to create. Only `name` is required; see the field docs for defaults.
///
/// ```
/// use keygate::{KeyKind, NewKey, ScopeSet};
/// let new = NewKey::named("CI pipeline")
///     .scopes(ScopeSet::parse(["read:scans"]).unwrap())
///     .kind(KeyKind::Team)
///     .tenant("acme");
/// assert_eq!(new.name, "CI pipeline");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NewKey {
    /// Human name (1 to 200 characters).
    pub name: String,
    /// What the key is for.
    pub description: Option<String>,
    /// Key prefix (default: the manager's).
    pub prefix: Option<String>,
    /// Environment (default: the manager's).
    pub env: Option<String>,
    /// Personal, team or service (default: service).
    pub kind: KeyKind,
    /// Owner; a personal key's owner defaults to the acting key's owner.
    pub owner: Option<String>,
    /// Tenant: only the system actor may set it; an API caller's keys get its tenant.
    pub tenant: Option<String>,
    /// A role from the store.
    pub role: Option<String>,
    /// The key's own scopes.
    pub scopes: ScopeSet,
    /// Expiry (must be in the future).
    pub expires_at: Option<DateTime<Utc>>,
    /// Allowed client IPs/CIDRs.
    pub allowed_ips: Vec<IpNet>,
    /// Allowed referrers.
    pub allowed_referrers: Vec<String>,
    /// Rate limit override.
    pub rate_limit: Option<RateLimitSpec>,
    /// Free-form JSON (at most 16 KB serialized).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl NewKey {
    /// A key with this name and every default.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: ScopeSet) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the role.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the owner.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the tenant (system actor only).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the environment.
    #[must_use]
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Longest name accepted.
pub(crate) const MAX_NAME: usize = 200;
/// Longest description accepted.
pub(crate) const MAX_DESCRIPTION: usize = 2000;
/// Largest metadata accepted, serialized.
pub(crate) const MAX_METADATA: usize = 16 * 1024;
/// Most IP rules or referrers per key.
pub(crate) const MAX_RULES: usize = 100;

pub(crate) fn check_name(name: &str) -> Result<(), ManageError> {
    let len = name.chars().count();
    if name.trim().is_empty() || len > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ManageError::invalid(
            "name must be 1 to 200 printable characters",
        ));
    }
    Ok(())
}

pub(crate) fn check_description(description: Option<&str>) -> Result<(), ManageError> {
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ManageError::invalid(
            "description is at most 2000 characters",
        ));
    }
    Ok(())
}

pub(crate) fn check_expiry(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ManageError> {
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ManageError::invalid("expiresAt must be in the future"));
    }
    Ok(())
}

pub(crate) fn check_metadata(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ManageError> {
    let size = serde_json::to_vec(metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA {
        return Err(ManageError::invalid("metadata is at most 16 KB of JSON"));
    }
    Ok(())
}

pub(crate) fn check_restrictions(ips: &[IpNet], referrers: &[String]) -> Result<(), ManageError> {
    if ips.len() > MAX_RULES || referrers.len() > MAX_RULES {
        return Err(ManageError::invalid(
            "at most 100 allowed IPs and 100 allowed referrers",
        ));
    }
    if referrers.iter().any(|r| {
        r.is_empty() || r.len() > 255 || r.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(ManageError::invalid(
            "each allowed referrer is 1 to 255 characters without spaces",
        ));
    }
    Ok(())
}

/// An IP or CIDR (`10.0.0.0/8`, `203.0.113.7`) as a network.
///
/// ```
/// assert_eq!(keygate::parse_ip_rule("203.0.113.7").map(|n| n.to_string()).as_deref(), Ok("203.0.113.7/32"));
/// assert!(keygate::parse_ip_rule("10.0.0.0/33").is_err());
/// ```
pub fn parse_ip_rule(rule: &str) -> Result<IpNet, String> {
    rule.parse::<IpNet>()
        .or_else(|_| rule.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{rule:?} is not an IP address or CIDR"))
}

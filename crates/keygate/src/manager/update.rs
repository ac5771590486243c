use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::rate_limit::{NamedLimits, RateLimitSpec};
use crate::scope_set::ScopeSet;

/// A partial update: `None` leaves a field as it is; for nullable fields,
/// `Some(None)` clears it.
///
/// ```
/// use keygate::{KeyUpdate, ScopeSet};
/// let update = KeyUpdate {
///     scopes: Some(ScopeSet::parse(["read"]).unwrap()),
///     expires_at: Some(None), // never expires
///     ..KeyUpdate::default()
/// };
/// assert!(update.name.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description, or cleared.
    pub description: Option<Option<String>>,
    /// New role, or cleared.
    pub role: Option<Option<String>>,
    /// New scopes.
    pub scopes: Option<ScopeSet>,
    /// New expiry, or never.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New allowed IPs.
    pub allowed_ips: Option<Vec<IpNet>>,
    /// New allowed referrers.
    pub allowed_referrers: Option<Vec<String>>,
    /// New rate limit, or the environment default.
    pub rate_limit: Option<Option<RateLimitSpec>>,
    /// New named limits (replace every named limit; empty: none).
    pub limits: Option<NamedLimits>,
    /// New credits (a new balance, spends of the old one forgotten), or none
    /// (unmetered). Needs the `admin:credits` scope, and never on the actor's own key.
    pub credits: Option<Option<crate::credits::CreditGrant>>,
    /// New metadata (replaces the whole object).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl KeyUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.role.is_none()
            && self.scopes.is_none()
            && self.expires_at.is_none()
            && self.allowed_ips.is_none()
            && self.allowed_referrers.is_none()
            && self.rate_limit.is_none()
            && self.limits.is_none()
            && self.credits.is_none()
            && self.metadata.is_none()
    }
}

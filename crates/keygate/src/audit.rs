//! Audit events: every change and every failed verification.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::base62;
use crate::id::KeyId;

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    /// The outcome [`as_str`](Self::as_str) spells `text`, if any.
    ///
    /// ```
    /// use keygate::audit::Outcome;
    /// assert_eq!(Outcome::parse("failure"), Some(Outcome::Failure));
    /// assert_eq!(Outcome::parse("maybe"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One audit event: who did what to which key, when, from where, and how it went.
///
/// ```
/// use keygate::audit::{AuditEvent, Outcome};
/// let event = AuditEvent::new("key.verify", Outcome::Failure).with_reason("revoked");
/// assert!(event.id.starts_with("evt_"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditEvent {
    /// `evt_` + 20 base62.
    pub id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The tenant it concerns, when known.
    pub tenant: Option<String>,
    /// The key that acted (the caller), when known.
    pub actor: Option<KeyId>,
    /// What happened, e.g. `key.create`, `key.revoke`, `key.verify`.
    pub action: String,
    /// The key acted upon.
    pub target: Option<KeyId>,
    /// The role acted upon (`role.*` events), by name; the event's tenant is the role's
    /// (none for a global role changed by the system actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<IpAddr>,
    /// Success or failure.
    pub outcome: Outcome,
    /// Why (for failures), e.g. `revoked`, `insufficient_scope`.
    pub reason: Option<String>,
    /// How many occurrences this event stands for: failed verifications are aggregated
    /// (one event per client, reason and window), everything else is 1.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl AuditEvent {
    /// A new event at the system time; set the rest with the `with_*` methods.
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            id: format!("evt_{}", base62::random(20).unwrap_or_default()),
            at: Utc::now(),
            tenant: None,
            actor: None,
            action: action.into(),
            target: None,
            role: None,
            client_ip: None,
            outcome,
            reason: None,
            count: 1,
        }
    }

    /// Sets the time.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// Sets the tenant.
    #[must_use]
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the acting key.
    #[must_use]
    pub fn with_actor(mut self, actor: KeyId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets the target key.
    #[must_use]
    pub fn with_target(mut self, target: KeyId) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the role acted upon.
    #[must_use]
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the client IP.
    #[must_use]
    pub fn with_client_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// Sets the reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets how many occurrences the event stands for.
    #[must_use]
    pub fn with_count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}

/// Which audit events to list. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only events whose actor or target is this key.
    pub key: Option<KeyId>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only successes, or only refusals.
    pub outcome: Option<Outcome>,
}

impl AuditFilter {
    /// Whether `event` passes the filter (for stores that filter in memory).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|t| event.tenant.as_ref() == Some(t))
            && self
                .key
                .as_ref()
                .is_none_or(|k| event.actor.as_ref() == Some(k) || event.target.as_ref() == Some(k))
            && self.action.as_ref().is_none_or(|a| &event.action == a)
            && self.since.is_none_or(|s| event.at >= s)
            && self.until.is_none_or(|u| event.at < u)
            && self.outcome.is_none_or(|o| event.outcome == o)
    }
}

use chrono::{DateTime, Utc};
use keygate::audit::AuditEvent;
use keygate::rate_limit::RateLimitStatus;
use keygate::role::Role;
use keygate::{KeyRecord, Principal, RateLimitSpec};
use serde::Serialize;
use utoipa::ToSchema;

/// A rate limit as shown: requests per hour (`1000`) when that says it all, else the
/// spec string (`"50/s,burst=100"`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(untagged)]
pub enum RateLimitView {
    /// Requests per hour.
    PerHour(u32),
    /// `N/unit[,burst=N][,quota=N]`.
    Spec(String),
}

impl From<&RateLimitSpec> for RateLimitView {
    fn from(spec: &RateLimitSpec) -> Self {
        if spec.per_seconds == 3600
            && spec.burst.is_none()
            && spec.daily_quota.is_none()
            && !spec.shadow
        {
            Self::PerHour(spec.requests)
        } else {
            Self::Spec(spec.to_string())
        }
    }
}

/// A key as listed: never the key or its hash; a display hint instead.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Public id (`key_…`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Display hint, e.g. `sk_live_…x9Qz`.
    pub hint: String,
    /// Environment.
    pub env: String,
    /// `personal`, `team` or `service`.
    pub kind: String,
    /// Tenant.
    pub tenant: String,
    /// Owner.
    pub owner: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// The key's own scopes.
    pub scopes: Vec<String>,
    /// Rate limit override (null: the environment default).
    pub rate_limit: Option<RateLimitView>,
    /// Named limits, by name, as spec text (`{"burst": "10/s"}`).
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, String>,
    /// Credits (null: unmetered).
    pub credits: Option<CreditsView>,
    /// `active`, `rotation_grace`, `rotated`, `expired`, `revoked`,
    /// `owner_deactivated` or `disabled`.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires (null: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Disabled (null: enabled).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Last successful use (recorded in batches, may lag a few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
    /// The replacement key, when rotated.
    pub replaced_by: Option<String>,
    /// When a rotated key stops working.
    pub grace_until: Option<DateTime<Utc>>,
    /// Allowed client IPs/CIDRs.
    pub allowed_ips: Vec<String>,
    /// Allowed referrers.
    pub allowed_referrers: Vec<String>,
    /// Metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The key that created this one.
    pub created_by: Option<String>,
}

/// What a key was granted and what it used.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeUsageView {
    /// The key.
    pub key_id: String,
    /// The window's start.
    pub since: DateTime<Utc>,
    /// Its effective scopes (own and role's).
    pub granted: Vec<String>,
    /// The scopes routes' requirements found it exercising in the window.
    pub used: Vec<ScopeUseView>,
    /// Granted scopes it did not exercise as such (what narrowing drops).
    pub unused: Vec<String>,
}

/// One scope a key exercised.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeUseView {
    /// The scope, as the route required it.
    pub scope: String,
    /// First seen.
    pub first_used: DateTime<Utc>,
    /// Last seen.
    pub last_used: DateTime<Utc>,
}

impl From<&keygate::manager::ScopeUsage> for ScopeUsageView {
    fn from(u: &keygate::manager::ScopeUsage) -> Self {
        Self {
            key_id: u.key.id.to_string(),
            since: u.since,
            granted: u.granted.clone(),
            used: u
                .used
                .iter()
                .map(|s| ScopeUseView {
                    scope: s.scope.clone(),
                    first_used: s.first_used,
                    last_used: s.last_used,
                })
                .collect(),
            unused: u.unused.clone(),
        }
    }
}

/// Limits shared by every key of a tenant (or of one owner) in an environment.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedLimitsView {
    /// The tenant.
    pub tenant: String,
    /// The environment.
    pub env: String,
    /// The owner (null: every key of the tenant).
    pub owner: Option<String>,
    /// Limit name -> spec text.
    pub limits: std::collections::BTreeMap<String, String>,
}

impl SharedLimitsView {
    /// The view of `limits` of `principal`'s tenant and environment.
    pub fn new(
        principal: &Principal,
        owner: Option<String>,
        limits: &keygate::rate_limit::NamedLimits,
    ) -> Self {
        Self {
            tenant: principal.tenant().to_owned(),
            env: principal.env().to_owned(),
            owner,
            limits: limits
                .iter()
                .map(|(name, spec)| (name.to_string(), spec.to_string()))
                .collect(),
        }
    }
}

/// A key's credits as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct CreditsView {
    /// Uses left, as last written by the services (they write what they spent every
    /// few seconds, so it may lag that much).
    pub remaining: u64,
    /// `daily:AMOUNT`, `monthly:AMOUNT` or `monthly:AMOUNT@DAY` (null: no refill).
    pub refill: Option<String>,
    /// The next refill (null: no refill).
    pub refills_at: Option<DateTime<Utc>>,
    /// The key whose balance this is: this key's own id, or the key it spends with (a
    /// key it was rotated from, or the metered key that made it).
    pub account: String,
}

impl CreditsView {
    /// The view of `credits` at `now`.
    pub fn new(credits: &keygate::credits::Credits, now: DateTime<Utc>) -> Self {
        let (remaining, period) = credits.balance_at(now);
        Self {
            remaining,
            refill: credits.refill.map(|r| r.to_string()),
            refills_at: credits.refills_at(period),
            account: credits.account.to_string(),
        }
    }
}

impl KeyView {
    /// The view of `record` at `now`.
    pub fn new(record: &KeyRecord, now: DateTime<Utc>) -> Self {
        let status = serde_json::to_value(record.status_at(now))
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            description: record.description.clone(),
            hint: record.hint.clone(),
            env: record.env.clone(),
            kind: record.kind.as_str().to_owned(),
            tenant: record.tenant.clone(),
            owner: record.owner.clone(),
            role: record.role.clone(),
            scopes: record.scopes.to_strings(),
            rate_limit: record.rate_limit.as_ref().map(RateLimitView::from),
            limits: record
                .limits
                .iter()
                .map(|(name, spec)| (name.to_string(), spec.to_string()))
                .collect(),
            credits: record.credits.as_ref().map(|c| CreditsView::new(c, now)),
            status,
            created_at: record.created_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            disabled_at: record.disabled_at,
            last_used_at: record.last_used_at,
            replaced_by: record.rotation.as_ref().map(|r| r.replaced_by.to_string()),
            grace_until: record.rotation.as_ref().map(|r| r.grace_until),
            allowed_ips: record.allowed_ips.iter().map(ToString::to_string).collect(),
            allowed_referrers: record.allowed_referrers.clone(),
            metadata: record.metadata.clone(),
            created_by: record.created_by.as_ref().map(ToString::to_string),
        }
    }
}

/// A key just created or rotated: the key (shown once) and its view.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct CreatedKeyView {
    /// The key. Store it now: it cannot be shown again.
    pub key: String,
    /// Everything else.
    #[serde(flatten)]
    pub view: KeyView,
}

/// A page of keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// The keys, oldest first.
    pub data: Vec<KeyView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The user behind a key, as in `/v1/auth/me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The owner, or the key id for keys without one.
    pub id: String,
    /// The `email` of the key's metadata, if set.
    pub email: Option<String>,
    /// The key's role.
    pub role: Option<String>,
    /// Effective scopes (own + role's).
    pub scopes: Vec<String>,
}

/// `GET /v1/auth/me`
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    /// Who.
    pub user: UserView,
    /// The calling key.
    pub key: KeyView,
}

impl UserView {
    /// The user of `principal`.
    pub fn new(principal: &Principal) -> Self {
        Self {
            id: principal
                .owner()
                .map_or_else(|| principal.key_id().to_string(), str::to_owned),
            email: principal
                .metadata()
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            role: principal.role().map(str::to_owned),
            scopes: principal.scopes().to_strings(),
        }
    }
}

/// Rate-limit state, as in the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RateLimitStateView {
    /// Requests per window.
    pub limit: u32,
    /// Left in this window.
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: i64,
}

impl From<&RateLimitStatus> for RateLimitStateView {
    fn from(s: &RateLimitStatus) -> Self {
        Self {
            limit: s.limit,
            remaining: s.remaining,
            reset: s.reset,
        }
    }
}

/// `GET /v1/auth/verify`
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// Always true: an invalid key gets 401 before this.
    pub valid: bool,
    /// The key's id.
    pub key_id: String,
    /// Tenant.
    pub tenant: String,
    /// Environment.
    pub env: String,
    /// Effective scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rate-limit state after this request, when limits are on.
    pub rate_limit: Option<RateLimitStateView>,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// `evt_…`
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Tenant.
    pub tenant: Option<String>,
    /// The acting key.
    pub actor: Option<String>,
    /// e.g. `key.create`, `key.revoke`, `key.verify`.
    pub action: String,
    /// The key acted upon.
    pub target: Option<String>,
    /// The role acted upon (`role.*` actions).
    pub role: Option<String>,
    /// Client IP.
    pub client_ip: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Why.
    pub reason: Option<String>,
    /// How many occurrences the event stands for: refused verifications and
    /// shadow-limit events are aggregated (one event per client, reason or limit and
    /// window); every other event is 1.
    pub count: u32,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.clone(),
            at: e.at,
            tenant: e.tenant.clone(),
            actor: e.actor.as_ref().map(ToString::to_string),
            action: e.action.clone(),
            target: e.target.as_ref().map(ToString::to_string),
            role: e.role.clone(),
            client_ip: e.client_ip.map(|ip| ip.to_string()),
            outcome: e.outcome.as_str().to_owned(),
            reason: e.reason.clone(),
            count: e.count,
        }
    }
}

/// A page of audit events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct AuditList {
    /// Events, oldest first.
    pub data: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A role: a named set of scopes, global (defined by the operator) or of one tenant and
/// environment (defined through the API by that tenant's keys).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    /// Name.
    pub name: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The tenant it belongs to; null for a global role.
    pub tenant: Option<String>,
    /// The environment it belongs to; null for a global role.
    pub env: Option<String>,
}

impl From<&Role> for RoleView {
    fn from(role: &Role) -> Self {
        Self {
            name: role.name().to_owned(),
            scopes: role.scopes.to_strings(),
            description: role.description.clone(),
            tenant: role.tenant().map(str::to_owned),
            env: role.env().map(str::to_owned),
        }
    }
}

/// The roles the caller may see: the global ones and its own tenant's and environment's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
pub struct RoleList {
    /// Roles, by name.
    pub data: Vec<RoleView>,
}

/// Verifications of one key (or of unknown keys) that ended one way in one time bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct VerificationCountView {
    /// The key (null: unknown keys, seen only by the operator).
    pub key_id: Option<String>,
    /// The key's tenant.
    pub tenant: Option<String>,
    /// The key's environment.
    pub env: Option<String>,
    /// The bucket's start.
    pub at: DateTime<Utc>,
    /// `valid`, `unknown`, `revoked`, `expired`, `disabled`, `forbidden`,
    /// `rate_limited`, `usage_exceeded`, or beside `valid`, `shadow_limited` and
    /// `shadow_forbidden`.
    pub outcome: String,
    /// How many.
    pub count: u64,
}

impl From<&keygate::analytics::VerificationCount> for VerificationCountView {
    fn from(c: &keygate::analytics::VerificationCount) -> Self {
        Self {
            key_id: c.key_id.as_ref().map(ToString::to_string),
            tenant: c.tenant.clone(),
            env: c.env.clone(),
            at: c.at,
            outcome: c.outcome.as_str().to_owned(),
            count: c.count,
        }
    }
}

/// Verification counts over a time range, in buckets of one granularity.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "dashboard", derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct VerificationAnalytics {
    /// `minute`, `hour` or `day`.
    pub granularity: String,
    /// The range's start (inclusive).
    pub from: DateTime<Utc>,
    /// The range's end (exclusive).
    pub to: DateTime<Utc>,
    /// The buckets with any verification, oldest first.
    pub data: Vec<VerificationCountView>,
}

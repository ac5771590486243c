//! What the store keeps about a key.

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::hash::{KeyHash, KeyHasher};
use crate::id::KeyId;
use crate::key_format::{self, KeyFormatError, ParsedKey};
use crate::principal::PrincipalMemo;
use crate::rate_limit::{NamedLimits, RateLimitSpec};
use crate::scope_set::ScopeSet;
use crate::secret::ApiKeySecret;

/// Who a key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Tied to one owner; may not exceed the owner's permissions; revoked when the owner
    /// is deactivated.
    Personal,
    /// Shared by a team for its applications.
    Team,
    /// For service-to-service calls.
    #[default]
    Service,
}

impl KeyKind {
    /// `personal`, `team` or `service`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Team => "team",
            Self::Service => "service",
        }
    }
}

impl std::str::FromStr for KeyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "personal" => Ok(Self::Personal),
            "team" => Ok(Self::Team),
            "service" => Ok(Self::Service),
            _ => Err(format!(
                "unknown key kind {s:?}: expected personal, team or service"
            )),
        }
    }
}

/// A key that was replaced by rotation: it keeps working until `grace_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The key that replaced this one.
    pub replaced_by: KeyId,
    /// When this key stops working.
    pub grace_until: DateTime<Utc>,
}

/// Everything the store keeps about one key. Never the key itself: only its hash.
///
/// ```
/// use keygate::{KeyRecord, ScopeSet};
/// use keygate::hash::KeyHasher;
/// let record = KeyRecord::new(KeyHasher::Sha256.hash("sk_live_x"), "sk_live_…x", "sk", "live", "ci", "acme")
///     .with_scopes(ScopeSet::parse(["read:scans"])?);
/// assert_eq!(record.tenant, "acme");
/// assert!(record.id.as_str().starts_with("key_"));
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KeyRecord {
    /// Public id (`key_…`).
    pub id: KeyId,
    /// SHA-256 (or HMAC) of the whole key: the lookup key.
    pub hash: KeyHash,
    /// Display hint, e.g. `sk_live_…x9Qz`.
    pub hint: String,
    /// The key's prefix, e.g. `sk`.
    pub prefix: String,
    /// The key's environment, e.g. `live`.
    pub env: String,
    /// Human name.
    pub name: String,
    /// What the key is for.
    pub description: Option<String>,
    /// The tenant (organisation, account) the key belongs to.
    pub tenant: String,
    /// The user a personal key belongs to (or who made a team/service key).
    pub owner: Option<String>,
    /// Personal, team or service.
    pub kind: KeyKind,
    /// A role whose scopes the key holds, resolved at verify time.
    pub role: Option<String>,
    /// The key's own scopes (in addition to its role's).
    pub scopes: ScopeSet,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked. Revocation is permanent.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was disabled: refused (401 `key_disabled`) until it is enabled
    /// again. Unlike revocation this is undone by
    /// [`KeyManager::enable`](crate::KeyManager::enable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Last successful verification (recorded in batches).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set when the key was rotated.
    pub rotation: Option<Rotation>,
    /// Client IPs/CIDRs allowed to use the key (empty = any).
    pub allowed_ips: Vec<IpNet>,
    /// Referrers allowed to use the key (empty = any).
    pub allowed_referrers: Vec<String>,
    /// Per-key rate limit (overrides the environment default): the limit named
    /// `default` in headers.
    pub rate_limit: Option<RateLimitSpec>,
    /// Further limits of this key, by name; each must allow a request too, and a
    /// request is counted in all of them or in none.
    #[serde(default, skip_serializing_if = "NamedLimits::is_empty")]
    pub limits: NamedLimits,
    /// Uses left, spent by each successful verification (`None`: unmetered). The
    /// stored balance lags the ledger's by up to one flush; see [`crate::credits`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<crate::credits::Credits>,
    /// Free-form JSON for the application.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The key that created this one, if made through the API.
    pub created_by: Option<KeyId>,
    /// The row version: the store bumps it on every write, and
    /// [`KeyStore::update`](crate::KeyStore::update) writes only over the version it was
    /// read at (optimistic concurrency: no write can silently undo another).
    #[serde(default)]
    pub version: u64,
    /// When the owner of this personal key was deactivated, filled in by the store on
    /// every read (never written with the key): such a key is refused at verify time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_deactivated_at: Option<DateTime<Utc>>,
    /// The principal of this (shared, unchanging) record once verified; see
    /// [`KeyRecord::clear_resolved`].
    #[serde(skip)]
    pub(crate) resolved: PrincipalMemo,
}

impl KeyRecord {
    /// A new service key record with no scopes, created now by the system clock.
    /// Use `KeyManager`/the builder methods to fill in the rest.
    pub fn new(
        hash: KeyHash,
        hint: impl Into<String>,
        prefix: impl Into<String>,
        env: impl Into<String>,
        name: impl Into<String>,
        tenant: impl Into<String>,
    ) -> Self {
        Self {
            id: KeyId::generate(),
            hash,
            hint: hint.into(),
            prefix: prefix.into(),
            env: env.into(),
            name: name.into(),
            description: None,
            tenant: tenant.into(),
            owner: None,
            kind: KeyKind::default(),
            role: None,
            scopes: ScopeSet::new(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            disabled_at: None,
            last_used_at: None,
            rotation: None,
            allowed_ips: Vec::new(),
            allowed_referrers: Vec::new(),
            rate_limit: None,
            limits: NamedLimits::new(),
            credits: None,
            metadata: serde_json::Map::new(),
            created_by: None,
            version: 0,
            owner_deactivated_at: None,
            resolved: PrincipalMemo::default(),
        }
    }

    /// Forgets the principal built from this record by an earlier verification. A
    /// store that changes a record in place (rather than replacing its `Arc`) calls
    /// this, so the next verification sees the change; clones start without one.
    pub fn clear_resolved(&mut self) {
        self.resolved = PrincipalMemo::default();
    }

    /// Mints a new key from the OS CSPRNG and its record (a service key, no scopes,
    /// created now). The plaintext is returned once: show it, then drop it.
    ///
    /// ```
    /// use keygate::KeyRecord;
    /// use keygate::hash::KeyHasher;
    /// let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
    /// assert_eq!(record.hash, KeyHasher::Sha256.hash(key.expose()));
    /// assert!(record.hint.starts_with("sk_live_…"));
    /// # Ok::<(), keygate::key_format::KeyFormatError>(())
    /// ```
    pub fn generate(
        hasher: &KeyHasher,
        prefix: &str,
        env: &str,
        name: impl Into<String>,
        tenant: impl Into<String>,
    ) -> Result<(ApiKeySecret, Self), KeyFormatError> {
        let key = key_format::generate(prefix, env)?;
        let hint = ParsedKey::parse(key.expose())?.hint();
        let record = Self::new(hasher.hash(key.expose()), hint, prefix, env, name, tenant);
        Ok((key, record))
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: ScopeSet) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the role.
    #[must_use]
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The key's state at `now_micros` (Unix microseconds): [`KeyRecord::status_at`]
    /// without building a date.
    pub(crate) fn status_at_micros(&self, now_micros: i64) -> KeyStatus {
        let reached = |t: &DateTime<Utc>| now_micros >= t.timestamp_micros();
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.kind == KeyKind::Personal && self.owner_deactivated_at.is_some() {
            KeyStatus::OwnerDeactivated
        } else if self.expires_at.as_ref().is_some_and(reached) {
            KeyStatus::Expired
        } else if self
            .rotation
            .as_ref()
            .is_some_and(|r| reached(&r.grace_until))
        {
            KeyStatus::Rotated
        } else if self.disabled_at.is_some() {
            KeyStatus::Disabled
        } else if self.rotation.is_some() {
            KeyStatus::RotationGrace
        } else {
            KeyStatus::Active
        }
    }

    /// The key's state at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.kind == KeyKind::Personal && self.owner_deactivated_at.is_some() {
            KeyStatus::OwnerDeactivated
        } else if self.expires_at.is_some_and(|t| now >= t) {
            KeyStatus::Expired
        } else if self.rotation.as_ref().is_some_and(|r| now >= r.grace_until) {
            KeyStatus::Rotated
        } else if self.disabled_at.is_some() {
            KeyStatus::Disabled
        } else if self.rotation.is_some() {
            KeyStatus::RotationGrace
        } else {
            KeyStatus::Active
        }
    }
}

/// A key's state at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Replaced by rotation, still working until its grace period ends.
    RotationGrace,
    /// Replaced by rotation and past its grace period.
    Rotated,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// A personal key whose owner was deactivated.
    OwnerDeactivated,
    /// Disabled: refused until enabled again.
    Disabled,
}

impl KeyStatus {
    /// Whether a key in this state is accepted.
    pub fn is_usable(self) -> bool {
        matches!(self, Self::Active | Self::RotationGrace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn status_order_revoked_beats_expired_beats_rotation() {
        let now = Utc::now();
        let mut r = KeyRecord::new(KeyHasher::Sha256.hash("k"), "h", "sk", "live", "n", "t");
        assert_eq!(r.status_at(now), KeyStatus::Active);
        r.rotation = Some(Rotation {
            replaced_by: KeyId::generate(),
            grace_until: now + Duration::hours(24),
        });
        assert_eq!(r.status_at(now), KeyStatus::RotationGrace);
        assert_eq!(r.status_at(now + Duration::hours(24)), KeyStatus::Rotated);
        r.expires_at = Some(now);
        assert_eq!(r.status_at(now), KeyStatus::Expired);
        r.revoked_at = Some(now);
        assert_eq!(r.status_at(now), KeyStatus::Revoked);
        r.revoked_at = None;
        r.kind = KeyKind::Personal;
        r.owner_deactivated_at = Some(now);
        assert_eq!(r.status_at(now), KeyStatus::OwnerDeactivated);
        r.kind = KeyKind::Service;
        assert_eq!(
            r.status_at(now),
            KeyStatus::Expired,
            "only personal keys follow their owner"
        );
        assert!(!KeyStatus::Revoked.is_usable());
        assert!(KeyStatus::RotationGrace.is_usable());
    }

    #[test]
    fn disabled_beats_grace_and_active_but_not_the_permanent_states() {
        let now = Utc::now();
        let micros = now.timestamp_micros();
        let mut r = KeyRecord::new(KeyHasher::Sha256.hash("k"), "h", "sk", "live", "n", "t");
        r.disabled_at = Some(now);
        let both = |r: &KeyRecord| {
            assert_eq!(r.status_at(now), r.status_at_micros(micros));
            r.status_at(now)
        };
        assert_eq!(both(&r), KeyStatus::Disabled);
        assert!(!KeyStatus::Disabled.is_usable());
        r.rotation = Some(Rotation {
            replaced_by: KeyId::generate(),
            grace_until: now + Duration::hours(1),
        });
        assert_eq!(both(&r), KeyStatus::Disabled, "a disabled key in grace");
        r.rotation = Some(Rotation {
            replaced_by: KeyId::generate(),
            grace_until: now,
        });
        assert_eq!(both(&r), KeyStatus::Rotated);
        r.expires_at = Some(now);
        assert_eq!(both(&r), KeyStatus::Expired);
        r.revoked_at = Some(now);
        assert_eq!(both(&r), KeyStatus::Revoked);
        r.revoked_at = None;
        r.expires_at = None;
        r.rotation = None;
        r.disabled_at = None;
        assert_eq!(both(&r), KeyStatus::Active, "enabled again");
    }
}

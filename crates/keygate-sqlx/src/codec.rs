//! Records as columns and back, shared by both backends: lists and maps are JSON text,
//! ids and hashes are checked on the way out so a hand-edited row reads as
//! [`StoreError::Corrupt`] instead of a panic.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use keygate::audit::{AuditEvent, Outcome};
use keygate::hash::KeyHash;
use keygate::record::{KeyKind, Rotation};
use keygate::role::Role;
use keygate::{KeyId, KeyRecord, ScopeSet, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(what, e))
}

fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

pub(crate) fn key_id(what: &str, text: &str) -> Result<KeyId, StoreError> {
    KeyId::parse(text).ok_or_else(|| corrupt(what, format!("not a key id: {text:?}")))
}

fn opt_key_id(what: &str, text: Option<String>) -> Result<Option<KeyId>, StoreError> {
    text.map(|t| key_id(what, &t)).transpose()
}

/// A key hash from a `BLOB`/`BYTEA` column.
pub(crate) fn key_hash(bytes: &[u8]) -> Result<KeyHash, StoreError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| corrupt("hash", format!("{} bytes, expected 32", bytes.len())))?;
    Ok(KeyHash::from_bytes(array))
}

/// Microseconds since the Unix epoch (SQLite's timestamp columns).
#[cfg(feature = "sqlite")]
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A timestamp from microseconds since the Unix epoch.
#[cfg(feature = "sqlite")]
pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("timestamp", micros))
}

/// Named limits as stored (a JSON object from name to spec text).
pub(crate) fn named_limits_json(
    limits: &keygate::rate_limit::NamedLimits,
) -> Result<String, StoreError> {
    to_json("limits", limits)
}

/// Named limits from their stored JSON.
pub(crate) fn named_limits(text: &str) -> Result<keygate::rate_limit::NamedLimits, StoreError> {
    from_json("limits", text)
}

/// A key record, column by column.
#[derive(Debug, Clone)]
pub(crate) struct RawKey {
    pub(crate) id: String,
    pub(crate) hash: Vec<u8>,
    pub(crate) hint: String,
    pub(crate) prefix: String,
    pub(crate) env: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) tenant: String,
    pub(crate) owner: Option<String>,
    pub(crate) kind: String,
    pub(crate) role: Option<String>,
    pub(crate) scopes: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    pub(crate) replaced_by: Option<String>,
    pub(crate) grace_until: Option<DateTime<Utc>>,
    pub(crate) allowed_ips: String,
    pub(crate) allowed_referrers: String,
    pub(crate) rate_limit: Option<String>,
    pub(crate) metadata: String,
    pub(crate) created_by: Option<String>,
    pub(crate) version: i64,
    pub(crate) disabled_at: Option<DateTime<Utc>>,
    /// JSON object: limit name -> spec text.
    pub(crate) limits: String,
    /// The credits' balance (`None`: unmetered) and bookkeeping.
    pub(crate) credits_remaining: Option<i64>,
    pub(crate) credits_refill: Option<String>,
    pub(crate) credits_period: i64,
    pub(crate) credits_epoch: i64,
    pub(crate) credits_account: Option<String>,
    /// Read from `keygate_owners`, never written with the key.
    pub(crate) owner_deactivated_at: Option<DateTime<Utc>>,
}

/// A row version as stored (`BIGINT`/`INTEGER`: signed).
pub(crate) fn version_column(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| corrupt("version", version))
}

impl RawKey {
    pub(crate) fn from_record(r: &KeyRecord) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id.to_string(),
            hash: r.hash.as_bytes().to_vec(),
            hint: r.hint.clone(),
            prefix: r.prefix.clone(),
            env: r.env.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            tenant: r.tenant.clone(),
            owner: r.owner.clone(),
            kind: r.kind.as_str().to_owned(),
            role: r.role.clone(),
            scopes: to_json("scopes", &r.scopes)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            replaced_by: r.rotation.as_ref().map(|rot| rot.replaced_by.to_string()),
            grace_until: r.rotation.as_ref().map(|rot| rot.grace_until),
            allowed_ips: to_json("allowed_ips", &r.allowed_ips)?,
            allowed_referrers: to_json("allowed_referrers", &r.allowed_referrers)?,
            rate_limit: r
                .rate_limit
                .as_ref()
                .map(|spec| to_json("rate_limit", spec))
                .transpose()?,
            metadata: to_json("metadata", &r.metadata)?,
            created_by: r.created_by.as_ref().map(ToString::to_string),
            version: version_column(r.version)?,
            disabled_at: r.disabled_at,
            limits: to_json("limits", &r.limits)?,
            credits_remaining: r
                .credits
                .as_ref()
                .map(|c| i64::try_from(c.remaining).map_err(|_| corrupt("credits", c.remaining)))
                .transpose()?,
            credits_refill: r
                .credits
                .as_ref()
                .and_then(|c| c.refill)
                .map(|refill| refill.to_string()),
            credits_period: r.credits.as_ref().map_or(0, |c| c.period),
            credits_epoch: r
                .credits
                .as_ref()
                .map(|c| i64::try_from(c.epoch).map_err(|_| corrupt("credits epoch", c.epoch)))
                .transpose()?
                .unwrap_or(0),
            credits_account: r.credits.as_ref().map(|c| c.account.to_string()),
            owner_deactivated_at: None,
        })
    }

    pub(crate) fn into_record(self) -> Result<KeyRecord, StoreError> {
        let hash = key_hash(&self.hash)?;
        let mut r = KeyRecord::new(
            hash,
            self.hint,
            self.prefix,
            self.env,
            self.name,
            self.tenant,
        );
        r.id = key_id("id", &self.id)?;
        r.description = self.description;
        r.owner = self.owner;
        r.kind = self
            .kind
            .parse::<KeyKind>()
            .map_err(|e| corrupt("kind", e))?;
        r.role = self.role;
        r.scopes = from_json::<ScopeSet>("scopes", &self.scopes)?;
        r.created_at = self.created_at;
        r.expires_at = self.expires_at;
        r.revoked_at = self.revoked_at;
        r.disabled_at = self.disabled_at;
        r.limits = from_json("limits", &self.limits)?;
        r.credits = match (self.credits_remaining, self.credits_account) {
            (Some(remaining), Some(account)) => Some(keygate::credits::Credits {
                remaining: u64::try_from(remaining).map_err(|_| corrupt("credits", remaining))?,
                refill: self
                    .credits_refill
                    .map(|text| text.parse().map_err(|e| corrupt("credits refill", e)))
                    .transpose()?,
                period: self.credits_period,
                epoch: u64::try_from(self.credits_epoch)
                    .map_err(|_| corrupt("credits epoch", self.credits_epoch))?,
                account: key_id("credits_account", &account)?,
            }),
            (None, _) => None,
            (Some(_), None) => return Err(corrupt("credits", "a balance without an account")),
        };
        r.last_used_at = self.last_used_at;
        r.rotation = match (self.replaced_by, self.grace_until) {
            (Some(by), Some(grace_until)) => Some(Rotation {
                replaced_by: key_id("replaced_by", &by)?,
                grace_until,
            }),
            (None, None) => None,
            _ => return Err(corrupt("rotation", "replaced_by and grace_until disagree")),
        };
        r.allowed_ips = from_json("allowed_ips", &self.allowed_ips)?;
        r.allowed_referrers = from_json("allowed_referrers", &self.allowed_referrers)?;
        r.rate_limit = self
            .rate_limit
            .map(|text| from_json("rate_limit", &text))
            .transpose()?;
        r.metadata = from_json("metadata", &self.metadata)?;
        r.created_by = opt_key_id("created_by", self.created_by)?;
        r.version = u64::try_from(self.version).map_err(|_| corrupt("version", self.version))?;
        r.owner_deactivated_at = self.owner_deactivated_at;
        Ok(r)
    }
}

/// An audit event, column by column.
#[derive(Debug, Clone)]
pub(crate) struct RawAudit {
    pub(crate) id: String,
    pub(crate) at: DateTime<Utc>,
    pub(crate) tenant: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) action: String,
    pub(crate) target: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) client_ip: Option<String>,
    pub(crate) outcome: String,
    pub(crate) reason: Option<String>,
    pub(crate) count: i64,
}

impl RawAudit {
    pub(crate) fn from_event(e: &AuditEvent) -> Self {
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
            count: i64::from(e.count),
        }
    }

    pub(crate) fn into_event(self) -> Result<AuditEvent, StoreError> {
        let outcome =
            Outcome::parse(&self.outcome).ok_or_else(|| corrupt("outcome", &self.outcome))?;
        let mut e = AuditEvent::new(self.action, outcome).at(self.at);
        e.id = self.id;
        e.tenant = self.tenant;
        e.actor = opt_key_id("actor", self.actor)?;
        e.target = opt_key_id("target", self.target)?;
        e.role = self.role;
        e.client_ip = self
            .client_ip
            .map(|ip| {
                ip.parse::<IpAddr>()
                    .map_err(|err| corrupt("client_ip", err))
            })
            .transpose()?;
        e.reason = self.reason;
        e.count = u32::try_from(self.count).map_err(|_| corrupt("count", self.count))?;
        Ok(e)
    }
}

/// A role's scopes as JSON text.
pub(crate) fn role_scopes(role: &Role) -> Result<String, StoreError> {
    to_json("role scopes", &role.scopes)
}

/// A role from its columns (`tenant` and `env` empty: global).
pub(crate) fn role_from(
    tenant: String,
    env: String,
    name: String,
    scopes: &str,
    description: Option<String>,
) -> Result<Role, StoreError> {
    let scopes = from_json::<ScopeSet>("role scopes", scopes)?;
    let mut role = Role::new(name, scopes).map_err(|e| corrupt("role name", e))?;
    role.description = description;
    if tenant.is_empty() && env.is_empty() {
        Ok(role)
    } else {
        role.in_namespace(tenant, env)
            .map_err(|e| corrupt("role namespace", e))
    }
}

/// Decodes a cursor made by [`keygate::store::encode_cursor`].
pub(crate) fn cursor(
    page: &keygate::store::PageRequest,
) -> Result<Option<(DateTime<Utc>, String)>, StoreError> {
    page.cursor
        .as_deref()
        .map(|c| keygate::store::decode_cursor(c).ok_or(StoreError::InvalidCursor))
        .transpose()
}

/// Turns `limit + 1` rows into a page: the extra row only says there is a next one.
pub(crate) fn page_of<T>(
    mut items: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> (DateTime<Utc>, String),
) -> keygate::store::Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => {
            let (at, id) = position(last);
            Some(keygate::store::encode_cursor(at, &id))
        }
        _ => None,
    };
    keygate::store::Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_columns_read_as_corrupt() {
        let (_, record) =
            KeyRecord::generate(&keygate::hash::KeyHasher::Sha256, "sk", "live", "n", "t")
                .unwrap_or_else(|e| panic!("{e}"));
        let raw = RawKey::from_record(&record).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.clone().into_record().ok(), Some(record));
        let mut bad = raw.clone();
        bad.hash = vec![1, 2, 3];
        assert!(matches!(bad.into_record(), Err(StoreError::Corrupt(_))));
        let mut bad = raw.clone();
        bad.scopes = "not json".into();
        assert!(matches!(bad.into_record(), Err(StoreError::Corrupt(_))));
        let mut bad = raw;
        bad.grace_until = Some(Utc::now());
        assert!(matches!(bad.into_record(), Err(StoreError::Corrupt(_))));
        #[cfg(feature = "sqlite")]
        assert!(from_micros(i64::MAX).is_err());
    }
}

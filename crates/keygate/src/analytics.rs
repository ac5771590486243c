//! Verification analytics: how often each key was verified, by outcome, per minute.
//!
//! The verifier counts in memory (a success costs one atomic add on the key's shared
//! record; a refusal, a short lock) and the gate's usage flusher writes minute rows to
//! the store in one batch, with the last-used times ([`UsageRecorder`]). The store keeps
//! minute rows ([`KeyStore::record_verifications`]); reads roll them up to hours or days
//! ([`rollup`]).
//!
//! A success is counted in the minute of the flush that writes it, so a count can land
//! one flush interval (a few seconds) after the minute it happened in.
//!
//! [`UsageRecorder`]: crate::usage::UsageRecorder
//! [`KeyStore::record_verifications`]: crate::KeyStore::record_verifications

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, InvalidKeyReason};
use crate::id::KeyId;

/// How a verification of a stored (or unknown but well-formed) key ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationOutcome {
    /// Accepted.
    Valid,
    /// Well formed, but no such key.
    Unknown,
    /// Revoked, rotated past its grace period, or its owner deactivated.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Disabled.
    Disabled,
    /// Not from an allowed IP address or referrer.
    Forbidden,
    /// Over its rate limit.
    RateLimited,
    /// Out of credits (`usage_exceeded`).
    UsageExceeded,
    /// Let through, but over a limit in shadow mode (which would have refused it):
    /// counted beside the request's own outcome (`valid`), not instead of it.
    ShadowLimited,
    /// Let through, but short of a scope requirement in shadow mode (which would have
    /// answered 403): counted beside the request's own outcome.
    ShadowForbidden,
}

impl VerificationOutcome {
    /// Every outcome, in order.
    pub const ALL: [Self; 10] = [
        Self::Valid,
        Self::Unknown,
        Self::Revoked,
        Self::Expired,
        Self::Disabled,
        Self::Forbidden,
        Self::RateLimited,
        Self::UsageExceeded,
        Self::ShadowLimited,
        Self::ShadowForbidden,
    ];

    /// `valid`, `unknown`, `revoked`, `expired`, `disabled`, `forbidden`,
    /// `rate_limited`, `usage_exceeded`, `shadow_limited` or `shadow_forbidden`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::UsageExceeded => "usage_exceeded",
            Self::ShadowLimited => "shadow_limited",
            Self::ShadowForbidden => "shadow_forbidden",
        }
    }

    /// The outcome of this spelling, if any.
    ///
    /// ```
    /// use keygate::analytics::VerificationOutcome;
    /// assert_eq!(VerificationOutcome::parse("rate_limited"), Some(VerificationOutcome::RateLimited));
    /// assert_eq!(VerificationOutcome::parse("great"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The outcome a refusal counts as; `None` for refusals that are not about a key
    /// (no key, two keys, a malformed key, the store down).
    ///
    /// ```
    /// use keygate::AuthError;
    /// use keygate::analytics::VerificationOutcome;
    /// assert_eq!(VerificationOutcome::of(&AuthError::DisabledKey), Some(VerificationOutcome::Disabled));
    /// assert_eq!(VerificationOutcome::of(&AuthError::MissingKey), None);
    /// ```
    pub fn of(error: &AuthError) -> Option<Self> {
        Some(match error {
            AuthError::InvalidKey(InvalidKeyReason::Unknown) => Self::Unknown,
            AuthError::InvalidKey(
                InvalidKeyReason::Revoked
                | InvalidKeyReason::Rotated
                | InvalidKeyReason::OwnerDeactivated,
            ) => Self::Revoked,
            AuthError::ExpiredKey => Self::Expired,
            AuthError::DisabledKey => Self::Disabled,
            AuthError::IpNotAllowed | AuthError::ReferrerNotAllowed => Self::Forbidden,
            AuthError::RateLimited { .. } => Self::RateLimited,
            AuthError::UsageExceeded { .. } => Self::UsageExceeded,
            _ => return None,
        })
    }
}

/// How many verifications of one key (or of unknown keys: no id) ended one way in one
/// time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationCount {
    /// The key; `None` for unknown keys.
    pub key_id: Option<KeyId>,
    /// The key's tenant; `None` for unknown keys.
    pub tenant: Option<String>,
    /// The key's environment; `None` for unknown keys.
    pub env: Option<String>,
    /// The bucket's start (a whole minute as stored).
    pub at: DateTime<Utc>,
    /// How they ended.
    pub outcome: VerificationOutcome,
    /// How many.
    pub count: u64,
}

/// A scope a key exercised: a route's requirement it met through this scope, first
/// and last seen (to the usage flusher's interval). The input of narrowing a key to the
/// scopes it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeUse {
    /// The key.
    pub key_id: KeyId,
    /// The required scope the key met, as the route wrote it (e.g. `read:scans`).
    pub scope: String,
    /// When first seen.
    pub first_used: DateTime<Utc>,
    /// When last seen.
    pub last_used: DateTime<Utc>,
}

/// Which counts to read: a time range (`from` inclusive, `to` exclusive) and optionally
/// one key, tenant or environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationFilter {
    /// Only this key's counts.
    pub key_id: Option<KeyId>,
    /// Only this tenant's keys.
    pub tenant: Option<String>,
    /// Only this environment's keys.
    pub env: Option<String>,
    /// From this instant (inclusive).
    pub from: DateTime<Utc>,
    /// Until this instant (exclusive).
    pub to: DateTime<Utc>,
}

impl VerificationFilter {
    /// Every count from `from` until `to`.
    pub fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            key_id: None,
            tenant: None,
            env: None,
            from,
            to,
        }
    }

    /// Whether `count` passes the filter (stores without a query language use it).
    pub fn admits(&self, count: &VerificationCount) -> bool {
        count.at >= self.from
            && count.at < self.to
            && self
                .key_id
                .as_ref()
                .is_none_or(|id| count.key_id.as_ref() == Some(id))
            && self
                .tenant
                .as_deref()
                .is_none_or(|t| count.tenant.as_deref() == Some(t))
            && self
                .env
                .as_deref()
                .is_none_or(|e| count.env.as_deref() == Some(e))
    }
}

/// The size of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Minutes (as stored).
    Minute,
    /// Hours.
    Hour,
    /// Days (UTC).
    Day,
}

impl Granularity {
    /// `minute`, `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// The granularity of this spelling, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Minute, Self::Hour, Self::Day]
            .into_iter()
            .find(|g| g.as_str() == text)
    }

    /// A bucket's length.
    pub fn length(self) -> Duration {
        match self {
            Self::Minute => Duration::minutes(1),
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::days(1),
        }
    }

    /// The longest range one read covers in buckets of this size: a day of minutes,
    /// 31 days of hours, 366 days of days.
    pub fn longest_range(self) -> Duration {
        match self {
            Self::Minute => Duration::days(1),
            Self::Hour => Duration::days(31),
            Self::Day => Duration::days(366),
        }
    }

    /// The start of the bucket holding `at`.
    ///
    /// ```
    /// use keygate::analytics::Granularity;
    /// let at = "2026-12-01T18:42:17Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    /// assert_eq!(Granularity::Hour.start_of(at).to_rfc3339(), "2026-12-01T18:00:00+00:00");
    /// ```
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.length()).unwrap_or(at)
    }
}

/// What a read of verification counts covered, and the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationReport {
    /// The range's start: the one asked for, or later when that range was longer than
    /// [`Granularity::longest_range`].
    pub from: DateTime<Utc>,
    /// The range's end (exclusive).
    pub to: DateTime<Utc>,
    /// The bucket size.
    pub granularity: Granularity,
    /// The buckets with any verification, oldest first (none for an empty range).
    pub counts: Vec<VerificationCount>,
}

/// `counts` summed into buckets of `granularity`, ordered by time, key and outcome.
///
/// ```
/// use keygate::analytics::{rollup, Granularity, VerificationCount, VerificationOutcome};
/// let at = |m: i64| chrono::DateTime::from_timestamp(1_800_000_000 + m * 60, 0).unwrap();
/// let count = |m, n| VerificationCount { key_id: None, tenant: None, env: None, at: at(m), outcome: VerificationOutcome::Unknown, count: n };
/// let hourly = rollup(vec![count(0, 2), count(1, 3)], Granularity::Hour);
/// assert_eq!(hourly.len(), 1);
/// assert_eq!(hourly[0].count, 5);
/// ```
pub fn rollup(counts: Vec<VerificationCount>, granularity: Granularity) -> Vec<VerificationCount> {
    type Bucket = (
        DateTime<Utc>,
        Option<KeyId>,
        VerificationOutcome,
        Option<String>,
        Option<String>,
    );
    let mut buckets: BTreeMap<Bucket, u64> = BTreeMap::new();
    for c in counts {
        let key = (
            granularity.start_of(c.at),
            c.key_id,
            c.outcome,
            c.tenant,
            c.env,
        );
        let total = buckets.entry(key).or_insert(0);
        *total = total.saturating_add(c.count);
    }
    buckets
        .into_iter()
        .map(
            |((at, key_id, outcome, tenant, env), count)| VerificationCount {
                key_id,
                tenant,
                env,
                at,
                outcome,
                count,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).expect("a valid time")
    }

    #[test]
    fn every_outcome_parses_back_and_refusals_map() {
        for outcome in VerificationOutcome::ALL {
            assert_eq!(VerificationOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(
            VerificationOutcome::of(&AuthError::InvalidKey(InvalidKeyReason::Rotated)),
            Some(VerificationOutcome::Revoked)
        );
        assert_eq!(
            VerificationOutcome::of(&AuthError::InvalidKey(InvalidKeyReason::Malformed)),
            None,
            "a malformed key is no verification of a key"
        );
        assert_eq!(
            VerificationOutcome::of(&AuthError::ReferrerNotAllowed),
            Some(VerificationOutcome::Forbidden)
        );
    }

    #[test]
    fn rollup_sums_per_bucket_key_and_outcome() {
        let key = KeyId::generate();
        let count = |minute, outcome, n| VerificationCount {
            key_id: Some(key.clone()),
            tenant: Some("acme".into()),
            env: Some("live".into()),
            at: at(minute),
            outcome,
            count: n,
        };
        let rows = vec![
            count(0, VerificationOutcome::Valid, 1),
            count(59, VerificationOutcome::Valid, 2),
            count(60, VerificationOutcome::Valid, 4),
            count(1, VerificationOutcome::RateLimited, 8),
        ];
        let hourly = rollup(rows.clone(), Granularity::Hour);
        let seen: Vec<(VerificationOutcome, u64)> =
            hourly.iter().map(|c| (c.outcome, c.count)).collect();
        // 1_800_000_000 is 08:00 UTC: minutes 0-59 are one hour, 60 the next.
        assert_eq!(
            seen,
            vec![
                (VerificationOutcome::Valid, 3),
                (VerificationOutcome::RateLimited, 8),
                (VerificationOutcome::Valid, 4)
            ]
        );
        assert_eq!(rollup(rows, Granularity::Minute).len(), 4);
        assert_eq!(Granularity::parse("week"), None);
    }

    #[test]
    fn filters_admit_by_time_key_tenant_and_env() {
        let key = KeyId::generate();
        let row = VerificationCount {
            key_id: Some(key.clone()),
            tenant: Some("acme".into()),
            env: Some("live".into()),
            at: at(5),
            outcome: VerificationOutcome::Valid,
            count: 1,
        };
        let all = VerificationFilter::between(at(0), at(10));
        assert!(all.admits(&row));
        assert!(!VerificationFilter::between(at(6), at(10)).admits(&row));
        assert!(
            !VerificationFilter::between(at(0), at(5)).admits(&row),
            "to is exclusive"
        );
        let other_tenant = VerificationFilter {
            tenant: Some("globex".into()),
            ..all.clone()
        };
        assert!(!other_tenant.admits(&row));
        let test_env = VerificationFilter {
            env: Some("test".into()),
            ..all.clone()
        };
        assert!(!test_env.admits(&row));
        let this_key = VerificationFilter {
            key_id: Some(key),
            ..all
        };
        assert!(this_key.admits(&row));
    }
}

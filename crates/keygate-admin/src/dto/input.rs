use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keygate::rate_limit::{LimitName, NamedLimits};
use keygate::record::KeyKind;
use keygate::{RateLimitSpec, ScopeSet};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::ApiError;

/// Scopes: a list (`["read:scans", "write"]`) or a per-resource map
/// (`{"opportunities": ["read", "write"]}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ScopesInput {
    /// `["read:scans", "write"]`
    List(Vec<String>),
    /// `{"opportunities": ["read", "write"]}`
    PerResource(BTreeMap<String, Vec<String>>),
}

impl ScopesInput {
    /// The normalised scope set.
    pub fn to_scope_set(&self) -> Result<ScopeSet, ApiError> {
        let parsed = match self {
            Self::List(list) => ScopeSet::parse(list),
            Self::PerResource(map) => ScopeSet::from_resource_map(map),
        };
        parsed.map_err(|e| ApiError::unprocessable(e.to_string()))
    }
}

/// A rate limit: requests per hour (`1000`), a spec string (`"1000/h,burst=50"`), or
/// an object. Every form is held to the bounds of [`RateLimitSpec`] (at least 1
/// request, a window of 1 s to one year, a burst of 1 to 1,000,000 that refills within
/// a year, a daily quota of at least 1); anything else is a 422 naming the rule.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RateLimitInput {
    /// Requests per hour.
    PerHour(#[serde(deserialize_with = "whole")] u32),
    /// `N/s`, `N/m`, `N/h` or `N/day`, optionally `,burst=N` and `,quota=N`.
    Spec(String),
    /// The full form.
    Object(RateLimitObject),
}

/// The full form of a rate limit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitObject {
    /// Requests per window.
    #[serde(deserialize_with = "whole")]
    pub requests: u32,
    /// Window length in seconds (default 3600).
    #[serde(default, deserialize_with = "whole_or_null")]
    pub per_seconds: Option<u32>,
    /// Burst.
    #[serde(default, deserialize_with = "whole_or_null")]
    pub burst: Option<u32>,
    /// Requests per UTC day.
    #[serde(default, deserialize_with = "whole_or_null")]
    pub daily_quota: Option<u32>,
    /// Shadow mode: counted, logged and audited, never refusing.
    #[serde(default)]
    pub shadow: Option<bool>,
}

/// Named limits: limit name -> rate limit (any form of `rateLimit`). A name is 1 to 32
/// characters of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit, and not
/// `default` (the key's own `rateLimit`); at most 16 per key.
pub(crate) type LimitsInput = BTreeMap<String, RateLimitInput>;

/// The checked named limits of `input` (422 naming the bad name, spec or count).
pub(crate) fn to_named_limits(input: &LimitsInput) -> Result<NamedLimits, ApiError> {
    let mut limits = NamedLimits::new();
    for (name, spec) in input {
        let name: LimitName = name
            .parse()
            .map_err(|e: keygate::rate_limit::LimitNameError| {
                ApiError::unprocessable(e.to_string())
            })?;
        let spec = spec
            .to_spec()
            .map_err(|e| ApiError::unprocessable(format!("limit {name}: {}", e.details)))?;
        limits
            .insert(name, spec)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    Ok(limits)
}

impl RateLimitInput {
    /// The spec, checked with [`RateLimitSpec::validate`] (422 when out of bounds).
    pub fn to_spec(&self) -> Result<RateLimitSpec, ApiError> {
        let spec = match self {
            Self::PerHour(n) => RateLimitSpec::per_hour(*n),
            Self::Spec(s) => s
                .parse()
                .map_err(|e: keygate::rate_limit::RateLimitSpecError| {
                    ApiError::unprocessable(format!("rateLimit: {e}"))
                })?,
            Self::Object(o) => RateLimitSpec {
                requests: o.requests,
                per_seconds: o.per_seconds.unwrap_or(3600),
                burst: o.burst,
                daily_quota: o.daily_quota,
                shadow: o.shadow.unwrap_or(false),
            },
        };
        spec.validate()
            .map_err(|e| ApiError::unprocessable(format!("rateLimit: {e}")))?;
        Ok(spec)
    }
}

/// Credits: uses left, optionally refilled. Setting them needs the `admin:credits`
/// scope; at most 2^53.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditsInput {
    /// Uses left now.
    #[serde(deserialize_with = "whole")]
    pub remaining: u64,
    /// How the balance refills (absent or null: never).
    #[serde(default)]
    pub refill: Option<RefillInput>,
}

/// A refill: the balance is set back to `amount` at the start of every day or month
/// (UTC).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefillInput {
    /// `daily` or `monthly`.
    pub interval: RefillIntervalInput,
    /// What the balance is set back to.
    #[serde(deserialize_with = "whole")]
    pub amount: u64,
    /// The day of the month of a monthly refill, 1 to 31 (default 1; in a shorter
    /// month its last day).
    #[serde(default, deserialize_with = "whole_or_null")]
    pub day: Option<u8>,
}

/// When a refill happens.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefillIntervalInput {
    /// Every day at 00:00 UTC.
    Daily,
    /// Every month on `day` at 00:00 UTC.
    Monthly,
}

impl CreditsInput {
    /// The checked grant (422 naming the rule).
    pub fn to_grant(&self) -> Result<keygate::credits::CreditGrant, ApiError> {
        let bad =
            |e: keygate::credits::CreditsError| ApiError::unprocessable(format!("credits: {e}"));
        let refill = match &self.refill {
            None => None,
            Some(r) => Some(match (r.interval, r.day) {
                (RefillIntervalInput::Daily, None) => {
                    keygate::credits::Refill::daily(r.amount).map_err(bad)?
                }
                (RefillIntervalInput::Daily, Some(_)) => {
                    return Err(ApiError::unprocessable(
                        "credits: a day is for monthly refills only",
                    ))
                }
                (RefillIntervalInput::Monthly, day) => {
                    keygate::credits::Refill::monthly(r.amount, day.unwrap_or(1)).map_err(bad)?
                }
            }),
        };
        let grant = keygate::credits::CreditGrant {
            remaining: self.remaining,
            refill,
        };
        grant.validate().map_err(bad)?;
        Ok(grant)
    }
}

/// A duration: seconds (`86400`) or text (`"24h"`, `"30m"`, `"90d"`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DurationInput {
    /// Seconds.
    Seconds(#[serde(deserialize_with = "whole")] u64),
    /// `30s`, `15m`, `24h`, `90d`.
    Text(String),
}

impl DurationInput {
    /// The duration.
    pub fn to_duration(&self) -> Result<chrono::Duration, ApiError> {
        match self {
            Self::Seconds(s) => i64::try_from(*s)
                .ok()
                .filter(|s| *s <= 100 * 365 * 86_400)
                .map(chrono::Duration::seconds)
                .ok_or_else(|| ApiError::unprocessable("duration is too long")),
            Self::Text(t) => keygate::duration::parse_duration(t).map_err(ApiError::unprocessable),
        }
    }
}

/// `POST /v1/api-keys`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Human name.
    pub name: String,
    /// The key's own scopes.
    #[serde(default)]
    pub scopes: Option<ScopesInput>,
    /// A role (its scopes are added at verify time).
    #[serde(default)]
    pub role: Option<String>,
    /// `personal`, `team` or `service` (default `service`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "service")]
    pub kind: Option<KeyKind>,
    /// Owner (a personal key's owner defaults to the caller's).
    #[serde(default)]
    pub owner: Option<String>,
    /// Environment, e.g. `live` or `test`.
    #[serde(default)]
    pub env: Option<String>,
    /// Rate limit: the key's own, `default` in rate-limit headers.
    #[serde(default)]
    pub rate_limit: Option<RateLimitInput>,
    /// Named limits beside it; every one must allow a request, and a request counts in
    /// all of them or in none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitsInput>,
    /// Uses the key may make (absent: unmetered, or its maker's balance when the
    /// caller has credits and not `admin:credits`).
    #[serde(default)]
    pub credits: Option<CreditsInput>,
    /// Expiry (RFC 3339), or null for never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// What the key is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Allowed client IPs/CIDRs.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Allowed referrers (`example.com`, `*.example.com`, `https://app.example.com/*`).
    #[serde(default)]
    pub allowed_referrers: Option<Vec<String>>,
    /// Free-form JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `PUT /v1/shared-limits`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutSharedLimitsRequest {
    /// One owner's keys (absent or null: every key of the tenant).
    #[serde(default)]
    pub owner: Option<String>,
    /// The limits, replacing what was set (`{}` removes them).
    #[schema(value_type = Object)]
    pub limits: LimitsInput,
}

/// `PATCH /v1/api-keys/{id}`: absent fields stay; `null` clears nullable ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (null clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New role (null clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub role: Option<Option<String>>,
    /// New scopes.
    #[serde(default)]
    pub scopes: Option<ScopesInput>,
    /// New rate limit (null: the environment default).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimitInput>)]
    pub rate_limit: Option<Option<RateLimitInput>>,
    /// New named limits: replaces every named limit (`{}` removes them all; absent or
    /// null: unchanged).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitsInput>,
    /// New credits: a new balance, replacing the old one and its spends (null:
    /// unmetered). Needs `admin:credits`, and never on the caller's own key.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CreditsInput>)]
    pub credits: Option<Option<CreditsInput>>,
    /// New expiry (null: never).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New allowed IPs.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// New allowed referrers.
    #[serde(default)]
    pub allowed_referrers: Option<Vec<String>>,
    /// New metadata (replaces the object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /v1/roles`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Role name: `[a-z][a-z0-9_-]{0,63}`.
    pub name: String,
    /// The scopes the role grants (all held by the caller).
    pub scopes: ScopesInput,
    /// What the role is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// `PUT /v1/roles/{name}`: the whole role (created if it does not exist).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutRoleRequest {
    /// The scopes the role grants (all held by the caller).
    pub scopes: ScopesInput,
    /// What the role is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// `POST /v1/api-keys/{id}/rotate`
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old key keeps working (default 24 h; `0` ends it now).
    #[serde(default)]
    pub grace_period: Option<DurationInput>,
}

/// `POST /v1/api-keys/{id}/narrow`
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NarrowKeyRequest {
    /// Keep the scopes used since this time (default: 30 days ago).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// How long the old key keeps working (default 24 h; `0` ends it now).
    #[serde(default)]
    pub grace_period: Option<DurationInput>,
}

/// `Some(None)` for an explicit `null`, `Some(Some(v))` for a value; absent fields stay
/// `None` through `#[serde(default)]`.
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A whole number, also when written `272.0`: JSON (and JSON Schema's `integer`) has
/// no separate integer type, so generated clients may send one.
fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    value
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number in range")))
}

/// [`whole`], or `null`.
fn whole_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<u64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|w| w.0))
}

/// Parses IP rules, naming the first bad one.
pub(crate) fn parse_ips(list: &[String]) -> Result<Vec<ipnet::IpNet>, ApiError> {
    list.iter()
        .map(|s| keygate::manager::parse_ip_rule(s).map_err(ApiError::unprocessable))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<RateLimitSpec, String> {
        let input: RateLimitInput = serde_json::from_str(json).map_err(|e| e.to_string())?;
        input.to_spec().map_err(|e| {
            assert_eq!(e.status, 422, "{e:?}");
            e.details
        })
    }

    #[test]
    fn rate_limits_outside_the_bounds_are_refused_in_every_form() {
        for (json, says) in [
            (
                r#"{"requests": 10, "dailyQuota": 0}"#,
                "quota must be at least 1",
            ),
            (r#""10/h,quota=0""#, "quota must be at least 1"),
            (
                r#"{"requests": 10, "burst": 0}"#,
                "burst must be 1 to 1000000",
            ),
            (r#""10/h,burst=0""#, "burst must be 1 to 1000000"),
            (
                r#"{"requests": 1, "perSeconds": 4294967295, "burst": 4294967295}"#,
                "1 to 31536000 seconds",
            ),
            (
                r#"{"requests": 1, "perSeconds": 0}"#,
                "1 to 31536000 seconds",
            ),
            (
                r#"{"requests": 1, "perSeconds": 86400, "burst": 1000}"#,
                "refill within a year",
            ),
            ("0", "at least 1 request"),
        ] {
            match spec(json) {
                Ok(spec) => panic!("{json} was accepted as {spec}"),
                Err(details) => assert!(details.contains(says), "{json}: {details}"),
            }
        }
        assert_eq!(
            spec(r#"{"requests": 100, "perSeconds": 60, "burst": 10, "dailyQuota": 1}"#),
            Ok(RateLimitSpec::per_minute(100)
                .with_burst(10)
                .with_daily_quota(1))
        );
        assert_eq!(spec("1000"), Ok(RateLimitSpec::per_hour(1000)));
        // JSON has one number type: a whole number written with a fraction of zero is
        // the same number; any other fraction is not a count.
        assert_eq!(spec("1000.0"), Ok(RateLimitSpec::per_hour(1000)));
        assert_eq!(
            spec(r#"{"requests": 272.0, "perSeconds": 60.0}"#),
            Ok(RateLimitSpec::per_minute(272))
        );
        assert!(serde_json::from_str::<RateLimitInput>("10.5").is_err());
        assert!(serde_json::from_str::<RateLimitInput>(r#"{"requests": 1.5}"#).is_err());
    }
}

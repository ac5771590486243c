//! `AuthError`: every way a request can be refused, with its status and stable code.

use crate::rate_limit::{RateLimitReport, RateLimitStatus};
use crate::requirement::Requirement;

/// Why a request was refused. Each variant has an HTTP status and a stable `code`.
///
/// Unknown, revoked, rotated-out and wrong-environment keys are all
/// [`AuthError::InvalidKey`], rendered the same way: the API is no oracle for which keys
/// exist. The [`InvalidKeyReason`] is kept for logs and audit events.
///
/// ```
/// use keygate::AuthError;
/// let err = AuthError::MissingKey;
/// assert_eq!((err.status(), err.code()), (401, "missing_api_key"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credential in any configured place.
    #[error("no API key was provided")]
    MissingKey,
    /// Malformed, bad checksum, unknown, revoked, rotated past grace, or wrong env.
    #[error("the API key is invalid ({0})")]
    InvalidKey(InvalidKeyReason),
    /// Past its expiry.
    #[error("the API key has expired")]
    ExpiredKey,
    /// Disabled by an operator (until enabled again). Renderers that hide why a key
    /// was refused (the flat one) render it as any other invalid key.
    #[error("the API key is disabled")]
    DisabledKey,
    /// Two different credentials in one request.
    #[error("more than one API key was provided")]
    ConflictingKeys,
    /// The key lacks a scope the route needs.
    #[error("the API key lacks the scope {required}")]
    InsufficientScope {
        /// What the route needs.
        required: Requirement,
    },
    /// The client IP is not in the key's allowed list.
    #[error("the API key may not be used from this IP address")]
    IpNotAllowed,
    /// The referrer is not in the key's allowed list.
    #[error("the API key may not be used from this referrer")]
    ReferrerNotAllowed,
    /// Over the key's rate limit.
    #[error("rate limit exceeded; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until a request may succeed (`Retry-After`).
        retry_after: u64,
        /// The binding limit's state, for `X-RateLimit-*` headers.
        status: RateLimitStatus,
        /// Every limit applied to the request and which refused it (for the IETF
        /// `RateLimit` fields and `violated-policies`); `None` when the refusal is not a
        /// key's limit (the failure throttle).
        report: Option<std::sync::Arc<RateLimitReport>>,
    },
    /// The key has fewer credits left than the request costs (see
    /// [`crate::credits`]).
    #[error("the API key has no uses left")]
    UsageExceeded {
        /// Seconds until the key's credits refill (`Retry-After`), if they do.
        retry_after: Option<u64>,
    },
    /// The key store could not be reached: fail closed.
    #[error("the key store is unavailable")]
    StoreUnavailable,
}

/// Why a key is invalid. For logs and audit only: all render alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidKeyReason {
    /// Not of the key format, bad checksum, or not UTF-8.
    Malformed,
    /// Not one of the prefixes this server accepts.
    WrongPrefix,
    /// An environment this server does not accept.
    WrongEnvironment,
    /// No key with this hash.
    Unknown,
    /// Revoked.
    Revoked,
    /// Rotated and past its grace period.
    Rotated,
    /// A personal key whose owner was deactivated.
    OwnerDeactivated,
}

impl InvalidKeyReason {
    /// A stable snake_case name, for logs and audit events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongPrefix => "wrong_prefix",
            Self::WrongEnvironment => "wrong_environment",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::Rotated => "rotated",
            Self::OwnerDeactivated => "owner_deactivated",
        }
    }
}

impl std::fmt::Display for InvalidKeyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuthError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingKey | Self::InvalidKey(_) | Self::ExpiredKey | Self::DisabledKey => 401,
            Self::ConflictingKeys => 400,
            Self::InsufficientScope { .. } | Self::IpNotAllowed | Self::ReferrerNotAllowed => 403,
            Self::RateLimited { .. } | Self::UsageExceeded { .. } => 429,
            Self::StoreUnavailable => 503,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_api_key",
            Self::InvalidKey(_) => "invalid_api_key",
            Self::ExpiredKey => "expired_api_key",
            Self::DisabledKey => "key_disabled",
            Self::ConflictingKeys => "conflicting_api_keys",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::ReferrerNotAllowed => "referrer_not_allowed",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::UsageExceeded { .. } => "usage_exceeded",
            Self::StoreUnavailable => "store_unavailable",
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750), for the errors that carry one.
    ///
    /// It tells an expired key (`"The API key has expired"`) from any other invalid
    /// one. A response whose body does not tell them apart must not either: renderers
    /// choose with [`ErrorRenderer::challenge`](crate::render::ErrorRenderer::challenge), which
    /// by default uses [`AuthError::generic_www_authenticate`].
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::MissingKey => Some("Bearer".to_owned()),
            Self::InvalidKey(_) => Some(
                r#"Bearer error="invalid_token", error_description="The API key is invalid""#
                    .to_owned(),
            ),
            Self::ExpiredKey => Some(
                r#"Bearer error="invalid_token", error_description="The API key has expired""#
                    .to_owned(),
            ),
            Self::DisabledKey => Some(
                r#"Bearer error="invalid_token", error_description="The API key is disabled""#
                    .to_owned(),
            ),
            Self::ConflictingKeys => Some(
                r#"Bearer error="invalid_request", error_description="Send exactly one API key""#
                    .to_owned(),
            ),
            Self::InsufficientScope { required } => {
                let scopes: Vec<String> = required.scopes().iter().map(|s| s.to_string()).collect();
                Some(format!(
                    r#"Bearer error="insufficient_scope", scope="{}""#,
                    scopes.join(" ")
                ))
            }
            Self::IpNotAllowed
            | Self::ReferrerNotAllowed
            | Self::RateLimited { .. }
            | Self::UsageExceeded { .. }
            | Self::StoreUnavailable => None,
        }
    }

    /// [`AuthError::www_authenticate`] without the reason a key was refused: an expired
    /// key gets the same `error="invalid_token"` challenge as an unknown or revoked one.
    ///
    /// ```
    /// use keygate::AuthError;
    /// use keygate::error::InvalidKeyReason;
    /// assert_eq!(
    ///     AuthError::ExpiredKey.generic_www_authenticate(),
    ///     AuthError::InvalidKey(InvalidKeyReason::Revoked).generic_www_authenticate(),
    /// );
    /// ```
    pub fn generic_www_authenticate(&self) -> Option<String> {
        match self {
            Self::ExpiredKey | Self::DisabledKey => {
                Self::InvalidKey(InvalidKeyReason::Unknown).www_authenticate()
            }
            other => other.www_authenticate(),
        }
    }

    /// Seconds until the request may succeed (`Retry-After`): over a rate limit, or
    /// out of credits that refill.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::UsageExceeded { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// The canonical reason phrase of [`AuthError::status`].
    pub fn status_text(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            429 => "Too Many Requests",
            _ => "Service Unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_codes_and_challenges() {
        let scope = AuthError::InsufficientScope {
            required: Requirement::parse("any(write:items, admin)")
                .unwrap_or_else(|e| panic!("{e}")),
        };
        let table: Vec<(AuthError, u16, &str, Option<&str>)> = vec![
            (
                AuthError::MissingKey,
                401,
                "missing_api_key",
                Some("Bearer"),
            ),
            (
                AuthError::InvalidKey(InvalidKeyReason::Revoked),
                401,
                "invalid_api_key",
                Some(r#"Bearer error="invalid_token", error_description="The API key is invalid""#),
            ),
            (
                AuthError::ExpiredKey,
                401,
                "expired_api_key",
                Some(
                    r#"Bearer error="invalid_token", error_description="The API key has expired""#,
                ),
            ),
            (
                AuthError::DisabledKey,
                401,
                "key_disabled",
                Some(
                    r#"Bearer error="invalid_token", error_description="The API key is disabled""#,
                ),
            ),
            (
                AuthError::ConflictingKeys,
                400,
                "conflicting_api_keys",
                Some(
                    r#"Bearer error="invalid_request", error_description="Send exactly one API key""#,
                ),
            ),
            (
                scope,
                403,
                "insufficient_scope",
                Some(r#"Bearer error="insufficient_scope", scope="write:items admin""#),
            ),
            (AuthError::IpNotAllowed, 403, "ip_not_allowed", None),
            (
                AuthError::ReferrerNotAllowed,
                403,
                "referrer_not_allowed",
                None,
            ),
            (
                AuthError::UsageExceeded { retry_after: None },
                429,
                "usage_exceeded",
                None,
            ),
            (AuthError::StoreUnavailable, 503, "store_unavailable", None),
        ];
        for (err, status, code, challenge) in table {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.code(), code);
            assert_eq!(err.www_authenticate().as_deref(), challenge);
        }
    }
}

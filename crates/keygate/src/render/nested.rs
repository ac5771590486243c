use serde::Serialize;

use super::{describe_missing, BodySchema, ErrorBody, ErrorRenderer};
use crate::error::AuthError;

/// `{"error": {"code", "message", "details"}}`, plus `retryAfter` on 429.
///
/// By default `code` is the class of the error, as in Stripe-like APIs: `unauthorized`,
/// `forbidden`, `bad_request`, `rate_limit_exceeded`, `service_unavailable`. With
/// [`NestedRenderer::specific_codes`] it is [`AuthError::code`] instead (e.g.
/// `expired_api_key`).
///
/// ```
/// use keygate::{AuthError, Requirement};
/// use keygate::render::{ErrorRenderer, NestedRenderer};
/// let err = AuthError::InsufficientScope { required: Requirement::parse("write:opportunities")? };
/// let body = String::from_utf8(NestedRenderer::new().render(&err).body)?;
/// assert_eq!(body, r#"{"error":{"code":"forbidden","message":"Insufficient permissions","details":"This API key does not have 'write' permission for opportunities"}}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NestedRenderer {
    specific_codes: bool,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Nested<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Nested<'a> {
    code: &'a str,
    message: &'a str,
    details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl NestedRenderer {
    /// Class codes (`unauthorized`, `forbidden`, …).
    pub fn new() -> Self {
        Self::default()
    }

    /// Use [`AuthError::code`] (`expired_api_key`, `ip_not_allowed`, …) as `code`.
    #[must_use]
    pub fn specific_codes(mut self) -> Self {
        self.specific_codes = true;
        self
    }
}

impl ErrorRenderer for NestedRenderer {
    fn body_schema(&self) -> BodySchema {
        BodySchema {
            content_type: "application/json",
            schema: nested_schema(),
        }
    }

    /// The body says "Expired API key", so the challenge may say it too.
    fn challenge(&self, error: &AuthError) -> Option<String> {
        error.www_authenticate()
    }

    fn render(&self, error: &AuthError) -> ErrorBody {
        let (class, message, details) = match error {
            AuthError::MissingKey => (
                "unauthorized",
                "Missing API key",
                "No API key was provided with the request".to_owned(),
            ),
            AuthError::InvalidKey(_) => (
                "unauthorized",
                "Invalid API key",
                "The API key provided is invalid or has been revoked".to_owned(),
            ),
            AuthError::ExpiredKey => (
                "unauthorized",
                "Expired API key",
                "The API key provided has expired".to_owned(),
            ),
            AuthError::DisabledKey => (
                "unauthorized",
                "Disabled API key",
                "The API key provided is disabled".to_owned(),
            ),
            AuthError::ConflictingKeys => (
                "bad_request",
                "Conflicting API keys",
                "Send exactly one API key per request".to_owned(),
            ),
            AuthError::InsufficientScope { required } => (
                "forbidden",
                "Insufficient permissions",
                describe_missing(required),
            ),
            AuthError::IpNotAllowed => (
                "forbidden",
                "Access denied",
                "This API key may not be used from this IP address".to_owned(),
            ),
            AuthError::ReferrerNotAllowed => (
                "forbidden",
                "Access denied",
                "This API key may not be used from this referrer".to_owned(),
            ),
            AuthError::RateLimited { retry_after, .. } => (
                "rate_limit_exceeded",
                "Rate limit exceeded",
                format!("Rate limit will reset in {retry_after} seconds"),
            ),
            AuthError::UsageExceeded { retry_after } => (
                "usage_exceeded",
                "Usage limit exceeded",
                match retry_after {
                    Some(after) => {
                        format!("This API key has no uses left; they refill in {after} seconds")
                    }
                    None => "This API key has no uses left".to_owned(),
                },
            ),
            AuthError::StoreUnavailable => (
                "service_unavailable",
                "Service unavailable",
                "API key verification is temporarily unavailable; retry shortly".to_owned(),
            ),
        };
        let retry_after = error.retry_after();
        ErrorBody::json(&Envelope {
            error: Nested {
                code: if self.specific_codes {
                    error.code()
                } else {
                    class
                },
                message,
                details,
                retry_after,
            },
        })
    }
}

/// The schema of `{"error": {"code", "message", "details", "retryAfter"?}}`.
fn nested_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["error"],
        "additionalProperties": false,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "additionalProperties": false,
                "properties": {
                    "code": {"type": "string", "description": "Stable, e.g. unauthorized, forbidden, rate_limit_exceeded, usage_exceeded"},
                    "message": {"type": "string"},
                    "details": {"type": "string"},
                    "retryAfter": {"type": "integer", "minimum": 0, "description": "Seconds, on 429"}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidKeyReason;
    use crate::rate_limit::RateLimitStatus;

    fn body(r: NestedRenderer, e: &AuthError) -> String {
        String::from_utf8(r.render(e).body).expect("UTF-8")
    }

    #[test]
    fn seed_shaped_bodies() {
        assert_eq!(
            body(
                NestedRenderer::new(),
                &AuthError::InvalidKey(InvalidKeyReason::Revoked)
            ),
            r#"{"error":{"code":"unauthorized","message":"Invalid API key","details":"The API key provided is invalid or has been revoked"}}"#
        );
        let limited = AuthError::RateLimited {
            retry_after: 1847,
            status: RateLimitStatus {
                limit: 1000,
                remaining: 0,
                reset: 0,
            },
            report: None,
        };
        assert_eq!(
            body(NestedRenderer::new(), &limited),
            r#"{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded","details":"Rate limit will reset in 1847 seconds","retryAfter":1847}}"#
        );
        assert!(body(
            NestedRenderer::new().specific_codes(),
            &AuthError::ExpiredKey
        )
        .contains(r#""code":"expired_api_key""#));
    }
}

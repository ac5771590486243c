use serde::Serialize;

use super::{BodySchema, ErrorBody, ErrorRenderer};
use crate::error::AuthError;

/// The default body: `{"error": "<status text>", "message": "<sentence>"}`.
///
/// Every 401 reads `Missing or invalid API key.`, every 403
/// `You do not have permission to perform this action.`: no hint of which check failed,
/// in the body or in `WWW-Authenticate` (an expired key gets the same
/// `error="invalid_token"` challenge as an unknown or revoked one; see
/// [`ErrorRenderer::challenge`]).
///
/// ```
/// use keygate::AuthError;
/// use keygate::render::{ErrorRenderer, FlatRenderer};
/// let body = FlatRenderer.render(&AuthError::MissingKey).body;
/// assert_eq!(body, br#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatRenderer;

#[derive(Serialize)]
struct Flat<'a> {
    error: &'a str,
    message: String,
}

impl ErrorRenderer for FlatRenderer {
    fn body_schema(&self) -> BodySchema {
        BodySchema {
            content_type: "application/json",
            schema: serde_json::json!({
                "type": "object",
                "required": ["error", "message"],
                "additionalProperties": false,
                "properties": {
                    "error": {"type": "string", "description": "The status text, e.g. Unauthorized"},
                    "message": {"type": "string"}
                }
            }),
        }
    }

    fn render(&self, error: &AuthError) -> ErrorBody {
        let message = match error.status() {
            401 => "Missing or invalid API key.".to_owned(),
            403 => "You do not have permission to perform this action.".to_owned(),
            400 => "Send exactly one API key per request.".to_owned(),
            429 => match error {
                AuthError::RateLimited { retry_after, .. } => {
                    format!("Rate limit exceeded. Retry in {retry_after} seconds.")
                }
                AuthError::UsageExceeded { .. } => "Usage limit exceeded.".to_owned(),
                _ => "Rate limit exceeded.".to_owned(),
            },
            _ => "API key verification is temporarily unavailable.".to_owned(),
        };
        ErrorBody::json(&Flat {
            error: error.status_text(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidKeyReason;

    fn body(e: &AuthError) -> String {
        String::from_utf8(FlatRenderer.render(e).body).expect("UTF-8")
    }

    #[test]
    fn exact_bodies() {
        let unauthorized = r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;
        assert_eq!(body(&AuthError::MissingKey), unauthorized);
        assert_eq!(
            body(&AuthError::InvalidKey(InvalidKeyReason::Unknown)),
            unauthorized
        );
        assert_eq!(body(&AuthError::ExpiredKey), unauthorized);
        // A disabled key is no hint either: the caller cannot tell it from a revoked one.
        assert_eq!(body(&AuthError::DisabledKey), unauthorized);
        assert_eq!(
            body(&AuthError::IpNotAllowed),
            r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#
        );
        assert_eq!(
            body(&AuthError::UsageExceeded {
                retry_after: Some(60)
            }),
            r#"{"error":"Too Many Requests","message":"Usage limit exceeded."}"#
        );
        assert_eq!(
            body(&AuthError::StoreUnavailable),
            r#"{"error":"Service Unavailable","message":"API key verification is temporarily unavailable."}"#
        );
    }
}

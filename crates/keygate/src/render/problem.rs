use serde::Serialize;

use super::{describe_missing, BodySchema, ErrorBody, ErrorRenderer};
use crate::error::AuthError;

/// RFC 9457 `application/problem+json`, with the stable code as the `code` member.
///
/// ```
/// use keygate::AuthError;
/// use keygate::render::{ErrorRenderer, ProblemRenderer};
/// let rendered = ProblemRenderer::new().render(&AuthError::ExpiredKey);
/// assert_eq!(rendered.content_type, "application/problem+json");
/// let v: serde_json::Value = serde_json::from_slice(&rendered.body)?;
/// assert_eq!(v["status"], 401);
/// assert_eq!(v["code"], "expired_api_key");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProblemRenderer {
    type_base: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    /// The limits that refused the request (draft-ietf-httpapi-ratelimit-headers).
    #[serde(rename = "violated-policies", skip_serializing_if = "Option::is_none")]
    violated_policies: Option<Vec<String>>,
}

/// The problem type the HTTPAPI draft registers for a request over its quota.
const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

impl ProblemRenderer {
    /// `type` is `about:blank`, or for a request over a key's limits the draft's
    /// `https://iana.org/assignments/http-problem-types#quota-exceeded`, with
    /// `violated-policies` naming the limits that refused it.
    pub fn new() -> Self {
        Self::default()
    }

    /// `type` becomes `<base><code>`, e.g. `https://docs.example.com/errors#` +
    /// `expired_api_key`: point it at your error documentation.
    #[must_use]
    pub fn type_base(mut self, base: impl Into<String>) -> Self {
        self.type_base = Some(base.into());
        self
    }
}

impl ErrorRenderer for ProblemRenderer {
    fn body_schema(&self) -> BodySchema {
        BodySchema {
            content_type: "application/problem+json",
            schema: serde_json::json!({
                "type": "object",
                "required": ["type", "title", "status", "detail", "code"],
                "additionalProperties": false,
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "requiredScope": {"type": "string"},
                    "retryAfter": {"type": "integer", "minimum": 0},
                    "violated-policies": {"type": "array", "items": {"type": "string"}}
                }
            }),
        }
    }

    /// The body's `code` is `expired_api_key`, so the challenge may say it too.
    fn challenge(&self, error: &AuthError) -> Option<String> {
        error.www_authenticate()
    }

    fn render(&self, error: &AuthError) -> ErrorBody {
        let detail = match error {
            AuthError::InsufficientScope { required } => describe_missing(required),
            other => {
                let mut s = other.to_string();
                if let AuthError::InvalidKey(_) = other {
                    // The reason stays in logs: the API is no oracle for which keys exist.
                    s = "the API key is invalid".to_owned();
                }
                s
            }
        };
        let violated_policies = match error {
            AuthError::RateLimited {
                report: Some(report),
                ..
            } => Some(report.violated()),
            _ => None,
        };
        let problem = Problem {
            kind: match (&self.type_base, &violated_policies) {
                (Some(base), _) => format!("{base}{}", error.code()),
                (None, Some(_)) => QUOTA_EXCEEDED.to_owned(),
                (None, None) => "about:blank".to_owned(),
            },
            title: error.status_text(),
            status: error.status(),
            detail,
            code: error.code(),
            required_scope: match error {
                AuthError::InsufficientScope { required } => Some(required.to_string()),
                _ => None,
            },
            retry_after: error.retry_after(),
            violated_policies,
        };
        ErrorBody::with_content_type("application/problem+json", &problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidKeyReason;

    #[test]
    fn invalid_key_reason_is_not_revealed() {
        let body = ProblemRenderer::new()
            .render(&AuthError::InvalidKey(InvalidKeyReason::Revoked))
            .body;
        let text = String::from_utf8(body).expect("UTF-8");
        assert!(!text.contains("revoked"), "{text}");
        assert!(text.contains(r#""type":"about:blank""#));
    }

    #[test]
    fn type_base_links_the_code() {
        let body = ProblemRenderer::new()
            .type_base("https://d.example/errors#")
            .render(&AuthError::MissingKey)
            .body;
        let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
        assert_eq!(v["type"], "https://d.example/errors#missing_api_key");
    }
}

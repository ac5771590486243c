//! Turning an [`AuthError`] into a response body: flat, nested, problem+json, or yours.

mod flat;
mod nested;
mod problem;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

pub use flat::FlatRenderer;
pub use nested::NestedRenderer;
pub use problem::ProblemRenderer;

use crate::error::AuthError;
use crate::rate_limit::RateLimitHeaders;

/// Renders an [`AuthError`] as a response body. Status and headers
/// (`WWW-Authenticate`, `Retry-After`, `X-RateLimit-*`) are set by keygate around it.
///
/// Any `Fn(&AuthError) -> serde_json::Value` is a renderer too:
///
/// ```
/// use keygate::AuthError;
/// use keygate::render::ErrorRenderer;
/// let mine = |e: &AuthError| serde_json::json!({ "ok": false, "reason": e.code() });
/// let body = mine.render(&AuthError::MissingKey);
/// assert_eq!(body.body, br#"{"ok":false,"reason":"missing_api_key"}"#);
/// assert_eq!(body.content_type, "application/json");
/// ```
pub trait ErrorRenderer: Send + Sync + 'static {
    /// The body for `error`.
    fn render(&self, error: &AuthError) -> ErrorBody;

    /// The `WWW-Authenticate` header for `error`, if it carries one. It must reveal no
    /// more than the body: by default it is [`AuthError::generic_www_authenticate`],
    /// which says `invalid_token` alike for invalid, revoked and expired keys.
    /// Renderers whose body tells an expired key apart ([`NestedRenderer`],
    /// [`ProblemRenderer`]) return [`AuthError::www_authenticate`], which says so.
    ///
    /// ```
    /// use keygate::AuthError;
    /// use keygate::render::{ErrorRenderer, FlatRenderer, ProblemRenderer};
    /// let flat = FlatRenderer.challenge(&AuthError::ExpiredKey).expect("every refusal has a challenge");
    /// assert!(!flat.contains("expired"), "{flat}");
    /// let problem = ProblemRenderer::new().challenge(&AuthError::ExpiredKey).expect("every refusal has a challenge");
    /// assert!(problem.contains("expired"), "{problem}");
    /// ```
    fn challenge(&self, error: &AuthError) -> Option<String> {
        error.generic_www_authenticate()
    }

    /// What this renderer's bodies look like, as a JSON Schema, for API documents
    /// (keygate-admin's OpenAPI document uses it). By default: any JSON, as
    /// `application/json`; a renderer with a fixed shape should say so.
    ///
    /// ```
    /// use keygate::render::{ErrorRenderer, FlatRenderer};
    /// let schema = FlatRenderer.body_schema();
    /// assert_eq!(schema.content_type, "application/json");
    /// assert_eq!(schema.schema["required"], serde_json::json!(["error", "message"]));
    /// ```
    fn body_schema(&self) -> BodySchema {
        BodySchema {
            content_type: "application/json",
            schema: serde_json::json!({}),
        }
    }
}

/// The content type and JSON Schema of a renderer's bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct BodySchema {
    /// `Content-Type` of every body.
    pub content_type: &'static str,
    /// A JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) every body satisfies.
    pub schema: serde_json::Value,
}

impl<F> ErrorRenderer for F
where
    F: Fn(&AuthError) -> serde_json::Value + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError) -> ErrorBody {
        ErrorBody::json(&self(error))
    }
}

/// A rendered body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// `Content-Type` of `body`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: Vec<u8>,
}

impl ErrorBody {
    /// `value` as `application/json`.
    pub fn json(value: &impl Serialize) -> Self {
        Self::with_content_type("application/json", value)
    }

    /// `value` serialized as JSON, with another content type (e.g. problem+json).
    pub fn with_content_type(content_type: &'static str, value: &impl Serialize) -> Self {
        // Serializing plain structs and `serde_json::Value` cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self { content_type, body }
    }
}

/// A whole error response, framework-free: adapters copy it into their own types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, lower-case names, including `content-type`.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A renderer shared by a whole service (`Arc`), cheap to clone into request extensions.
///
/// ```
/// use keygate::AuthError;
/// use keygate::render::{NestedRenderer, SharedRenderer};
/// let renderer = SharedRenderer::new(NestedRenderer::new());
/// let response = renderer.response(&AuthError::MissingKey);
/// assert_eq!(response.status, 401);
/// assert!(response.headers.contains(&("www-authenticate", "Bearer".to_owned())));
/// ```
///
/// It also carries which rate-limit fields responses get ([`RateLimitHeaders`]), so a
/// refusal and a success of the same service say the same thing.
#[derive(Clone)]
pub struct SharedRenderer {
    renderer: Arc<dyn ErrorRenderer>,
    rate_limit_headers: RateLimitHeaders,
}

impl SharedRenderer {
    /// Shares `renderer` (with `X-RateLimit-*` fields).
    pub fn new(renderer: impl ErrorRenderer) -> Self {
        Self {
            renderer: Arc::new(renderer),
            rate_limit_headers: RateLimitHeaders::default(),
        }
    }

    /// The same renderer, with the rate-limit fields of `style`.
    ///
    /// ```
    /// use keygate::render::SharedRenderer;
    /// use keygate::rate_limit::RateLimitHeaders;
    /// let renderer = SharedRenderer::default().with_rate_limit_headers(RateLimitHeaders::Ietf);
    /// assert_eq!(renderer.rate_limit_headers(), RateLimitHeaders::Ietf);
    /// ```
    #[must_use]
    pub fn with_rate_limit_headers(mut self, style: RateLimitHeaders) -> Self {
        self.rate_limit_headers = style;
        self
    }

    /// Which rate-limit fields responses carry.
    pub fn rate_limit_headers(&self) -> RateLimitHeaders {
        self.rate_limit_headers
    }

    /// What the bodies look like (see [`ErrorRenderer::body_schema`]).
    pub fn body_schema(&self) -> BodySchema {
        self.renderer.body_schema()
    }

    /// The full response for `error`: status, headers (the `WWW-Authenticate` from
    /// [`ErrorRenderer::challenge`]) and body.
    pub fn response(&self, error: &AuthError) -> ErrorResponse {
        let ErrorBody { content_type, body } = self.renderer.render(error);
        let mut headers = vec![("content-type", content_type.to_owned())];
        if let Some(challenge) = self.renderer.challenge(error) {
            headers.push(("www-authenticate", challenge));
        }
        if let AuthError::UsageExceeded {
            retry_after: Some(after),
        } = error
        {
            headers.push(("retry-after", after.to_string()));
        }
        if let AuthError::RateLimited {
            retry_after,
            status,
            report,
        } = error
        {
            headers.push(("retry-after", retry_after.to_string()));
            match report {
                Some(report) => {
                    let text = report.header_text(self.rate_limit_headers);
                    headers.extend(
                        text.iter().map(|(name, value)| {
                            (name, String::from_utf8_lossy(value).into_owned())
                        }),
                    );
                }
                // Not a key's limit (the failure throttle): its state, the legacy way.
                None if self.rate_limit_headers != RateLimitHeaders::Ietf => {
                    headers.extend(status.headers());
                }
                None => {}
            }
        }
        headers.push(("cache-control", "no-store".to_owned()));
        ErrorResponse {
            status: error.status(),
            headers,
            body,
        }
    }
}

impl Default for SharedRenderer {
    fn default() -> Self {
        Self::new(FlatRenderer)
    }
}

impl fmt::Debug for SharedRenderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRenderer")
            .field("rate_limit_headers", &self.rate_limit_headers)
            .finish_non_exhaustive()
    }
}

/// A sentence naming what a missing requirement needed, e.g.
/// "This API key does not have 'write' permission for opportunities".
pub(crate) fn describe_missing(required: &crate::Requirement) -> String {
    use crate::Requirement;
    match required {
        Requirement::Scope(s) => match (s.action(), s.resource()) {
            (Some(action), Some(resource)) => {
                format!("This API key does not have '{action}' permission for {resource}")
            }
            (Some(action), None) => format!("This API key does not have '{action}' permission"),
            (None, Some(resource)) => {
                format!("This API key does not have permission for {resource}")
            }
            (None, None) => "This API key does not have full access".to_owned(),
        },
        Requirement::Any(_) => format!("This API key needs one of the scopes {required}"),
        Requirement::All(_) => format!("This API key needs all of the scopes {required}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::RateLimitStatus;
    use crate::Requirement;

    #[test]
    fn rate_limited_response_has_retry_after_and_limit_headers() {
        let err = AuthError::RateLimited {
            retry_after: 7,
            status: RateLimitStatus {
                limit: 10,
                remaining: 0,
                reset: 1_700_000_007,
            },
            report: None,
        };
        let res = SharedRenderer::default().response(&err);
        assert_eq!(res.status, 429);
        for (name, value) in [
            ("retry-after", "7"),
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000007"),
        ] {
            assert!(res.headers.contains(&(name, value.to_owned())), "{name}");
        }
    }

    fn challenge_of(renderer: SharedRenderer, error: &AuthError) -> Option<String> {
        renderer
            .response(error)
            .headers
            .into_iter()
            .find(|(name, _)| *name == "www-authenticate")
            .map(|(_, value)| value)
    }

    #[test]
    fn the_flat_renderer_does_not_say_expired_in_the_challenge() {
        use crate::error::InvalidKeyReason;
        let invalid = r#"Bearer error="invalid_token", error_description="The API key is invalid""#;
        let flat = SharedRenderer::default();
        for error in [
            AuthError::ExpiredKey,
            AuthError::DisabledKey,
            AuthError::InvalidKey(InvalidKeyReason::Revoked),
            AuthError::InvalidKey(InvalidKeyReason::Unknown),
        ] {
            assert_eq!(
                challenge_of(flat.clone(), &error).as_deref(),
                Some(invalid),
                "{error}"
            );
        }
        // A closure renderer cannot say what its body reveals: generic too.
        let custom =
            SharedRenderer::new(|e: &AuthError| serde_json::json!({ "status": e.status() }));
        assert_eq!(
            challenge_of(custom, &AuthError::ExpiredKey).as_deref(),
            Some(invalid)
        );
        // Other challenges are unchanged.
        assert_eq!(
            challenge_of(flat, &AuthError::MissingKey).as_deref(),
            Some("Bearer")
        );
    }

    #[test]
    fn renderers_that_show_expiry_in_the_body_keep_it_in_the_challenge() {
        let expired =
            r#"Bearer error="invalid_token", error_description="The API key has expired""#;
        for renderer in [
            SharedRenderer::new(NestedRenderer::new()),
            SharedRenderer::new(NestedRenderer::new().specific_codes()),
            SharedRenderer::new(ProblemRenderer::new()),
        ] {
            let body =
                String::from_utf8(renderer.response(&AuthError::ExpiredKey).body).expect("UTF-8");
            assert!(body.to_lowercase().contains("expired"), "{body}");
            assert_eq!(
                challenge_of(renderer, &AuthError::ExpiredKey).as_deref(),
                Some(expired)
            );
        }
    }

    #[test]
    fn renderers_that_name_the_code_tell_a_disabled_key() {
        let disabled =
            r#"Bearer error="invalid_token", error_description="The API key is disabled""#;
        for renderer in [
            SharedRenderer::new(NestedRenderer::new().specific_codes()),
            SharedRenderer::new(ProblemRenderer::new()),
        ] {
            let response = renderer.response(&AuthError::DisabledKey);
            assert_eq!(response.status, 401);
            let body = String::from_utf8(response.body).expect("UTF-8");
            assert!(body.to_lowercase().contains("disabled"), "{body}");
            assert_eq!(
                challenge_of(renderer, &AuthError::DisabledKey).as_deref(),
                Some(disabled)
            );
        }
    }

    #[test]
    fn describes_missing_requirements() {
        let d =
            |s: &str| describe_missing(&Requirement::parse(s).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            d("write:opportunities"),
            "This API key does not have 'write' permission for opportunities"
        );
        assert_eq!(d("write"), "This API key does not have 'write' permission");
        assert_eq!(
            d("*:scans"),
            "This API key does not have permission for scans"
        );
        assert_eq!(d("admin"), "This API key does not have full access");
        assert_eq!(
            d("any(a:b, c:d)"),
            "This API key needs one of the scopes any(a:b, c:d)"
        );
    }
}

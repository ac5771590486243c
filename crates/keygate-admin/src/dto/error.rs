use serde::Serialize;
use utoipa::ToSchema;

/// An error answer: `{"error": {"code", "message", "details"}}` with an HTTP status.
///
/// ```
/// let err = keygate_admin::dto::ApiError::unprocessable("name must not be empty");
/// assert_eq!(err.status, 422);
/// assert_eq!(err.body()["error"]["code"], "invalid_request");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// One sentence.
    pub message: &'static str,
    /// What exactly is wrong.
    pub details: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

/// The inner object of an error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a str,
}

impl ApiError {
    fn new(
        status: u16,
        code: &'static str,
        message: &'static str,
        details: impl Into<String>,
    ) -> Self {
        let details = details.into();
        // Details may quote what the caller sent; a key pasted where it does not
        // belong is not sent back (nor logged or audited with the answer).
        let details = match keygate::secret_scan::redact_keys(&details) {
            std::borrow::Cow::Borrowed(_) => details,
            std::borrow::Cow::Owned(redacted) => redacted,
        };
        Self {
            status,
            code,
            message,
            details,
        }
    }

    /// 400: the body is not JSON, or a query parameter is wrong.
    pub fn bad_request(details: impl Into<String>) -> Self {
        Self::new(400, "bad_request", "Bad request", details)
    }

    /// 422: well-formed JSON with wrong fields or values.
    pub fn unprocessable(details: impl Into<String>) -> Self {
        Self::new(422, "invalid_request", "Invalid request", details)
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            "Payload too large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// 401: no verified key (the admin routes must sit behind keygate's layer).
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "unauthorized",
            "Missing or invalid API key",
            "No verified API key on this request",
        )
    }

    /// 403: the key lacks the route's scope.
    pub fn missing_scope(scope: &str) -> Self {
        Self::new(
            403,
            "forbidden",
            "Insufficient permissions",
            format!("This API key needs the '{scope}' scope"),
        )
    }

    /// 403: key management over the API is turned off.
    pub fn management_disabled() -> Self {
        Self::new(
            403,
            "key_management_disabled",
            "Key management is disabled",
            "API keys cannot be managed through the API on this service; use the keygate CLI",
        )
    }

    /// 404.
    pub fn not_found(details: impl Into<String>) -> Self {
        Self::new(404, "not_found", "Not found", details)
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }

    /// The JSON body as bytes (fields in a fixed order).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorEnvelope {
            error: ErrorBody {
                code: self.code,
                message: self.message,
                details: &self.details,
            },
        })
        .unwrap_or_default()
    }
}

impl From<keygate::manager::ManageError> for ApiError {
    fn from(err: keygate::manager::ManageError) -> Self {
        use keygate::manager::ManageError as M;
        let details = err.to_string();
        match &err {
            M::Store(keygate::StoreError::InvalidCursor) => {
                Self::bad_request("cursor is not valid; pass the nextCursor of a previous page")
            }
            M::NotFound => Self::not_found("No API key with this id"),
            M::Forbidden(why) => {
                Self::new(403, "forbidden", "Insufficient permissions", why.clone())
            }
            M::Invalid(why) => Self::unprocessable(why.clone()),
            M::Conflict(why) => Self::new(409, "conflict", "Conflict", why.clone()),
            _ => match err.status() {
                409 => Self::new(409, "conflict", "Conflict", details),
                503 => Self::new(
                    503,
                    "service_unavailable",
                    "Service unavailable",
                    "The key store is unavailable; retry shortly",
                ),
                _ => {
                    tracing::error!(error = %details, "keygate-admin: store error");
                    Self::new(
                        500,
                        "internal_error",
                        "Internal error",
                        "The request could not be completed",
                    )
                }
            },
        }
    }
}

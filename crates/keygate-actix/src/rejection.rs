//! Refusals as actix responses, rendered by keygate's renderer.

use std::fmt;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use keygate::render::{ErrorResponse, SharedRenderer};
use keygate::AuthError;

/// An [`AuthError`] with the renderer that turns it into a response: status, every
/// header (`WWW-Authenticate`, `Retry-After`, `Cache-Control`, …) and body exactly as
/// [`SharedRenderer::response`] makes them.
///
/// It is the error of keygate's extractors, and a [`ResponseError`], so a handler can
/// refuse a request the same way the middleware does:
///
/// ```
/// use actix_web::{web, HttpRequest};
/// use keygate::Requirement;
/// use keygate_actix::{AuthRejection, Principal};
///
/// // A requirement read from configuration at start-up (`app_data`), checked and
/// // rendered exactly like `RequireScope` would.
/// async fn export(
///     req: HttpRequest,
///     principal: Principal,
///     need: web::Data<Requirement>,
/// ) -> Result<&'static str, AuthRejection> {
///     principal.require(&need).map_err(|e| AuthRejection::for_request(&req, e))?;
///     Ok("exported")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthRejection {
    error: AuthError,
    renderer: SharedRenderer,
}

impl AuthRejection {
    /// `error`, rendered by `renderer`.
    pub fn new(error: AuthError, renderer: SharedRenderer) -> Self {
        Self { error, renderer }
    }

    /// `error`, rendered by the renderer [`ApiKeyAuth`](crate::ApiKeyAuth) put into
    /// the request's extensions (the default flat renderer when there is none).
    pub fn for_request(req: &HttpRequest, error: AuthError) -> Self {
        Self::new(error, renderer_of(req))
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The error, without the renderer.
    pub fn into_error(self) -> AuthError {
        self.error
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        status(self.error.status())
    }

    fn error_response(&self) -> HttpResponse {
        to_http_response(self.renderer.response(&self.error))
    }
}

/// The renderer in the request's extensions, or the default one.
pub(crate) fn renderer_of(req: &impl HttpMessage) -> SharedRenderer {
    req.extensions()
        .get::<keygate::Authenticated>()
        .map(|a| a.renderer.clone())
        .unwrap_or_default()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Copies a framework-free error response into an actix one: status, every header in
/// order, body bytes.
pub(crate) fn to_http_response(rendered: ErrorResponse) -> HttpResponse {
    let mut response = HttpResponse::with_body(status(rendered.status), rendered.body);
    let headers = response.headers_mut();
    for (name, value) in rendered.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => headers.append(name, value),
            _ => tracing::warn!(
                header = name,
                "keygate: dropped a header that is not valid HTTP"
            ),
        }
    }
    response.map_into_boxed_body()
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::test::TestRequest;
    use keygate::rate_limit::RateLimitStatus;
    use keygate::render::NestedRenderer;

    use super::*;

    #[actix_web::test]
    async fn copies_status_headers_and_body_exactly() {
        let renderer = SharedRenderer::default();
        let error = AuthError::RateLimited {
            retry_after: 7,
            status: RateLimitStatus {
                limit: 10,
                remaining: 0,
                reset: 1_700_000_007,
            },
            report: None,
        };
        let expected = renderer.response(&error);
        let response = AuthRejection::new(error, renderer).error_response();
        assert_eq!(response.status().as_u16(), expected.status);
        let mut actual: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        let mut wanted: Vec<(String, String)> = expected
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        actual.sort();
        wanted.sort();
        assert_eq!(actual, wanted);
        let body = to_bytes(response.into_body())
            .await
            .unwrap_or_else(|_| panic!("body"));
        assert_eq!(body.as_ref(), expected.body.as_slice());
    }

    #[test]
    fn uses_the_renderer_from_extensions() {
        let req = TestRequest::default().to_http_request();
        let flat = AuthRejection::for_request(&req, AuthError::MissingKey);
        assert_eq!(flat.status_code(), StatusCode::UNAUTHORIZED);
        let record = keygate::KeyRecord::new(
            keygate::hash::KeyHasher::Sha256.hash("k"),
            "hint",
            "sk",
            "live",
            "ci",
            "acme",
        );
        req.extensions_mut().insert(
            keygate::Authenticated::new(keygate::Principal::from_record(
                &record,
                keygate::ScopeSet::new(),
            ))
            .with_renderer(SharedRenderer::new(NestedRenderer::new())),
        );
        let nested = AuthRejection::for_request(&req, AuthError::MissingKey);
        let expected = SharedRenderer::new(NestedRenderer::new()).response(&AuthError::MissingKey);
        assert_eq!(nested.renderer.response(nested.error()), expected);
        assert_eq!(nested.to_string(), "no API key was provided");
        assert_eq!(nested.into_error(), AuthError::MissingKey);
    }
}

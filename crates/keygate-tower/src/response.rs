//! Error responses as `http` responses.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use keygate::{AuthError, SharedRenderer};

/// The body of responses from keygate's services: the inner service's body, or a
/// rendered error.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// Renders `error` with `renderer` into a full response.
pub(crate) fn error_response<B>(
    renderer: &SharedRenderer,
    error: &AuthError,
) -> Response<ResponseBody<B>> {
    render(renderer, error).map(Either::Right)
}

/// Renders `error` with `renderer`.
pub(crate) fn render(renderer: &SharedRenderer, error: &AuthError) -> Response<Full<Bytes>> {
    let rendered = renderer.response(error);
    let mut response = Response::new(Full::new(Bytes::from(rendered.body)));
    *response.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in rendered.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    response
}

/// Adds `X-RateLimit-*` headers to a successful response (static names, integer
/// values: nothing parsed).
pub(crate) fn add_rate_limit_headers<B>(
    response: &mut Response<B>,
    status: Option<&keygate::RateLimitStatus>,
) {
    if let Some(status) = status {
        let headers = response.headers_mut();
        for (name, value) in keygate::rate_limit_headers(status) {
            headers.insert(
                http::HeaderName::from_static(name),
                HeaderValue::from(value),
            );
        }
    }
}

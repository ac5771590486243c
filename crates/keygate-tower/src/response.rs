//! Error responses as `http` responses.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use keygate::render::SharedRenderer;
use keygate::AuthError;

/// A response body the keygate layers can answer a refusal with, so a layer's response
/// body is the inner service's own: an axum router keeps `axum::body::Body` through
/// `ApiKeyLayer` and `RequireScope` (nothing boxed per request). Implemented for
/// axum's `Body`, `Full<Bytes>`, the boxed bodies of `http-body-util`,
/// and [`ResponseBody`] (`Either<B, Full<Bytes>>`) for any other inner body: wrap such
/// a service with `.map_response(|r| r.map(Either::Left))`, or implement this trait for
/// your body type.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use keygate_tower::RejectionBody;
/// let body: Full<Bytes> = RejectionBody::rejection(Bytes::from_static(b"{}"));
/// # let _ = body;
/// ```
pub trait RejectionBody: Sized {
    /// The body of a refusal (a rendered error).
    fn rejection(body: Bytes) -> Self;
}

impl RejectionBody for Full<Bytes> {
    fn rejection(body: Bytes) -> Self {
        Full::new(body)
    }
}

impl<B> RejectionBody for Either<B, Full<Bytes>> {
    fn rejection(body: Bytes) -> Self {
        Either::Right(Full::new(body))
    }
}

impl<E> RejectionBody for http_body_util::combinators::BoxBody<Bytes, E> {
    fn rejection(body: Bytes) -> Self {
        use http_body_util::BodyExt;
        Full::new(body).map_err(|never| match never {}).boxed()
    }
}

impl<E> RejectionBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E> {
    fn rejection(body: Bytes) -> Self {
        use http_body_util::BodyExt;
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

/// axum's body (`axum::body::Body` is this type), whether or not the `axum` feature is
/// on.
impl RejectionBody for axum_core::body::Body {
    fn rejection(body: Bytes) -> Self {
        axum_core::body::Body::from(body)
    }
}

/// A body for any inner service: its own body, or a rendered error. Services whose body
/// has no [`RejectionBody`] impl can be mapped into it.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// Renders `error` with `renderer`.
pub(crate) fn render(renderer: &SharedRenderer, error: &AuthError) -> Response<Bytes> {
    let rendered = renderer.response(error);
    let mut response = Response::new(Bytes::from(rendered.body));
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
    status: Option<&keygate::rate_limit::RateLimitStatus>,
) {
    if let Some(status) = status {
        let headers = response.headers_mut();
        for (name, value) in RATE_LIMIT_NAMES.into_iter().zip(rate_limit_values(status)) {
            headers.insert(name, value);
        }
    }
}

/// [`keygate::rate_limit::rate_limit_headers`]'s names, built at compile time: a `const`, so each
/// use is a fresh value, neither parsed nor cloned at run time.
#[allow(clippy::declare_interior_mutable_const)] // `Bytes` of a static str: never mutated.
const RATE_LIMIT_NAMES: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
];

/// The three values, sliced from one shared buffer (one allocation, not one per
/// header).
fn rate_limit_values(
    status: &keygate::rate_limit::RateLimitStatus,
) -> impl Iterator<Item = HeaderValue> {
    let headers = keygate::rate_limit::rate_limit_header_text(status);
    let text = Bytes::from(headers.text);
    headers.values.into_iter().filter_map(move |(_, range)| {
        // Decimal digits are always a valid header value.
        HeaderValue::from_maybe_shared(text.slice(range)).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_carry_the_core_names_and_values() {
        let status = keygate::rate_limit::RateLimitStatus {
            limit: 100,
            remaining: 0,
            reset: 1_800_000_060,
        };
        let mut response = Response::new(());
        add_rate_limit_headers(&mut response, Some(&status));
        for (name, value) in keygate::rate_limit::rate_limit_headers(&status) {
            assert_eq!(
                response.headers().get(name).map(HeaderValue::as_bytes),
                Some(value.to_string().as_bytes())
            );
        }
        assert_eq!(response.headers().len(), 3);
    }
}

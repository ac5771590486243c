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

/// Adds the rate-limit fields to a successful response (names built at compile time,
/// values sliced from one buffer: nothing parsed, one allocation).
pub(crate) fn add_rate_limit_headers<B>(
    response: &mut Response<B>,
    fields: Option<keygate::rate_limit::RateLimitHeaderText>,
) {
    if let Some(mut fields) = fields {
        let headers = response.headers_mut();
        let text = Bytes::from(std::mem::take(&mut fields.text));
        for (index, range) in fields.ranges() {
            // Digits and Structured Field lists of checked names: always valid values.
            if let Ok(value) = HeaderValue::from_maybe_shared(text.slice(range)) {
                headers.insert(rate_limit_name(index), value);
            }
        }
    }
}

/// Field `index` of [`keygate::rate_limit::RATE_LIMIT_FIELDS`] as a header name, built
/// at compile time: each arm is a constant, so only the one asked for is made (an array
/// constant would build and drop all five on every use).
fn rate_limit_name(index: usize) -> HeaderName {
    const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
    const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
    const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
    const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    const STATE: HeaderName = HeaderName::from_static("ratelimit");
    match index {
        0 => LIMIT,
        1 => REMAINING,
        2 => RESET,
        3 => POLICY,
        _ => STATE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_carry_the_core_names_and_values() {
        use keygate::rate_limit::{
            GcraState, LimitName, Policy, RateLimitHeaders, RateLimitReport,
        };
        let spec = keygate::RateLimitSpec::per_hour(100).with_daily_quota(1000);
        let now = 1_800_000_000_000_000;
        let step = GcraState::step(None, &spec, now);
        let report = RateLimitReport::new(
            now,
            Policy::after(LimitName::default_limit(), &spec, &step, true, now),
        );
        for (index, field) in keygate::rate_limit::RATE_LIMIT_FIELDS.iter().enumerate() {
            assert_eq!(rate_limit_name(index).as_str(), *field);
        }
        for style in [RateLimitHeaders::XRateLimit, RateLimitHeaders::Both] {
            let mut response = Response::new(());
            let fields = report.header_text(style);
            add_rate_limit_headers(&mut response, Some(fields.clone()));
            for (name, value) in fields.iter() {
                assert_eq!(
                    response.headers().get(name).map(HeaderValue::as_bytes),
                    Some(value)
                );
            }
            assert_eq!(response.headers().len(), fields.iter().count());
        }
    }
}

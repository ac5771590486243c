//! The headers every dashboard answer carries.

use super::http::DashboardResponse;

/// The Content-Security-Policy: nothing but the dashboard's own stylesheet and script
/// files (no inline script or style), forms posting to itself, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers; pages (not the static files) are never stored by caches,
/// so a page that showed a new key is not kept anywhere.
pub(crate) fn secure(mut response: DashboardResponse) -> DashboardResponse {
    let cacheable = response.header("cache-control").is_some();
    let headers = &mut response.headers;
    headers.push((
        "content-security-policy",
        CONTENT_SECURITY_POLICY.to_owned(),
    ));
    headers.push(("x-frame-options", "DENY".to_owned()));
    headers.push(("referrer-policy", "no-referrer".to_owned()));
    headers.push(("x-content-type-options", "nosniff".to_owned()));
    headers.push(("cross-origin-opener-policy", "same-origin".to_owned()));
    headers.push(("cross-origin-resource-policy", "same-origin".to_owned()));
    if !cacheable {
        headers.push(("cache-control", "no-store".to_owned()));
    }
    response
}

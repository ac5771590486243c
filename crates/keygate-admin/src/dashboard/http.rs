//! The dashboard's request and response, as plain values: the axum and actix mounts
//! only copy fields in and out.

use std::net::IpAddr;

/// A request to the dashboard.
///
/// ```
/// use keygate_admin::dashboard::DashboardRequest;
/// let req = DashboardRequest {
///     method: "GET",
///     path: "/dashboard/keys",
///     ..DashboardRequest::default()
/// };
/// assert_eq!(req.body.len(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DashboardRequest<'a> {
    /// `GET` or `POST` (others get 405).
    pub method: &'a str,
    /// The full path, the mount path included (`/dashboard/keys`).
    pub path: &'a str,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Host` header.
    pub host: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// Whether the browser reached the server over https (the session cookie is then
    /// `Secure`).
    pub https: bool,
    /// The client IP: for keys with IP restrictions, and audit events.
    pub client_ip: Option<IpAddr>,
    /// The body (a form, `application/x-www-form-urlencoded`).
    pub body: &'a [u8],
}

/// The dashboard's answer: status, headers (lower-case names) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, security headers included.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// One response type for the framework adapters to translate: a page is answered as
/// an admin API response is.
impl From<DashboardResponse> for crate::handler::AdminResponse {
    fn from(page: DashboardResponse) -> Self {
        Self {
            status: page.status,
            headers: page.headers,
            body: page.body,
        }
    }
}

impl DashboardResponse {
    pub(crate) fn html(status: u16, markup: maud::Markup) -> Self {
        Self {
            status,
            headers: vec![("content-type", "text/html; charset=utf-8".to_owned())],
            body: markup.into_string().into_bytes(),
        }
    }

    pub(crate) fn redirect(to: String) -> Self {
        Self {
            status: 303,
            headers: vec![("location", to)],
            body: Vec::new(),
        }
    }

    pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("cache-control", "public, max-age=3600".to_owned()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The value of header `name` (lower-case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let h = Some("a=1; keygate_session=abc ; b=2");
        assert_eq!(cookie(h, "keygate_session"), Some("abc"));
        assert_eq!(cookie(h, "c"), None);
        assert_eq!(cookie(None, "a"), None);
    }
}

//! An actix request as keygate's framework-free [`RequestParts`].

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::http::{Method, Uri};
use actix_web::HttpMessage;
use keygate::request::{ClientIp, RequestParts};

/// `X-API-KEY`, the most common API-key header.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// A borrowed view of a request's headers, URI and client IP.
pub(crate) struct ActixParts<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) uri: &'a Uri,
    pub(crate) method: &'a Method,
    pub(crate) client_ip: Option<IpAddr>,
}

impl<'a> ActixParts<'a> {
    /// The parts of `req`; the client IP is a [`ClientIp`] in its extensions (set by an
    /// earlier middleware), else the connection's peer.
    pub(crate) fn of(req: &'a ServiceRequest) -> Self {
        let client_ip = req
            .extensions()
            .get::<ClientIp>()
            .map(|ip| ip.0)
            .or_else(|| req.peer_addr().map(|addr| addr.ip()));
        Self {
            headers: req.headers(),
            uri: req.uri(),
            method: req.method(),
            client_ip,
        }
    }
}

impl RequestParts for ActixParts<'_> {
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        // The names keygate asks for on every request, as constants: a `&str` name is
        // parsed and validated on each lookup.
        let values = match name {
            "authorization" => self.headers.get_all(header::AUTHORIZATION),
            "referer" => self.headers.get_all(header::REFERER),
            "x-api-key" => self.headers.get_all(&X_API_KEY),
            other => self.headers.get_all(other),
        };
        values.map(|value| value.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn path(&self) -> &str {
        self.uri.path()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use keygate::request::{extract_credential, CredentialSource};
    use keygate::AuthError;

    use super::*;

    fn sources() -> Vec<CredentialSource> {
        vec![
            CredentialSource::Bearer,
            CredentialSource::header("X-API-KEY"),
            CredentialSource::query("api_key"),
        ]
    }

    #[test]
    fn reads_every_value_of_a_header_and_the_raw_query() {
        let req = TestRequest::get()
            .uri("/p?a=1&api_key=k")
            .append_header(("x-api-key", "k"))
            .append_header(("X-Api-Key", "k"))
            .to_http_request();
        let parts = ActixParts {
            headers: req.headers(),
            uri: req.uri(),
            method: req.method(),
            client_ip: None,
        };
        let mut seen = Vec::new();
        seen.extend(parts.header_values("x-api-key").map(<[u8]>::to_vec));
        assert_eq!(seen, vec![b"k".to_vec(), b"k".to_vec()]);
        assert_eq!(parts.query(), Some("a=1&api_key=k"));
        let found = extract_credential(&sources(), &parts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.key(), "k");
        assert_eq!(found.found_in.indexes().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn no_query_and_conflicting_values() {
        let req = TestRequest::get()
            .uri("/p")
            .append_header(("x-api-key", "a"))
            .append_header(("x-api-key", "b"))
            .to_http_request();
        let parts = ActixParts {
            headers: req.headers(),
            uri: req.uri(),
            method: req.method(),
            client_ip: None,
        };
        assert_eq!(parts.query(), None);
        assert_eq!(
            extract_credential(&sources(), &parts).err(),
            Some(AuthError::ConflictingKeys)
        );
    }
}

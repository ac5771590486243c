//! `http` requests as keygate's framework-free `RequestParts`, and credential hiding.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderName, Request, Uri};
use keygate::request::{ClientIp, CredentialSource, FoundIn, RequestParts};
use keygate::KeyGate;

/// `X-API-KEY`, the most common API-key header.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// A borrowed view of a request for credential extraction.
pub(crate) struct HttpParts<'a, B>(pub(crate) &'a Request<B>);

impl<B> RequestParts for HttpParts<'_, B> {
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        // The names keygate asks for on every request, as constants: a `&str` name is
        // parsed and validated on each lookup.
        let headers = self.0.headers();
        let values = match name {
            "authorization" => headers.get_all(AUTHORIZATION),
            "referer" => headers.get_all(http::header::REFERER),
            "x-api-key" => headers.get_all(&X_API_KEY),
            other => headers.get_all(other),
        };
        values.into_iter().map(http::HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }

    fn client_ip(&self) -> Option<IpAddr> {
        client_ip(self.0)
    }

    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn path(&self) -> &str {
        self.0.uri().path()
    }
}

/// The header name of each of a gate's credential sources (`None` for a query
/// parameter), parsed once when the service is built.
#[derive(Debug, Clone)]
pub(crate) struct SourceHeaders(Arc<[Option<HeaderName>]>);

impl SourceHeaders {
    pub(crate) fn of(gate: &KeyGate) -> Self {
        Self(
            gate.sources()
                .iter()
                .map(|source| {
                    source
                        .header_name()
                        .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                })
                .collect(),
        )
    }

    /// The headers of the sources in `found`.
    fn found(&self, found: FoundIn) -> impl Iterator<Item = &HeaderName> {
        found.select(&self.0).filter_map(Option::as_ref)
    }
}

/// The client IP keygate sees for `request`: a [`ClientIp`] in its extensions; with the
/// `axum` feature, `axum::extract::ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`); a bare `SocketAddr`. With
/// none, a key with IP restrictions is refused (fail closed).
///
/// ```
/// let mut req = http::Request::new(());
/// assert_eq!(keygate_tower::client_ip(&req), None);
/// req.extensions_mut().insert(keygate_tower::ClientIp("203.0.113.7".parse().unwrap()));
/// assert_eq!(keygate_tower::client_ip(&req), "203.0.113.7".parse().ok());
/// ```
pub fn client_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    if let Some(ClientIp(ip)) = ext.get::<ClientIp>() {
        return Some(*ip);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

/// Marks the headers that carried the key sensitive, so tracing layers further in
/// (e.g. tower-http's) do not print them. (On a refusal the request goes no further.)
pub(crate) fn mark_sensitive<B>(request: &mut Request<B>, names: &SourceHeaders, found: FoundIn) {
    // One pass over the (few) headers, comparing names (a tag compare for standard
    // ones): cheaper than a hashed lookup per name, and it reaches every value.
    let mut found_names = names.found(found);
    let (Some(only), None) = (found_names.next(), found_names.next()) else {
        // Several header sources carried the key (or none did).
        for (name, value) in request.headers_mut().iter_mut() {
            if names.found(found).any(|n| n == name) {
                value.set_sensitive(true);
            }
        }
        return;
    };
    for (name, value) in request.headers_mut().iter_mut() {
        if name == only {
            value.set_sensitive(true);
        }
    }
}

/// The URI could not be rebuilt without the credential (not expected for a URI that
/// parsed); the caller refuses the request rather than pass the key on.
#[derive(Debug)]
pub(crate) struct HideFailed;

/// Removes the credential from every place the core says it was found.
pub(crate) fn hide_credentials<B>(
    request: &mut Request<B>,
    gate: &KeyGate,
    found_in: FoundIn,
) -> Result<(), HideFailed> {
    for source in gate.sources_in(found_in) {
        match source {
            CredentialSource::Bearer => {
                request.headers_mut().remove(AUTHORIZATION);
            }
            CredentialSource::Header(name) => {
                request.headers_mut().remove(name.as_str());
            }
            CredentialSource::Query(name) => strip_query(request, name)?,
        }
    }
    Ok(())
}

fn strip_query<B>(request: &mut Request<B>, name: &str) -> Result<(), HideFailed> {
    let uri = request.uri();
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let path_and_query = match keygate::request::strip_query_param(query, name) {
        Some(rest) => format!("{}?{rest}", uri.path()),
        None => uri.path().to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| HideFailed)?);
    *request.uri_mut() = Uri::from_parts(parts).map_err(|_| HideFailed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use keygate::MemoryStore;

    fn gate(hide: bool) -> KeyGate {
        KeyGate::builder(MemoryStore::new())
            .bearer()
            .header("X-Api-Key")
            .query("api_key")
            .hide_credentials(hide)
            .build()
    }

    #[test]
    fn hides_every_place_the_key_was_found() {
        let gate = gate(true);
        let mut req = Request::builder()
            .uri("http://h/p/q?a=1&api_key=k&b=2")
            .header("authorization", "Bearer k")
            .header("x-api-key", "k")
            .header("other", "kept")
            .body(())
            .expect("a valid request");
        let all = FoundIn::default().with(0).with(1).with(2);
        hide_credentials(&mut req, &gate, all).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get("x-api-key").is_none());
        assert_eq!(
            req.headers().get("other").map(|v| v.as_bytes()),
            Some(&b"kept"[..])
        );
        assert_eq!(req.uri().to_string(), "http://h/p/q?a=1&b=2");

        let mut only_key = Request::builder()
            .uri("/x?api_key=k")
            .body(())
            .expect("a valid request");
        hide_credentials(&mut only_key, &gate, FoundIn::default().with(2))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(only_key.uri().to_string(), "/x");
    }

    #[test]
    fn marks_credential_headers_sensitive() {
        let mut req = Request::builder()
            .header("authorization", "Bearer k")
            .header("x-api-key", "k")
            .header("other", "x")
            .body(())
            .expect("a valid request");
        let gate = gate(false);
        mark_sensitive(
            &mut req,
            &SourceHeaders::of(&gate),
            FoundIn::default().with(0).with(1),
        );
        assert!(req
            .headers()
            .get("authorization")
            .is_some_and(HeaderValue::is_sensitive));
        assert!(req
            .headers()
            .get("x-api-key")
            .is_some_and(HeaderValue::is_sensitive));
        assert!(!req
            .headers()
            .get("other")
            .is_some_and(HeaderValue::is_sensitive));
    }

    #[test]
    fn marks_every_value_of_a_credential_header_sensitive() {
        let mut req = Request::builder()
            .header("authorization", "Bearer k")
            .header("other", "x")
            .header("authorization", "Bearer k")
            .body(())
            .expect("a valid request");
        let gate = gate(false);
        mark_sensitive(
            &mut req,
            &SourceHeaders::of(&gate),
            FoundIn::default().with(0),
        );
        let marks: Vec<bool> = req
            .headers()
            .get_all("authorization")
            .iter()
            .map(HeaderValue::is_sensitive)
            .collect();
        assert_eq!(marks, [true, true]);
        assert!(!req
            .headers()
            .get("other")
            .is_some_and(HeaderValue::is_sensitive));
    }

    #[test]
    fn explicit_client_ip_wins() {
        let mut req = Request::new(());
        assert_eq!(client_ip(&req), None);
        req.extensions_mut()
            .insert(SocketAddr::from(([127, 0, 0, 1], 9)));
        assert_eq!(client_ip(&req), "127.0.0.1".parse().ok());
        req.extensions_mut()
            .insert(ClientIp(IpAddr::from([10, 0, 0, 1])));
        assert_eq!(client_ip(&req), "10.0.0.1".parse().ok());
    }
}

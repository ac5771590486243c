//! Keeping the credential away from the inner service: remove it, or at least mark it
//! sensitive.

use actix_web::dev::ServiceRequest;
use std::rc::Rc;

use actix_web::http::header::{HeaderName, AUTHORIZATION};
use actix_web::http::uri::PathAndQuery;
use actix_web::http::Uri;
use keygate::request::{CredentialSource, FoundIn};
use keygate::KeyGate;

/// The request URI could not be rebuilt without the credential (it cannot happen for
/// a URI that parsed); the caller then refuses the request rather than pass the key on.
#[derive(Debug)]
pub(crate) struct HideFailed;

/// Removes the credential from every place it was found: the `Authorization` header,
/// the named header, or the query parameter (the URI is rewritten).
pub(crate) fn hide_credentials(
    req: &mut ServiceRequest,
    gate: &KeyGate,
    found_in: FoundIn,
) -> Result<(), HideFailed> {
    for source in gate.sources_in(found_in) {
        match source {
            CredentialSource::Bearer => {
                req.headers_mut().remove(AUTHORIZATION);
            }
            CredentialSource::Header(name) => {
                req.headers_mut().remove(name.as_str());
            }
            CredentialSource::Query(name) => strip_query(req, name)?,
        }
    }
    Ok(())
}

/// Marks the credential headers sensitive, so loggers that print headers hide them.
pub(crate) fn mark_sensitive(req: &mut ServiceRequest, names: &SourceHeaders, found: FoundIn) {
    for name in names.found(found) {
        if req.headers().get_all(name).nth(1).is_none() {
            if let Some(value) = req.headers_mut().get_mut(name) {
                value.set_sensitive(true);
            }
        } else {
            // Several values: actix gives mutable access to all of them only this way.
            req.headers_mut().retain(|n, value| {
                if n == name {
                    value.set_sensitive(true);
                }
                true
            });
        }
    }
}

/// The header name of each of a gate's credential sources (`None` for a query
/// parameter), parsed once when the middleware is built.
#[derive(Debug, Clone)]
pub(crate) struct SourceHeaders(Rc<[Option<HeaderName>]>);

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

fn strip_query(req: &mut ServiceRequest, name: &str) -> Result<(), HideFailed> {
    let Some(query) = req.uri().query() else {
        return Ok(());
    };
    let uri = with_query(
        req.uri(),
        keygate::request::strip_query_param(query, name).as_deref(),
    )?;
    // The router keeps its own copy of the URI: keep both in step.
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    Ok(())
}

/// `uri` with its query replaced by `query` (removed when `None`).
fn with_query(uri: &Uri, query: Option<&str>) -> Result<Uri, HideFailed> {
    let path_and_query = match query {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).map_err(|_| HideFailed)?);
    Uri::from_parts(parts).map_err(|_| HideFailed)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn sources() -> KeyGate {
        KeyGate::builder(keygate::MemoryStore::new())
            .bearer()
            .header("x-api-key")
            .query("api_key")
            .hide_credentials(true)
            .build()
    }

    #[test]
    fn hides_every_place_the_key_was_found() {
        let mut req = TestRequest::get()
            .uri("http://h/p/q%20r?a=1&api_key=k&b=%20")
            .insert_header(("authorization", "Bearer k"))
            .insert_header(("x-api-key", "k"))
            .insert_header(("other", "kept"))
            .to_srv_request();
        hide_credentials(
            &mut req,
            &sources(),
            FoundIn::default().with(0).with(1).with(2),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get("x-api-key").is_none());
        assert!(req.headers().get("other").is_some());
        assert_eq!(req.uri().path(), "/p/q%20r");
        assert_eq!(req.query_string(), "a=1&b=%20");
        assert_eq!(req.match_info().get_ref().uri().query(), Some("a=1&b=%20"));
    }

    #[test]
    fn leaves_places_the_key_was_not_found() {
        let mut req = TestRequest::get()
            .uri("/p?api_key=k")
            .insert_header(("authorization", "Basic abc"))
            .to_srv_request();
        hide_credentials(&mut req, &sources(), FoundIn::default().with(2))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            req.headers().get("authorization").map(|v| v.as_bytes()),
            Some(&b"Basic abc"[..])
        );
        assert_eq!(req.uri().query(), None);
        assert_eq!(req.uri().path(), "/p");
    }

    #[test]
    fn marks_every_value_of_a_credential_header_sensitive() {
        let mut req = TestRequest::get()
            .append_header(("x-api-key", "k"))
            .append_header(("x-api-key", "k"))
            .insert_header(("accept", "*/*"))
            .to_srv_request();
        let gate = sources();
        mark_sensitive(
            &mut req,
            &SourceHeaders::of(&gate),
            FoundIn::default().with(1),
        );
        assert!(req.headers().get_all("x-api-key").all(|v| v.is_sensitive()));
        assert!(req.headers().get_all("accept").all(|v| !v.is_sensitive()));
    }

    #[test]
    fn marks_credential_headers_sensitive() {
        let mut req = TestRequest::get()
            .insert_header(("x-api-key", "k"))
            .insert_header(("accept", "*/*"))
            .to_srv_request();
        let gate = sources();
        mark_sensitive(
            &mut req,
            &SourceHeaders::of(&gate),
            FoundIn::default().with(1),
        );
        assert!(req
            .headers()
            .get("x-api-key")
            .is_some_and(|v| v.is_sensitive()));
        assert!(req
            .headers()
            .get("accept")
            .is_some_and(|v| !v.is_sensitive()));
    }
}

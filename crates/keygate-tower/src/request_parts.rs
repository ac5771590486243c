//! `http` requests as keygate's framework-free `RequestParts`, and credential hiding.

use http::header::AUTHORIZATION;
use http::{Request, Uri};
use keygate::{CredentialSource, RequestParts};

/// A borrowed view of a request for credential extraction.
pub(crate) struct HttpParts<'a, B>(pub(crate) &'a Request<B>);

impl<B> RequestParts for HttpParts<'_, B> {
    fn for_each_header(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for value in self.0.headers().get_all(name) {
            f(value.as_bytes());
        }
    }

    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }
}

/// Marks credential headers sensitive, so tracing layers (e.g. tower-http's) don't
/// print them.
pub(crate) fn mark_sensitive<B>(request: &mut Request<B>, sources: &[CredentialSource]) {
    for (name, value) in request.headers_mut().iter_mut() {
        if sources
            .iter()
            .any(|s| s.header_name() == Some(name.as_str()))
        {
            value.set_sensitive(true);
        }
    }
}

/// The URI could not be rebuilt without the credential (not expected for a URI that
/// parsed); the caller refuses the request rather than pass the key on.
#[derive(Debug)]
pub(crate) struct HideFailed;

/// Removes the credential from every place it was found.
pub(crate) fn hide_credentials<B>(
    request: &mut Request<B>,
    sources: &[CredentialSource],
    found_in: &[usize],
) -> Result<(), HideFailed> {
    for source in found_in.iter().filter_map(|&i| sources.get(i)) {
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
    let path_and_query = match keygate::strip_query_param(query, name) {
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

    #[test]
    fn hides_every_place_the_key_was_found() {
        let sources = vec![
            CredentialSource::Bearer,
            CredentialSource::header("x-api-key"),
            CredentialSource::query("api_key"),
        ];
        let mut req = Request::builder()
            .uri("http://h/p/q?a=1&api_key=k&b=2")
            .header("authorization", "Bearer k")
            .header("x-api-key", "k")
            .header("other", "kept")
            .body(())
            .unwrap_or_default();
        hide_credentials(&mut req, &sources, &[0, 1, 2]).unwrap_or_else(|e| panic!("{e:?}"));
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
            .unwrap_or_default();
        hide_credentials(&mut only_key, &sources, &[2]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(only_key.uri().to_string(), "/x");
    }

    #[test]
    fn marks_credential_headers_sensitive() {
        let mut req = Request::builder()
            .header("authorization", "Bearer k")
            .header("x-api-key", "k")
            .body(())
            .unwrap_or_default();
        mark_sensitive(
            &mut req,
            &[
                CredentialSource::Bearer,
                CredentialSource::header("X-Api-Key"),
            ],
        );
        assert!(req
            .headers()
            .get("authorization")
            .is_some_and(HeaderValue::is_sensitive));
        assert!(req
            .headers()
            .get("x-api-key")
            .is_some_and(HeaderValue::is_sensitive));
    }
}

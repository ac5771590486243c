//! An actix request as keygate's framework-free [`RequestParts`].

use actix_web::http::header::HeaderMap;
use actix_web::http::Uri;
use keygate::RequestParts;

/// A borrowed view of a request's headers and URI, for credential extraction.
pub(crate) struct ActixParts<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) uri: &'a Uri,
}

impl RequestParts for ActixParts<'_> {
    fn for_each_header(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for value in self.headers.get_all(name) {
            f(value.as_bytes());
        }
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use keygate::{extract_credential, AuthError, CredentialSource};

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
        };
        let mut seen = Vec::new();
        parts.for_each_header("x-api-key", &mut |v| seen.push(v.to_vec()));
        assert_eq!(seen, vec![b"k".to_vec(), b"k".to_vec()]);
        assert_eq!(parts.query(), Some("a=1&api_key=k"));
        let found = extract_credential(&sources(), &parts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.key.expose(), "k");
        assert_eq!(found.found_in, vec![1, 2]);
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
        };
        assert_eq!(parts.query(), None);
        assert_eq!(
            extract_credential(&sources(), &parts).err(),
            Some(AuthError::ConflictingKeys)
        );
    }
}

//! Target `request_parts`: finding the credential in a whole request
//! ([`keygate::request::extract_credential`]) and hiding it from the query string
//! ([`keygate::request::strip_query_param`]).
//!
//! Input: one byte choosing the configured sources, then lines: the first is the query
//! string, each further `name:value` line a header (the name lower-cased, the value any
//! bytes).

use std::cell::RefCell;

use keygate::error::InvalidKeyReason;
use keygate::request::{extract_credential, strip_query_param, CredentialSource, RequestParts};
use keygate::AuthError;

/// A request made of arbitrary bytes; it records every header name asked for.
#[derive(Debug, Default)]
struct FakeRequest {
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    asked: RefCell<Vec<String>>,
}

impl RequestParts for FakeRequest {
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.asked.borrow_mut().push(name.to_owned());
        let name = name.to_owned();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

impl FakeRequest {
    fn parse(data: &[u8]) -> Self {
        let mut lines = data.split(|&b| b == b'\n');
        let query = lines
            .next()
            .filter(|q| !q.is_empty())
            .map(|q| String::from_utf8_lossy(q).into_owned());
        let headers = lines
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
                Some((name, line[colon + 1..].to_vec()))
            })
            .collect();
        Self {
            query,
            headers,
            asked: RefCell::default(),
        }
    }

    /// The same request with only the headers named in `keep`.
    fn only_headers(&self, keep: &[&str]) -> Self {
        Self {
            query: self.query.clone(),
            headers: self
                .headers
                .iter()
                .filter(|(n, _)| keep.contains(&n.as_str()))
                .cloned()
                .collect(),
            asked: RefCell::default(),
        }
    }
}

/// The configured sources for `selector`: any of `Authorization: Bearer`, `X-API-KEY`,
/// `?api_key=` and (bit 3) `Authorization` read as a bare-key header, in this order or
/// (bit 4) reversed.
fn sources(selector: u8) -> Vec<CredentialSource> {
    let mut sources = Vec::new();
    if selector & 1 != 0 {
        sources.push(CredentialSource::Bearer);
    }
    if selector & 2 != 0 {
        sources.push(CredentialSource::header("X-API-KEY"));
    }
    if selector & 4 != 0 {
        sources.push(CredentialSource::query("api_key"));
    }
    if selector & 8 != 0 {
        sources.push(CredentialSource::header("Authorization"));
    }
    if selector & 16 != 0 {
        sources.reverse();
    }
    sources
}

/// What one source carries: each value in order, the key or `None` when malformed.
fn candidates(source: &CredentialSource, req: &FakeRequest) -> Vec<Option<Vec<u8>>> {
    let bare = |raw: &[u8]| {
        let key = raw.trim_ascii();
        (!key.is_empty() && std::str::from_utf8(key).is_ok()).then(|| key.to_vec())
    };
    let values = |name: &str| {
        req.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect::<Vec<_>>()
    };
    match source {
        CredentialSource::Bearer => values("authorization")
            .into_iter()
            .filter_map(|raw| {
                // RFC 6750: `Bearer <token>`, the scheme in any case.
                let value = raw.trim_ascii();
                let (scheme, token) = match value.iter().position(|&b| b == b' ') {
                    Some(i) => (&value[..i], &value[i + 1..]),
                    None => (value, &[][..]),
                };
                scheme.eq_ignore_ascii_case(b"bearer").then(|| bare(token))
            })
            .collect(),
        CredentialSource::Header(name) => values(name).into_iter().map(bare).collect(),
        CredentialSource::Query(name) => req
            .query
            .iter()
            .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
            .filter(|(k, _)| k == name.as_str())
            .map(|(_, v)| (!v.is_empty()).then(|| v.as_bytes().to_vec()))
            .collect(),
    }
}

/// The documented rule: every value of every source in order; a malformed one refuses
/// the request, two different keys conflict, none is a missing key.
fn model(
    sources: &[CredentialSource],
    req: &FakeRequest,
) -> Result<(Vec<u8>, Vec<usize>), AuthError> {
    let mut found: Option<Vec<u8>> = None;
    let mut found_in = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        for candidate in candidates(source, req) {
            let key = candidate.ok_or(AuthError::InvalidKey(InvalidKeyReason::Malformed))?;
            match &found {
                Some(existing) if *existing != key => return Err(AuthError::ConflictingKeys),
                Some(_) => {}
                None => found = Some(key),
            }
            if found_in.last() != Some(&index) {
                found_in.push(index);
            }
        }
    }
    found.map(|k| (k, found_in)).ok_or(AuthError::MissingKey)
}

/// Extracts the credential for the sources the first byte selects, and checks it
/// against the model: the same key, sources and error; the key is never read from a
/// header the gate was not told to read (only those are asked for, and dropping every
/// other header changes nothing); a key found in a header is a substring of it; the
/// query string with the parameter stripped no longer carries it.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let sources = sources(selector);
    let req = FakeRequest::parse(rest);
    let got = extract_credential(&sources, &req).map(|c| {
        (
            c.key().as_bytes().to_vec(),
            c.found_in.indexes().collect::<Vec<_>>(),
        )
    });
    assert_eq!(
        got,
        model(&sources, &req),
        "sources {sources:?}, request {req:?}"
    );

    let read: Vec<&str> = sources.iter().filter_map(|s| s.header_name()).collect();
    for asked in req.asked.borrow().iter() {
        assert!(read.contains(&asked.as_str()), "asked for header {asked:?}");
    }
    let trimmed = req.only_headers(&read);
    let again = extract_credential(&sources, &trimmed).map(|c| {
        (
            c.key().as_bytes().to_vec(),
            c.found_in.indexes().collect::<Vec<_>>(),
        )
    });
    assert_eq!(
        got, again,
        "a header the gate does not read changed the result"
    );

    if let Ok((key, found_in)) = &got {
        assert!(!key.is_empty() && !found_in.is_empty());
        for &i in found_in {
            let Some(name) = sources[i].header_name() else {
                continue;
            };
            let carried = req
                .headers
                .iter()
                .any(|(n, v)| n == name && v.windows(key.len()).any(|w| w == key.as_slice()));
            assert!(carried, "the key is not in any {name:?} header");
        }
        let selected: Vec<&CredentialSource> = extract_credential(&sources, &req)
            .map(|c| c.found_in.select(&sources).collect())
            .unwrap_or_default();
        let expected: Vec<&CredentialSource> = found_in.iter().map(|&i| &sources[i]).collect();
        assert_eq!(selected, expected);
    }

    if let Some(query) = &req.query {
        check_strip(query, "api_key");
    }
}

/// `strip_query_param` drops exactly the pairs named `name` and keeps the others as
/// written, in order.
fn check_strip(query: &str, name: &str) {
    let stripped = strip_query_param(query, name);
    let named = |pair: &str| {
        let raw = pair.split('=').next().unwrap_or("");
        form_urlencoded::parse(raw.as_bytes())
            .next()
            .is_some_and(|(k, _)| k == name)
    };
    let expected: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !named(p))
        .collect();
    match &stripped {
        None => assert!(expected.is_empty(), "{query:?}"),
        Some(kept) => {
            assert_eq!(kept.split('&').collect::<Vec<_>>(), expected, "{query:?}");
            let sources = [CredentialSource::query(name)];
            let req = FakeRequest {
                query: Some(kept.clone()),
                ..FakeRequest::default()
            };
            assert_eq!(
                extract_credential(&sources, &req).err(),
                Some(AuthError::MissingKey),
                "{query:?} stripped to {kept:?} still carries {name}"
            );
        }
    }
}

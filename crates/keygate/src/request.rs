//! The request side, for adapters: finding the API key in a request (Bearer header, a
//! named header, or a query parameter) and what [`KeyGate::check`](crate::KeyGate::check)
//! makes of it ([`Checked`], [`PreparedRequest`]).
//!
//! Framework-free: adapters expose their request through [`RequestParts`].

use crate::error::{AuthError, InvalidKeyReason};
use crate::secret::ApiKeySecret;

pub use crate::authenticate::{Checked, PreparedRequest};

/// Where a credential may be found, tried in the configured order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Authorization: Bearer <key>` (scheme case-insensitive, RFC 6750).
    Bearer,
    /// A header carrying the bare key, e.g. `X-API-KEY`. Stored lower-case.
    Header(String),
    /// A query parameter, e.g. `?api_key=`.
    Query(String),
}

impl CredentialSource {
    /// A header source (name case-insensitive).
    pub fn header(name: impl AsRef<str>) -> Self {
        Self::Header(name.as_ref().to_ascii_lowercase())
    }

    /// A query-parameter source.
    pub fn query(name: impl Into<String>) -> Self {
        Self::Query(name.into())
    }

    /// The header this source reads, if any.
    pub fn header_name(&self) -> Option<&str> {
        match self {
            Self::Bearer => Some("authorization"),
            Self::Header(h) => Some(h),
            Self::Query(_) => None,
        }
    }
}

/// A request as keygate sees it: header values as bytes, the raw query string, and the
/// client's IP. Values are borrowed: finding the key copies nothing.
///
/// ```
/// use keygate::request::RequestParts;
/// struct Plain { auth: Vec<u8> }
/// impl RequestParts for Plain {
///     fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
///         (name == "authorization").then_some(self.auth.as_slice()).into_iter()
///     }
///     fn query(&self) -> Option<&str> { None }
/// }
/// ```
pub trait RequestParts {
    /// Every value of header `name` (given lower-case), in order.
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>;
    /// The raw query string, without `?`.
    fn query(&self) -> Option<&str>;
    /// The client's IP address, for keys with IP restrictions (`None`: unknown, and
    /// such keys are refused). Adapters give a [`ClientIp`] set by the application
    /// first, then the connection's peer.
    fn client_ip(&self) -> Option<std::net::IpAddr> {
        None
    }
    /// The request method (`GET`), for [route costs](crate::credits::RouteCosts);
    /// read only for keys with credits when the gate has a cost table.
    fn method(&self) -> &str {
        ""
    }
    /// The request path (`/v1/scans/1`), for route costs.
    fn path(&self) -> &str {
        ""
    }
    /// The first `Referer` header, when it is UTF-8 (keys with referrer restrictions
    /// are checked against it; read only for such keys).
    fn referrer(&self) -> Option<&str> {
        self.header_values("referer")
            .next()
            .and_then(|raw| std::str::from_utf8(raw).ok())
    }
}

/// The client's IP address, set by the application in the request's extensions when
/// keygate cannot see it itself (behind a trusted proxy, from `X-Forwarded-For`, in a
/// layer or middleware that runs before keygate's). Both adapters prefer it to the
/// connection's peer address.
///
/// ```
/// let ip = keygate::request::ClientIp("203.0.113.7".parse().unwrap());
/// assert_eq!(ip.0.to_string(), "203.0.113.7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// Which of the configured sources carried the credential: a small set of indexes
/// into the gate's sources (at most 64 sources).
///
/// ```
/// use keygate::request::FoundIn;
/// let found = FoundIn::default().with(0).with(2);
/// assert!(found.contains(2) && !found.contains(1));
/// assert_eq!(found.indexes().collect::<Vec<_>>(), vec![0, 2]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoundIn(u64);

impl FoundIn {
    /// The set with `index` added (indexes past 63 are ignored).
    #[must_use]
    pub fn with(self, index: usize) -> Self {
        if index < 64 {
            Self(self.0 | (1 << index))
        } else {
            self
        }
    }

    /// Whether `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indexes, in order.
    pub fn indexes(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |&i| self.contains(i))
    }

    /// The items of `items` (one per configured source, in order) at the indexes in
    /// the set: a gate's sources, or an adapter's header names for them.
    ///
    /// ```
    /// use keygate::request::FoundIn;
    /// let found = FoundIn::default().with(0).with(2);
    /// assert_eq!(found.select(&["a", "b", "c"]).collect::<Vec<_>>(), vec![&"a", &"c"]);
    /// ```
    pub fn select<T>(self, items: &[T]) -> impl Iterator<Item = &T> {
        items
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.contains(*i))
            .map(|(_, item)| item)
    }
}

/// The credential found in a request, and which sources carried it. It borrows the
/// request (no copy) unless the key had to be percent-decoded from the query string.
#[derive(Debug)]
pub struct ExtractedCredential<'a> {
    key: KeyText<'a>,
    /// The configured sources that carried it: the places to strip when credentials
    /// are hidden from the inner service.
    pub found_in: FoundIn,
}

/// The key as found: borrowed from the request (bytes checked to be UTF-8), or decoded
/// (and then zeroed on drop).
enum KeyText<'a> {
    Borrowed(&'a [u8]),
    Decoded(ApiKeySecret),
}

impl std::fmt::Debug for KeyText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl KeyText<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(key) => key,
            Self::Decoded(key) => key.expose().as_bytes(),
        }
    }
}

impl ExtractedCredential<'_> {
    /// The key as sent. Never log it.
    pub fn key(&self) -> &str {
        // Checked to be UTF-8 when it was found.
        std::str::from_utf8(self.key.as_bytes()).unwrap_or_default()
    }

    /// The key's bytes (the hot path: no UTF-8 validation again).
    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.key.as_bytes()
    }

    /// The key, owned (zeroed on drop): for verification that outlives the request.
    pub fn into_secret(self) -> ApiKeySecret {
        match self.key {
            // UTF-8, checked when it was found: nothing is replaced.
            KeyText::Borrowed(key) => ApiKeySecret::new(String::from_utf8_lossy(key).into_owned()),
            KeyText::Decoded(key) => key,
        }
    }
}

/// Finds exactly one credential in `parts`, looking in every source.
///
/// - none found -> [`AuthError::MissingKey`] (an `Authorization` header with another
///   scheme, such as `Basic`, counts as none);
/// - a value that is not UTF-8, or empty -> [`AuthError::InvalidKey`];
/// - two different values -> [`AuthError::ConflictingKeys`] (the same key twice is fine).
///
/// ```
/// use keygate::request::{extract_credential, CredentialSource, RequestParts};
/// struct Q(&'static str);
/// impl RequestParts for Q {
///     fn header_values<'a>(&'a self, _: &str) -> impl Iterator<Item = &'a [u8]> { std::iter::empty() }
///     fn query(&self) -> Option<&str> { Some(self.0) }
/// }
/// let sources = [CredentialSource::Bearer, CredentialSource::query("api_key")];
/// let found = extract_credential(&sources, &Q("page=2&api_key=sk_live_x"))?;
/// assert_eq!(found.key(), "sk_live_x");
/// assert_eq!(found.found_in.indexes().collect::<Vec<_>>(), vec![1]);
/// # Ok::<(), keygate::AuthError>(())
/// ```
pub fn extract_credential<'a, P: RequestParts>(
    sources: &[CredentialSource],
    parts: &'a P,
) -> Result<ExtractedCredential<'a>, AuthError> {
    let mut found: Option<KeyText<'a>> = None;
    let mut found_in = FoundIn::default();
    let malformed = || AuthError::InvalidKey(InvalidKeyReason::Malformed);

    let mut offer = |index: usize, value: KeyText<'a>| -> Result<(), AuthError> {
        match &found {
            Some(existing) if existing.as_bytes() != value.as_bytes() => {
                return Err(AuthError::ConflictingKeys)
            }
            Some(_) => {}
            None => found = Some(value),
        }
        found_in = found_in.with(index);
        Ok(())
    };
    for (index, source) in sources.iter().enumerate() {
        match source {
            CredentialSource::Bearer => {
                for raw in parts.header_values("authorization") {
                    if let Some(token) = bearer_token(raw)? {
                        offer(index, KeyText::Borrowed(token))?;
                    }
                }
            }
            CredentialSource::Header(name) => {
                for raw in parts.header_values(name) {
                    offer(index, KeyText::Borrowed(bare_key(raw)?))?;
                }
            }
            CredentialSource::Query(name) => {
                if let Some(query) = parts.query() {
                    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                        if k == name.as_str() {
                            if v.is_empty() {
                                return Err(malformed());
                            }
                            let text = match v {
                                std::borrow::Cow::Borrowed(v) => KeyText::Borrowed(v.as_bytes()),
                                std::borrow::Cow::Owned(v) => {
                                    KeyText::Decoded(ApiKeySecret::new(v))
                                }
                            };
                            offer(index, text)?;
                        }
                    }
                }
            }
        }
    }
    let key = found.ok_or(AuthError::MissingKey)?;
    Ok(ExtractedCredential { key, found_in })
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive,
/// ASCII whitespace around either part ignored); `None` for another scheme. An empty or
/// non-UTF-8 token is malformed.
fn bearer_token(raw: &[u8]) -> Result<Option<&[u8]>, AuthError> {
    // The usual spelling first: `Bearer <token>`.
    if let Some(token) = raw.strip_prefix(b"Bearer ") {
        return bare_key(token).map(Some);
    }
    let value = raw.trim_ascii();
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    bare_key(token).map(Some)
}

/// A header value carrying the bare key: trimmed, non-empty, UTF-8 (checked cheaply:
/// a key is ASCII, and only other bytes need the full UTF-8 check).
fn bare_key(raw: &[u8]) -> Result<&[u8], AuthError> {
    let key = raw.trim_ascii();
    if key.is_empty() || (!key.is_ascii() && std::str::from_utf8(key).is_err()) {
        return Err(AuthError::InvalidKey(InvalidKeyReason::Malformed));
    }
    Ok(key)
}

/// The query string without parameter `name` (for hiding credentials); `None` when
/// nothing is left. Other parameters keep their exact encoding.
///
/// ```
/// assert_eq!(keygate::request::strip_query_param("a=1&api_key=x&b=2", "api_key").as_deref(), Some("a=1&b=2"));
/// assert_eq!(keygate::request::strip_query_param("api_key=x", "api_key"), None);
/// ```
pub fn strip_query_param(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let raw_name = pair.split('=').next().unwrap_or("");
            let decoded: String = form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !pair.is_empty() && decoded != name
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Req {
        headers: Vec<(&'static str, Vec<u8>)>,
        query: Option<&'static str>,
    }

    impl Req {
        fn h(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
            self.headers.push((name, value.into()));
            self
        }
        fn q(mut self, query: &'static str) -> Self {
            self.query = Some(query);
            self
        }
    }

    impl RequestParts for Req {
        fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
            let name = name.to_owned();
            self.headers
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, v)| v.as_slice())
        }
        fn query(&self) -> Option<&str> {
            self.query
        }
    }

    fn sources() -> Vec<CredentialSource> {
        vec![
            CredentialSource::Bearer,
            CredentialSource::header("X-API-KEY"),
            CredentialSource::query("api_key"),
        ]
    }

    fn get(req: &Req) -> Result<(String, Vec<usize>), AuthError> {
        extract_credential(&sources(), req)
            .map(|c| (c.key().to_owned(), c.found_in.indexes().collect::<Vec<_>>()))
    }

    #[test]
    fn each_source() {
        assert_eq!(
            get(&Req::default().h("authorization", "Bearer k1")),
            Ok(("k1".into(), vec![0]))
        );
        assert_eq!(
            get(&Req::default().h("authorization", "bearer   k1 ")),
            Ok(("k1".into(), vec![0]))
        );
        assert_eq!(
            get(&Req::default().h("x-api-key", " k2")),
            Ok(("k2".into(), vec![1]))
        );
        assert_eq!(
            get(&Req::default().q("x=1&api_key=k%5F3")),
            Ok(("k_3".into(), vec![2]))
        );
    }

    #[test]
    fn same_key_twice_is_fine_different_keys_conflict() {
        let same = Req::default()
            .h("authorization", "Bearer k")
            .h("x-api-key", "k");
        assert_eq!(get(&same), Ok(("k".into(), vec![0, 1])));
        let different = Req::default()
            .h("authorization", "Bearer k")
            .h("x-api-key", "j");
        assert_eq!(get(&different), Err(AuthError::ConflictingKeys));
        let two_headers = Req::default().h("x-api-key", "a").h("x-api-key", "b");
        assert_eq!(get(&two_headers), Err(AuthError::ConflictingKeys));
        let query_and_header = Req::default().h("x-api-key", "a").q("api_key=b");
        assert_eq!(get(&query_and_header), Err(AuthError::ConflictingKeys));
    }

    #[test]
    fn missing_and_malformed() {
        let malformed = Err(AuthError::InvalidKey(InvalidKeyReason::Malformed));
        assert_eq!(get(&Req::default()), Err(AuthError::MissingKey));
        assert_eq!(
            get(&Req::default().h("authorization", "Basic dXNlcjpwYXNz")),
            Err(AuthError::MissingKey)
        );
        assert_eq!(get(&Req::default().h("authorization", "Bearer")), malformed);
        assert_eq!(
            get(&Req::default().h("authorization", "Bearer    ")),
            malformed
        );
        assert_eq!(
            get(&Req::default().h("authorization", b"Bearer \xff\xfe".to_vec())),
            malformed
        );
        assert_eq!(
            get(&Req::default().h("x-api-key", b"\xc3\x28".to_vec())),
            malformed
        );
        assert_eq!(get(&Req::default().h("x-api-key", "")), malformed);
        assert_eq!(get(&Req::default().q("api_key=")), malformed);
        // A Basic header beside a valid X-API-KEY: the X-API-KEY is used.
        let basic_and_key = Req::default()
            .h("authorization", "Basic abc")
            .h("x-api-key", "k");
        assert_eq!(get(&basic_and_key), Ok(("k".into(), vec![1])));
    }

    #[test]
    fn unconfigured_sources_are_ignored() {
        let only_bearer = [CredentialSource::Bearer];
        let req = Req::default().h("x-api-key", "k").q("api_key=k");
        assert_eq!(
            extract_credential(&only_bearer, &req).err(),
            Some(AuthError::MissingKey)
        );
    }

    #[test]
    fn strips_query_params() {
        assert_eq!(
            strip_query_param("api_key=x&a=%20b", "api_key").as_deref(),
            Some("a=%20b")
        );
        assert_eq!(
            strip_query_param("a=1&api%5Fkey=x", "api_key").as_deref(),
            Some("a=1")
        );
        assert_eq!(
            strip_query_param("a=1&&b", "api_key").as_deref(),
            Some("a=1&b")
        );
        assert_eq!(strip_query_param("", "api_key"), None);
    }
}

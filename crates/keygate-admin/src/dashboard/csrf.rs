//! Cross-site request forgery defences: a per-session token in every state-changing
//! form (the synchronizer-token pattern), and a same-origin check on every POST.

use super::session::random_token;

/// A session's CSRF token: 32 random bytes as hex, rendered into its forms as the
/// hidden field `csrf`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

impl CsrfToken {
    pub(crate) fn generate() -> Result<Self, getrandom::Error> {
        random_token().map(Self)
    }

    /// The value for the hidden form field.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `sent` is this token, compared in constant time.
    pub(crate) fn matches(&self, sent: Option<&str>) -> bool {
        let Some(sent) = sent else { return false };
        let (a, b) = (self.0.as_bytes(), sent.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Whether a POST may come from another site: `Sec-Fetch-Site: cross-site` or
/// `same-site`, or an `Origin` whose host is not the `Host` the request was sent to.
/// `Origin: null` decides nothing: browsers send it for the dashboard's own forms,
/// whose pages have `Referrer-Policy: no-referrer`. Requests without these headers
/// (non-browser clients) pass this check; the CSRF token and the SameSite=Strict
/// cookie still stand.
pub(crate) fn cross_origin(
    origin: Option<&str>,
    host: Option<&str>,
    sec_fetch_site: Option<&str>,
) -> bool {
    if let Some(site) = sec_fetch_site {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return true;
        }
    }
    match (origin, host) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            let authority = origin
                .split_once("://")
                .map_or(origin, |(_, rest)| rest)
                .trim_end_matches('/');
            !authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let t = CsrfToken::generate().expect("csprng");
        assert!(t.matches(Some(t.as_str())));
        assert!(!t.matches(None));
        assert!(!t.matches(Some("")));
        let mut other = t.as_str().to_owned();
        other.replace_range(0..1, if other.starts_with('0') { "1" } else { "0" });
        assert!(!t.matches(Some(&other)));
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    #[test]
    fn cross_origin_posts_are_recognised() {
        assert!(!cross_origin(None, Some("a:1"), None));
        assert!(!cross_origin(
            Some("http://a:1"),
            Some("a:1"),
            Some("same-origin")
        ));
        assert!(cross_origin(Some("http://evil"), Some("a:1"), None));
        assert!(cross_origin(None, Some("a:1"), Some("cross-site")));
        assert!(cross_origin(None, Some("a:1"), Some("same-site")));
        assert!(!cross_origin(
            Some("null"),
            Some("a:1"),
            Some("same-origin")
        ));
        assert!(cross_origin(Some("null"), Some("a:1"), Some("cross-site")));
    }
}

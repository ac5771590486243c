//! Context checks: which client IPs and referrers may use a key.

use std::net::IpAddr;

use ipnet::IpNet;

/// Whether `ip` is allowed by `allowed` (empty = any IP). No IP known = refused when
/// the list is not empty: a restriction must fail closed.
pub(crate) fn ip_allowed(allowed: &[IpNet], ip: Option<IpAddr>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    allowed.iter().any(|net| net.contains(&ip))
}

/// Whether `referrer` matches one of `allowed` (empty = any).
///
/// A pattern is a host (`example.com`), a wildcard host (`*.example.com`, which also
/// matches `example.com`), or a URL prefix ending in `*` (`https://app.example.com/*`).
/// Host patterns compare the referrer's host, case-insensitively, ignoring the port.
pub(crate) fn referrer_allowed(allowed: &[String], referrer: Option<&str>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(referrer) = referrer else {
        return false;
    };
    let host = host_of(referrer);
    allowed.iter().any(|pattern| {
        if let Some(prefix) = pattern.strip_suffix('*').filter(|p| p.contains("://")) {
            referrer.starts_with(prefix)
        } else if let Some(domain) = pattern.strip_prefix("*.") {
            host.as_deref().is_some_and(|h| {
                h.eq_ignore_ascii_case(domain)
                    || (h.len() > domain.len()
                        && h.ends_with_ignore_case(domain)
                        && h.as_bytes()[h.len() - domain.len() - 1] == b'.')
            })
        } else {
            host.as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(pattern))
        }
    })
}

trait EndsWithIgnoreCase {
    fn ends_with_ignore_case(&self, suffix: &str) -> bool;
}

impl EndsWithIgnoreCase for str {
    fn ends_with_ignore_case(&self, suffix: &str) -> bool {
        self.len() >= suffix.len()
            && self.is_char_boundary(self.len() - suffix.len())
            && self[self.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    }
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_once(']').map(|(h, _)| &h[1..])?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn ip_rules() {
        let allowed = nets(&["10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert!(ip_allowed(&[], None));
        assert!(ip_allowed(&allowed, ip("10.1.2.3")));
        assert!(ip_allowed(&allowed, ip("192.168.1.7")));
        assert!(ip_allowed(&allowed, ip("::ffff:10.0.0.1")));
        assert!(ip_allowed(&allowed, ip("2001:db8::1")));
        assert!(!ip_allowed(&allowed, ip("192.168.1.8")));
        assert!(!ip_allowed(&allowed, ip("127.0.0.1")));
        assert!(!ip_allowed(&allowed, None));
    }

    #[test]
    fn referrer_rules() {
        let allowed = vec![
            "example.com".to_owned(),
            "*.corp.io".to_owned(),
            "https://app.site.dev/embed/*".to_owned(),
        ];
        let ok = |r: &str| referrer_allowed(&allowed, Some(r));
        assert!(ok("https://example.com/page"));
        assert!(ok("https://EXAMPLE.com:8443/x"));
        assert!(ok("https://a.b.corp.io/"));
        assert!(ok("https://corp.io"));
        assert!(ok("https://app.site.dev/embed/widget?x=1"));
        assert!(!ok("https://evilcorp.io/"));
        assert!(!ok("https://example.com.evil.net/"));
        assert!(!ok("https://app.site.dev/other"));
        assert!(!ok("https://user@evil.net/?example.com"));
        assert!(!referrer_allowed(&allowed, None));
        assert!(referrer_allowed(&[], None));
    }
}

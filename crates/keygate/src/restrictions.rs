//! Context checks: which client IPs and referrers may use a key.
//!
//! # IP rules
//! An IP address (`203.0.113.7`, `2001:db8::1`) or a CIDR network (`10.0.0.0/8`,
//! `2001:db8::/32`). An IPv4-mapped IPv6 rule (`::ffff:127.0.0.1`,
//! `::ffff:10.0.0.0/104`) means its IPv4 form and is stored as such; a client seen as
//! `::ffff:a.b.c.d` (an IPv4 client on a dual-stack socket) is checked as `a.b.c.d`.
//!
//! # Referrer rules
//! Each allowed referrer is one of four forms, compared with the request's `Referer`:
//!
//! | form | example | matches |
//! | --- | --- | --- |
//! | host | `example.com` | that host, any scheme, port and path |
//! | wildcard host | `*.example.com` | `example.com` and every subdomain |
//! | origin | `https://app.example.com` (a trailing `/` allowed) | that scheme, host and port (443/80 when absent), any path: what browsers send in `Origin`, and in `Referer` across sites |
//! | URL prefix | `https://app.example.com/embed/*` | URLs that start with the text before the `*` |
//!
//! Hosts compare case-insensitively. Rules that could never match a browser's referrer
//! are refused when a key is created or updated ([`referrer_rule_error`]): another
//! scheme than `http`/`https`, no host, a path without the final `*`, a `*` anywhere
//! but at the start of a host or the end of a URL prefix, a port or path without a
//! scheme, user names, spaces.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// Whether `ip` is allowed by `allowed` (empty = any IP). No IP known = refused when
/// the list is not empty: a restriction must fail closed.
///
/// Both sides are compared in canonical form ([`canonical_net`], `to_canonical`), so
/// IPv4-mapped IPv6 rules and clients match their IPv4 counterparts.
pub(crate) fn ip_allowed(allowed: &[IpNet], ip: Option<IpAddr>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = ip.to_canonical();
    allowed.iter().any(|net| canonical_net(*net).contains(&ip))
}

/// `net` with an IPv4-mapped IPv6 network (`::ffff:a.b.c.d/n`, `n >= 96`) written as the
/// IPv4 network it covers (`a.b.c.d/(n - 96)`); any other network unchanged.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else { return net };
    match (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
        (Some(v4), Some(len)) => Ipv4Net::new(v4, len).map_or(net, IpNet::V4),
        _ => net,
    }
}

/// The accepted forms, for error messages.
const REFERRER_FORMS: &str = "use a host (example.com), a wildcard host (*.example.com), \
     an origin (https://app.example.com) or a URL prefix ending in * \
     (https://app.example.com/embed/*)";

/// Why a referrer rule could never match (see the module docs for the grammar), as a
/// sentence naming the rule and the accepted forms; `None` for a valid rule.
pub(crate) fn referrer_rule_error(rule: &str) -> Option<String> {
    let why = referrer_rule_problem(rule)?;
    let shown: String = rule.chars().take(80).collect();
    Some(format!(
        "allowed referrer {shown:?} can never match: {why}; {REFERRER_FORMS}"
    ))
}

fn referrer_rule_problem(rule: &str) -> Option<&'static str> {
    if rule.is_empty() || rule.len() > 255 {
        return Some("it is empty or longer than 255 characters");
    }
    if rule.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let Some((scheme, rest)) = rule.split_once("://") else {
        let host = rule.strip_prefix("*.").unwrap_or(rule);
        if host.contains('*') {
            return Some("* may only start a wildcard host (*.example.com) or end a URL prefix");
        }
        if host.contains(['/', '?', '#']) {
            return Some("a path needs a scheme (https://example.com/path*)");
        }
        if host.contains(':') {
            return Some("a port needs a scheme (http://localhost:3000)");
        }
        return (!is_host_name(host)).then_some("it is not a host name");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some("only http:// and https:// referrers are sent by browsers");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (prefix, star) = match path.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (path, false),
    };
    if authority.is_empty() || authority.starts_with(':') {
        return Some("it has no host");
    }
    if path.is_empty() && authority.ends_with('*') && authority.matches('*').count() == 1 {
        // `https://app.example.com*` would also match `https://app.example.com.evil.net`.
        return Some("a URL prefix needs a path (https://app.example.com/*)");
    }
    if authority.contains('*') || prefix.contains('*') {
        return Some("* may only start a wildcard host (*.example.com) or end a URL prefix");
    }
    if !star && !path.is_empty() && path != "/" {
        return Some("a URL with a path must end in * to match the pages under it");
    }
    if authority.contains('@') {
        return Some("browsers never send a user name in a referrer");
    }
    match split_host_port(authority) {
        None => Some("its port is not a number from 1 to 65535"),
        Some((host, _)) if !is_host_name(host) && host.parse::<Ipv6Addr>().is_err() => {
            Some("it is not a host name")
        }
        Some(_) => None,
    }
}

/// A DNS name or IPv4 address: dot-separated labels of letters, digits, `-` and `_`,
/// not starting or ending with `-`.
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `host[:port]` or `[v6][:port]`: the host (brackets removed) and the port, if any;
/// `None` when the port is not a number from 1 to 65535.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .map(|p| (host, Some(p))),
        Some(_) => None,
    }
}

/// A URL's origin: lower-case scheme and host, and the port (80/443 when absent).
fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    let port = match (port, scheme.as_str()) {
        (Some(port), _) => port,
        (None, "https") => 443,
        (None, "http") => 80,
        (None, _) => return None,
    };
    (!host.is_empty()).then(|| (scheme, host.to_ascii_lowercase(), port))
}

/// Whether `referrer` matches one of `allowed` (empty = any); the forms are in the
/// module docs.
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
        } else if pattern.contains("://") {
            origin_of(pattern).is_some_and(|origin| origin_of(referrer) == Some(origin))
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
    fn ipv4_mapped_rules_match_ipv4_clients() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // Rules written (or stored, before rules were normalized) in the mapped form.
        let mapped = nets(&["::ffff:127.0.0.1/128", "::ffff:10.0.0.0/104"]);
        assert!(ip_allowed(&mapped, ip("127.0.0.1")));
        assert!(ip_allowed(&mapped, ip("::ffff:127.0.0.1")));
        assert!(ip_allowed(&mapped, ip("10.2.3.4")));
        assert!(!ip_allowed(&mapped, ip("127.0.0.2")));
        assert!(!ip_allowed(&mapped, ip("11.0.0.1")));
        assert_eq!(
            canonical_net(mapped[1]).to_string(),
            "10.0.0.0/8",
            "the mapped /104 is the IPv4 /8"
        );
    }

    #[test]
    fn ipv4_clients_seen_by_a_dual_stack_socket_match_ipv4_rules() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let v4 = nets(&["127.0.0.1/32", "192.168.0.0/16"]);
        assert!(ip_allowed(&v4, ip("::ffff:127.0.0.1")));
        assert!(ip_allowed(&v4, ip("::ffff:192.168.4.5")));
        assert!(!ip_allowed(&v4, ip("::ffff:127.0.0.2")));
        // Plain IPv6 rules are not widened: ::/0 is "any IPv6 client", not every client.
        let v6 = nets(&["2001:db8::/32"]);
        assert!(!ip_allowed(&v6, ip("::ffff:127.0.0.1")));
        assert!(!ip_allowed(&v6, ip("127.0.0.1")));
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

    #[test]
    fn an_origin_matches_its_pages_and_nothing_else() {
        let allowed = vec![
            "https://app.example.com".to_owned(),
            "http://localhost:3000/".to_owned(),
        ];
        let ok = |r: &str| referrer_allowed(&allowed, Some(r));
        // What browsers send: the origin alone (Origin, or Referer under the default
        // strict-origin-when-cross-origin policy) or the full page URL.
        assert!(ok("https://app.example.com"));
        assert!(ok("https://app.example.com/"));
        assert!(ok("https://APP.example.com/dashboard?tab=keys#x"));
        assert!(ok("https://app.example.com:443/"));
        assert!(ok("http://localhost:3000/index.html"));
        assert!(!ok("http://app.example.com/"), "another scheme");
        assert!(!ok("https://app.example.com:8443/"), "another port");
        assert!(!ok("https://app.example.com.evil.net/"));
        assert!(!ok("https://evil.net/https://app.example.com"));
        assert!(!ok("https://user@evil.net/"));
        assert!(!ok("http://localhost:30000/"));
        assert!(!ok("http://localhost/"), "port 80 is not 3000");
    }

    #[test]
    fn referrer_rules_that_can_never_match_are_refused() {
        for good in [
            "example.com",
            "EXAMPLE.com",
            "*.example.com",
            "https://app.example.com",
            "https://app.example.com/",
            "http://localhost:8080",
            "https://[2001:db8::1]:8443",
            "https://app.example.com/embed/*",
            "https://app.example.com/*",
            "https://app.example.com/p?x=*",
        ] {
            assert_eq!(referrer_rule_error(good), None, "{good}");
        }
        for (bad, says) in [
            ("ftp://files.example.com", "only http:// and https://"),
            ("chrome-extension://abc", "only http:// and https://"),
            ("https://", "no host"),
            ("https:///path*", "no host"),
            (
                "https://app.example.com/page",
                "a URL with a path must end in *",
            ),
            (
                "https://app.example.com?x=1",
                "a URL with a path must end in *",
            ),
            ("https://app.example.com*", "a URL prefix needs a path"),
            ("https://*.example.com", "* may only"),
            ("https://app.example.com/*/x", "* may only"),
            ("https://user@app.example.com", "user name"),
            ("https://app.example.com:99999", "port"),
            ("https://app.example.com:", "port"),
            ("app.example.com/embed", "a path needs a scheme"),
            ("localhost:3000", "a port needs a scheme"),
            ("*example.com", "* may only"),
            ("app.*.com", "* may only"),
            ("exa mple.com", "spaces"),
            ("", "empty"),
            ("a..b", "not a host name"),
            ("-", "not a host name"),
        ] {
            let err = referrer_rule_error(bad).expect("refused");
            assert!(err.contains(says), "{bad:?}: {err:?} lacks {says:?}");
            assert!(
                err.contains("https://app.example.com/embed/*"),
                "the accepted forms are named: {err}"
            );
        }
    }
}

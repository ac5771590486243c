//! Context checks: which client IPs and referrers may use a key.
//!
//! # IP rules
//! An IP address (`203.0.113.7`, `2001:db8::1`) or a CIDR network (`10.0.0.0/8`,
//! `2001:db8::/32`). An IPv4-mapped IPv6 rule (`::ffff:127.0.0.1`,
//! `::ffff:10.0.0.0/104`) means its IPv4 form and is stored as such; a client seen as
//! `::ffff:a.b.c.d` (an IPv4 client on a dual-stack socket) is checked as `a.b.c.d`.

use std::net::IpAddr;

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
}

//! Target `limits`: rate-limit specs ([`keygate::RateLimitSpec`]'s `FromStr`),
//! durations ([`keygate::duration::parse_duration`]) and IP rules
//! ([`keygate::manager::parse_ip_rule`]).
//!
//! Input: text (invalid UTF-8 replaced), given to each parser.

use keygate::duration::{format_duration, parse_duration};
use keygate::manager::parse_ip_rule;
use keygate::RateLimitSpec;

/// Parses the input as each kind of spec and checks: what parses displays and parses
/// back equal; a rate limit that parses is within its documented bounds, and the
/// limiter uses it as written (no clamping); a duration is 0 to 100 years; an IP rule
/// is in canonical form; rate-limit and duration errors quote at most a short part of
/// the input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_rate_limit(&text);
    check_duration(&text);
    check_ip_rule(&text);
}

fn check_rate_limit(s: &str) {
    let spec = match s.parse::<RateLimitSpec>() {
        Ok(spec) => spec,
        Err(e) => {
            // At most 64 characters quoted, each escaped as at most 10 (`\u{10ffff}`).
            assert!(e.to_string().chars().count() <= 64 * 10 + 300, "{e}");
            return;
        }
    };
    assert!(
        spec.validate().is_ok(),
        "{s:?} parsed to {spec:?}, which is out of bounds"
    );
    let printed = spec.to_string();
    assert_eq!(
        printed.parse::<RateLimitSpec>(),
        Ok(spec),
        "{s:?} printed as {printed:?}"
    );
    let json = serde_json::to_string(&spec).expect("serialises");
    assert_eq!(
        serde_json::from_str::<RateLimitSpec>(&json).ok(),
        Some(spec)
    );

    // The bounds hold, so the limiter takes the spec as written.
    assert!(spec.requests >= 1);
    assert!((1..=RateLimitSpec::MAX_PERIOD_SECONDS).contains(&spec.per_seconds));
    assert_eq!(
        spec.burst_size(),
        spec.burst.unwrap_or(spec.requests),
        "{spec:?}"
    );
    let interval = spec.interval_micros();
    assert!(interval >= 1);
    let full_refill = i64::from(spec.burst_size()).saturating_mul(interval);
    assert!(
        full_refill <= i64::from(RateLimitSpec::MAX_PERIOD_SECONDS) * 1_000_000,
        "{spec:?}: a full burst refills in {full_refill} µs"
    );
}

fn check_duration(s: &str) {
    let d = match parse_duration(s) {
        Ok(d) => d,
        Err(e) => {
            // At most 32 characters quoted, each escaped as at most 10.
            assert!(e.chars().count() <= 32 * 10 + 200, "{e}");
            return;
        }
    };
    assert!(d >= chrono::Duration::zero());
    assert!(d <= chrono::Duration::days(100 * 365), "{s:?}: {d}");
    let printed = format_duration(d);
    assert_eq!(
        parse_duration(&printed),
        Ok(d),
        "{s:?} printed as {printed:?}"
    );
    assert_eq!(parse_duration(&format!(" {printed}\t")), Ok(d));
}

fn check_ip_rule(s: &str) {
    let Ok(net) = parse_ip_rule(s) else {
        return;
    };
    let printed = net.to_string();
    assert_eq!(
        parse_ip_rule(&printed),
        Ok(net),
        "{s:?} printed as {printed:?}"
    );
    // IPv4-mapped IPv6 rules of /96 or longer become their IPv4 form.
    if let ipnet::IpNet::V6(v6) = net {
        let mapped = v6.addr().to_ipv4_mapped().is_some();
        assert!(!mapped || v6.prefix_len() < 96, "{s:?} stayed {net}");
    }
}

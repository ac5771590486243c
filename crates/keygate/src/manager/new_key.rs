use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::rate_limit::{NamedLimits, RateLimitSpec};
use crate::record::KeyKind;
use crate::restrictions;
use crate::scope_set::ScopeSet;

use super::error::ManageError;

/// What to create. Only `name` is required; see the field docs for defaults.
///
/// ```
/// use keygate::{NewKey, ScopeSet};
/// use keygate::record::KeyKind;
/// let new = NewKey::named("CI pipeline")
///     .scopes(ScopeSet::parse(["read:scans"]).unwrap())
///     .kind(KeyKind::Team)
///     .tenant("acme");
/// assert_eq!(new.name, "CI pipeline");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NewKey {
    /// Human name: 1 to 200 characters, none of them a control, bidirectional control
    /// (e.g. U+202E) or other invisible format character, which could make a listing
    /// show another name than the stored one.
    pub name: String,
    /// What the key is for: at most 2000 characters, the same characters as `name`
    /// plus line feeds and tabs.
    pub description: Option<String>,
    /// Key prefix (default: the manager's).
    pub prefix: Option<String>,
    /// Environment (default: the manager's).
    pub env: Option<String>,
    /// Personal, team or service (default: service).
    pub kind: KeyKind,
    /// Owner; a personal key's owner defaults to the acting key's owner.
    pub owner: Option<String>,
    /// Tenant: only the system actor may set it; an API caller's keys get its tenant.
    pub tenant: Option<String>,
    /// A role from the store.
    pub role: Option<String>,
    /// The key's own scopes.
    pub scopes: ScopeSet,
    /// Expiry (must be in the future).
    pub expires_at: Option<DateTime<Utc>>,
    /// Allowed client IPs/CIDRs (see [`parse_ip_rule`]).
    pub allowed_ips: Vec<IpNet>,
    /// Allowed referrers, each in one of four forms, compared with the request's
    /// `Referer`:
    /// - a host, `example.com`: that host, any scheme, port and path;
    /// - a wildcard host, `*.example.com`: `example.com` and its subdomains;
    /// - an origin, `https://app.example.com` (or `http://localhost:3000`, a trailing
    ///   `/` allowed): that scheme, host and port, any path;
    /// - a URL prefix ending in `*`, `https://app.example.com/embed/*`: URLs starting
    ///   with the text before the `*`.
    ///
    /// A rule that could never match (another scheme, no host, a path without the `*`,
    /// a port without a scheme, spaces, …) is refused with a message naming these
    /// forms.
    pub allowed_referrers: Vec<String>,
    /// Rate limit override.
    pub rate_limit: Option<RateLimitSpec>,
    /// Named limits beside it (each must allow a request; see [`NamedLimits`]).
    pub limits: NamedLimits,
    /// Uses the key may make (see [`crate::credits`]). Setting them needs the
    /// `admin:credits` scope; a key made by a key with credits and without that scope
    /// spends its maker's balance.
    pub credits: Option<crate::credits::CreditGrant>,
    /// Free-form JSON (at most 16 KB serialized).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl NewKey {
    /// A key with this name and every default.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: ScopeSet) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the named limits.
    ///
    /// ```
    /// use keygate::NewKey;
    /// use keygate::rate_limit::NamedLimits;
    /// let new = NewKey::named("ci").limits(NamedLimits::parse([("burst", "10/s")])?);
    /// assert_eq!(new.limits.len(), 1);
    /// # Ok::<(), keygate::rate_limit::NamedLimitsError>(())
    /// ```
    #[must_use]
    pub fn limits(mut self, limits: NamedLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the credits.
    #[must_use]
    pub fn credits(mut self, credits: crate::credits::CreditGrant) -> Self {
        self.credits = Some(credits);
        self
    }

    /// Sets the role.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the owner.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the tenant (system actor only).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the environment.
    #[must_use]
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Longest name accepted.
pub(crate) const MAX_NAME: usize = 200;
/// Longest description accepted.
pub(crate) const MAX_DESCRIPTION: usize = 2000;
/// Largest metadata accepted, serialized.
pub(crate) const MAX_METADATA: usize = 16 * 1024;
/// Most IP rules or referrers per key.
pub(crate) const MAX_RULES: usize = 100;

/// Refuses names of more than 200 characters, blank names, and names with a character
/// that would make a listing lie ([`hidden_char`]), naming the first such code point.
pub(crate) fn check_name(name: &str) -> Result<(), ManageError> {
    let len = name.chars().count();
    if name.trim().is_empty() || len > MAX_NAME {
        return Err(ManageError::invalid("name must be 1 to 200 characters"));
    }
    check_text("name", name, |_| false)
}

/// Refuses descriptions of more than 2000 characters, or with a character that would
/// make a listing lie ([`hidden_char`]); line feeds and tabs are allowed.
pub(crate) fn check_description(description: Option<&str>) -> Result<(), ManageError> {
    let Some(description) = description else {
        return Ok(());
    };
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ManageError::invalid(
            "description is at most 2000 characters",
        ));
    }
    check_text("description", description, |c| matches!(c, '\n' | '\t'))
}

/// Refuses a value that holds an API key ([`holds_key`](crate::secret_scan::holds_key):
/// exact, by checksum, so an honest value is never refused). A key
/// pasted into a name, a scope or metadata by mistake would be stored in plain text,
/// shown in every listing and written to the audit log; refused, it is stored nowhere.
/// The message names the field, never the value.
pub(crate) fn check_no_key<'a>(
    field: &str,
    texts: impl IntoIterator<Item = &'a str>,
) -> Result<(), ManageError> {
    if texts.into_iter().any(crate::secret_scan::holds_key) {
        return Err(ManageError::invalid(format!(
            "{field} holds an API key; a key is a secret and is never stored in key data \
             (if it was shared, revoke it)"
        )));
    }
    Ok(())
}

/// [`check_no_key`] over every text field of a new key.
pub(crate) fn check_new_key_holds_no_key(new: &NewKey) -> Result<(), ManageError> {
    check_no_key("name", [new.name.as_str()])?;
    check_no_key("description", new.description.as_deref())?;
    check_no_key("owner", new.owner.as_deref())?;
    check_no_key("tenant", new.tenant.as_deref())?;
    check_no_key("role", new.role.as_deref())?;
    check_no_key("scopes", new.scopes.to_strings().iter().map(String::as_str))?;
    check_no_key(
        "allowedReferrers",
        new.allowed_referrers.iter().map(String::as_str),
    )?;
    check_metadata_holds_no_key(&new.metadata)
}

/// [`check_no_key`] over metadata, keys and values.
pub(crate) fn check_metadata_holds_no_key(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ManageError> {
    if metadata.is_empty() {
        return Ok(());
    }
    let text = serde_json::Value::Object(metadata.clone()).to_string();
    check_no_key("metadata", [text.as_str()])
}

pub(crate) fn check_text(
    field: &str,
    text: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ManageError> {
    match text
        .chars()
        .filter(|c| !allowed(*c))
        .find_map(|c| hidden_char(c).map(|what| (c, what)))
    {
        Some((c, what)) => Err(ManageError::invalid(format!(
            "{field} contains U+{:04X} ({what}); names and descriptions may not contain \
             control, bidirectional or invisible format characters",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// What kind of character `c` is, if it is one that displays as something else or as
/// nothing: it could make `keygate keys list` (or any listing) show a name that is not
/// the stored one.
///
/// - a bidirectional control: U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to
///   U+2069 (they reorder the text around them);
/// - a control character (Unicode `Cc`: U+0000 to U+001F, U+007F to U+009F);
/// - another invisible format character (Unicode `Cf`: soft hyphen, zero-width space
///   and joiners, word joiner, byte order mark, tag characters, …);
/// - a line or paragraph separator (U+2028, U+2029).
pub(crate) fn hidden_char(c: char) -> Option<&'static str> {
    let cp = u32::from(c);
    if matches!(cp, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069) {
        Some("a bidirectional control")
    } else if c.is_control() {
        Some("a control character")
    } else if matches!(
        cp,
        0x00AD
            | 0x0600..=0x0605
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200D
            | 0x2060..=0x2064
            | 0x206A..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    ) {
        Some("an invisible format character")
    } else if matches!(cp, 0x2028 | 0x2029) {
        Some("a line or paragraph separator")
    } else {
        None
    }
}

pub(crate) fn check_expiry(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ManageError> {
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ManageError::invalid("expiresAt must be in the future"));
    }
    Ok(())
}

pub(crate) fn check_metadata(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ManageError> {
    let size = serde_json::to_vec(metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA {
        return Err(ManageError::invalid("metadata is at most 16 KB of JSON"));
    }
    Ok(())
}

/// At most 100 IP rules and 100 referrer rules, each referrer one that can match (see
/// the grammar in [`NewKey::allowed_referrers`]).
pub(crate) fn check_restrictions(ips: &[IpNet], referrers: &[String]) -> Result<(), ManageError> {
    if ips.len() > MAX_RULES || referrers.len() > MAX_RULES {
        return Err(ManageError::invalid(
            "at most 100 allowed IPs and 100 allowed referrers",
        ));
    }
    match referrers
        .iter()
        .find_map(|r| restrictions::referrer_rule_error(r))
    {
        Some(why) => Err(ManageError::invalid(why)),
        None => Ok(()),
    }
}

/// An IP or CIDR (`10.0.0.0/8`, `203.0.113.7`) as a network. An IPv4-mapped IPv6 rule
/// (`::ffff:127.0.0.1`, `::ffff:10.0.0.0/104`) becomes its IPv4 form, which is what it
/// matches: clients are compared in canonical form too.
///
/// ```
/// assert_eq!(keygate::manager::parse_ip_rule("203.0.113.7").map(|n| n.to_string()).as_deref(), Ok("203.0.113.7/32"));
/// assert_eq!(keygate::manager::parse_ip_rule("::ffff:127.0.0.1").map(|n| n.to_string()).as_deref(), Ok("127.0.0.1/32"));
/// assert!(keygate::manager::parse_ip_rule("10.0.0.0/33").is_err());
/// ```
pub fn parse_ip_rule(rule: &str) -> Result<IpNet, String> {
    rule.parse::<IpNet>()
        .or_else(|_| rule.parse::<IpAddr>().map(IpNet::from))
        .map(restrictions::canonical_net)
        .map_err(|_| format!("{rule:?} is not an IP address or CIDR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: Result<(), ManageError>) -> String {
        match result {
            Ok(()) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_key_anywhere_in_a_value_is_refused_without_being_echoed() {
        let key = crate::key_format::generate("sk", "live").expect("a generated key");
        let key = key.expose();
        let other = crate::key_format::generate("neo_sk", "prod").expect("a generated key");
        let other = other.expose();
        for text in [
            key.to_owned(),
            format!("my key is {key}."),
            format!("x_{key}"),
            format!("{{\"token\":\"{other}\"}}"),
            format!("https://app.example.com/?k={other}&x=1"),
        ] {
            let msg = refusal(check_no_key("name", [text.as_str()]));
            assert!(msg.contains("name holds an API key"), "{text}: {msg}");
            assert!(
                !msg.contains(&key[8..]) && !msg.contains(&other[12..]),
                "{msg}"
            );
        }
        let mut changed = key.to_owned();
        let last = changed.pop().expect("a character");
        changed.push(if last == 'a' { 'b' } else { 'a' });
        for ok in [
            changed.as_str(),
            "sk_live_",
            "read:scans",
            "billing service key",
            "",
        ] {
            assert_eq!(refusal(check_no_key("name", [ok])), "accepted", "{ok}");
        }
        let mut metadata = serde_json::Map::new();
        metadata.insert("note".to_owned(), serde_json::json!(["nested", {"k": key}]));
        assert!(refusal(check_metadata_holds_no_key(&metadata)).contains("metadata"));
    }

    #[test]
    fn names_with_bidi_format_or_control_characters_are_refused_by_code_point() {
        for (name, says) in [
            ("invoice\u{202E}fdp.exe", "U+202E (a bidirectional control)"),
            ("a\u{2066}b", "U+2066 (a bidirectional control)"),
            ("a\u{200F}b", "U+200F (a bidirectional control)"),
            ("a\u{061C}b", "U+061C (a bidirectional control)"),
            (
                "zero\u{200B}width",
                "U+200B (an invisible format character)",
            ),
            ("bom\u{FEFF}", "U+FEFF (an invisible format character)"),
            ("tag\u{E0041}", "U+E0041 (an invisible format character)"),
            (
                "line\u{2028}break",
                "U+2028 (a line or paragraph separator)",
            ),
            ("bell\u{7}", "U+0007 (a control character)"),
            ("new\nline", "U+000A (a control character)"),
            ("esc\u{1b}[2J", "U+001B (a control character)"),
        ] {
            let msg = refusal(check_name(name));
            assert!(
                msg.contains(&format!("name contains {says}")),
                "{name:?}: {msg}"
            );
        }
        for ok in [
            "CI pipeline",
            "Überweisung 2024",
            "数据管道",
            "café ☕",
            "مفتاح",
        ] {
            assert_eq!(refusal(check_name(ok)), "accepted", "{ok:?}");
        }
    }

    #[test]
    fn ipv4_mapped_ip_rules_are_stored_as_ipv4() {
        let rule = |s: &str| parse_ip_rule(s).map(|n| n.to_string());
        assert_eq!(rule("::ffff:127.0.0.1").as_deref(), Ok("127.0.0.1/32"));
        assert_eq!(rule("::FFFF:7f00:1").as_deref(), Ok("127.0.0.1/32"));
        assert_eq!(rule("::ffff:10.0.0.0/104").as_deref(), Ok("10.0.0.0/8"));
        assert_eq!(rule("::ffff:0:0/96").as_deref(), Ok("0.0.0.0/0"));
        assert_eq!(rule("2001:db8::/32").as_deref(), Ok("2001:db8::/32"));
        assert_eq!(rule("203.0.113.7").as_deref(), Ok("203.0.113.7/32"));
        assert!(rule("::ffff:10.0.0.0/129").is_err());
    }

    #[test]
    fn referrer_rules_that_can_never_match_are_refused_at_creation() {
        let msg = refusal(check_restrictions(
            &[],
            &["example.com".into(), "ftp://x.io".into()],
        ));
        assert!(
            msg.contains(r#"allowed referrer "ftp://x.io" can never match"#),
            "{msg}"
        );
        assert_eq!(
            refusal(check_restrictions(&[], &["https://app.example.com".into()])),
            "accepted"
        );
    }

    #[test]
    fn descriptions_are_held_to_the_same_characters_but_may_span_lines() {
        let msg = refusal(check_description(Some("for \u{202D}ops")));
        assert!(
            msg.contains("description contains U+202D (a bidirectional control)"),
            "{msg}"
        );
        let msg = refusal(check_description(Some("carriage\rreturn")));
        assert!(msg.contains("U+000D (a control character)"), "{msg}");
        assert_eq!(
            refusal(check_description(Some("line one\nline two\twith a tab"))),
            "accepted"
        );
        assert_eq!(refusal(check_description(None)), "accepted");
    }
}

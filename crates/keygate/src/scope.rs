//! One scope: `action:resource`, with `*` wildcards; [`ScopeError`] when one does not
//! parse, and [`require`], the check a route's scope guard makes.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};

pub use crate::scope_rule::{require, require_in_shadow};

/// Longest scope string accepted.
pub(crate) const MAX_SCOPE_LEN: usize = 128;
/// Longest action accepted (so `action:resource` fits in [`MAX_SCOPE_LEN`] whichever
/// form it is written in, list or per-resource map).
pub const MAX_ACTION_LEN: usize = 63;
/// Longest resource accepted.
pub const MAX_RESOURCE_LEN: usize = 64;

/// A permission: `action:resource`.
///
/// - `read:scans` — one action on one resource;
/// - `read:*` or a bare `read` — that action on every resource;
/// - `*:scans` — every action on one resource;
/// - `*` or `admin` — everything.
///
/// A scope keeps the spelling it was written in (`read` stays `read` in API responses)
/// but compares by meaning: `read` == `read:*`, `admin` == `*`.
///
/// ```
/// use keygate::Scope;
/// let granted: Scope = "read".parse()?;
/// assert!(granted.grants(&"read:scans".parse()?));
/// assert!(!granted.grants(&"write:scans".parse()?));
/// assert!("admin".parse::<Scope>()?.grants(&"delete:users".parse()?));
/// assert_eq!(granted.to_string(), "read");
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    raw: Box<str>,
    action: Part,
    resource: Part,
    /// A hash of `raw`, made once: how a key's use of a requirement is told apart on
    /// the request path without hashing text.
    fingerprint: u64,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Part {
    Any,
    Name(Box<str>),
}

impl Part {
    fn covers(&self, other: &Part) -> bool {
        match (self, other) {
            (Part::Any, _) => true,
            (Part::Name(a), Part::Name(b)) => a == b,
            (Part::Name(_), Part::Any) => false,
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Part::Any => None,
            Part::Name(n) => Some(n),
        }
    }
}

/// Why a string is not a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {scope:?}: {reason}")]
pub struct ScopeError {
    scope: String,
    reason: &'static str,
}

impl ScopeError {
    pub(crate) fn new(scope: &str, reason: &'static str) -> Self {
        let mut scope = scope.to_owned();
        if scope.len() > 64 {
            let cut = (0..=64)
                .rev()
                .find(|&i| scope.is_char_boundary(i))
                .unwrap_or(0);
            scope.truncate(cut);
            scope.push('…');
        }
        Self { scope, reason }
    }

    /// What is wrong, without the input.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl Scope {
    /// Parses a scope. See the type docs for the grammar.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::new(s, "a scope cannot be empty"));
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::new(s, "a scope is at most 128 characters"));
        }
        let (action, resource) = match s {
            "*" | "admin" => (Part::Any, Part::Any),
            _ => match s.split_once(':') {
                None => (parse_part(s, s, false)?, Part::Any),
                Some((a, r)) => (parse_part(s, a, false)?, parse_part(s, r, true)?),
            },
        };
        Ok(Self {
            raw: s.into(),
            action,
            resource,
            fingerprint: foldhash::fast::FixedState::with_seed(0x6b67).hash_one(s),
        })
    }

    /// Builds `action:resource` from a per-resource map entry
    /// (`{"opportunities": ["read", "write"]}`).
    pub fn for_resource(resource: &str, action: &str) -> Result<Self, ScopeError> {
        if action.contains(':') {
            return Err(ScopeError::new(
                action,
                "a per-resource action cannot contain ':'",
            ));
        }
        Self::parse(&format!("{action}:{resource}"))
    }

    /// Whether holding `self` is enough for an action that needs `required`.
    pub fn grants(&self, required: &Scope) -> bool {
        self.action.covers(&required.action) && self.resource.covers(&required.resource)
    }

    /// The action, or `None` for `*`.
    pub fn action(&self) -> Option<&str> {
        self.action.name()
    }

    /// The resource, or `None` for `*`.
    pub fn resource(&self) -> Option<&str> {
        self.resource.name()
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A hash of the scope's text, made when it was parsed.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

fn parse_part(whole: &str, part: &str, is_resource: bool) -> Result<Part, ScopeError> {
    if part == "*" {
        return Ok(Part::Any);
    }
    if part.is_empty() {
        return Err(ScopeError::new(
            whole,
            "both sides of ':' must be non-empty",
        ));
    }
    if is_resource && part.len() > MAX_RESOURCE_LEN {
        return Err(ScopeError::new(
            whole,
            "a resource is at most 64 characters",
        ));
    }
    if !is_resource && part.len() > MAX_ACTION_LEN {
        return Err(ScopeError::new(whole, "an action is at most 63 characters"));
    }
    let ok_char = |c: u8| {
        c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'-'
            || c == b'.'
            || (is_resource && c == b'/')
    };
    if !part.bytes().all(ok_char) {
        return Err(ScopeError::new(
            whole,
            if is_resource {
                "a resource may hold only letters, digits, '_', '-', '.', '/' or be '*'"
            } else {
                "an action may hold only letters, digits, '_', '-', '.' or be '*'"
            },
        ));
    }
    Ok(Part::Name(part.into()))
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action && self.resource == other.resource
    }
}

impl Eq for Scope {}

impl Hash for Scope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.action.hash(state);
        self.resource.hash(state);
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", self.raw)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl TryFrom<&str> for Scope {
    type Error = ScopeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> Self {
        s.raw.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn matching_table() {
        // (granted, required, expected)
        let table = [
            ("read:scans", "read:scans", true),
            ("read:scans", "read:reports", false),
            ("read:scans", "write:scans", false),
            ("read:*", "read:scans", true),
            ("read", "read:scans", true),
            ("read", "write:scans", false),
            ("*", "delete:anything", true),
            ("admin", "write:exports", true),
            ("*:scans", "write:scans", true),
            ("*:scans", "write:reports", false),
            ("read:scans", "read:*", false),
            ("read:*", "read", true),
            ("read", "*", false),
            ("*", "*", true),
            ("admin", "*", true),
            ("write:api-keys", "write:api-keys", true),
            ("read:org/repo", "read:org/repo", true),
            ("read:org", "read:org/repo", false),
        ];
        for (granted, required, expected) in table {
            assert_eq!(
                s(granted).grants(&s(required)),
                expected,
                "{granted} grants {required}"
            );
        }
    }

    #[test]
    fn each_side_has_its_own_length_limit_so_both_forms_agree() {
        let action = "a".repeat(MAX_ACTION_LEN);
        let resource = "r".repeat(MAX_RESOURCE_LEN);
        assert!(Scope::parse(&format!("{action}:{resource}")).is_ok());
        assert!(Scope::for_resource(&resource, &action).is_ok());
        for bad in [
            format!("{action}a"),
            format!("{action}a:x"),
            format!("x:{resource}r"),
        ] {
            match Scope::parse(&bad) {
                Ok(scope) => panic!("{bad} was accepted as {scope}"),
                Err(err) => assert!(err.reason().contains("at most"), "{bad}: {err}"),
            }
        }
    }

    #[test]
    fn equality_is_by_meaning_display_by_spelling() {
        assert_eq!(s("read"), s("read:*"));
        assert_eq!(s("admin"), s("*"));
        assert_eq!(s("read").to_string(), "read");
        assert_eq!(s("read").action(), Some("read"));
        assert_eq!(s("read").resource(), None);
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "",
            ":",
            "read:",
            ":scans",
            "read scans",
            "read:scans:x",
            "réad",
            "read:(x)",
            "a,b",
            "any(read)",
            "read:sc ans",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Scope::parse(&"a".repeat(129)).is_err());
        let err = Scope::parse(&"é".repeat(100))
            .err()
            .map(|e| e.to_string())
            .expect("an error");
        assert!(err.len() < 200, "error message stays short: {err}");
    }

    #[test]
    fn per_resource_entries() {
        assert_eq!(
            Scope::for_resource("opportunities", "write").map(|s| s.to_string()),
            Ok("write:opportunities".into())
        );
        assert!(Scope::for_resource("accounts", "read:x").is_err());
    }

    #[test]
    fn serde_as_string() {
        let json = serde_json::to_string(&s("read:scans")).expect("serialises");
        assert_eq!(json, "\"read:scans\"");
        assert!(serde_json::from_str::<Scope>("\"bad scope\"").is_err());
    }
}

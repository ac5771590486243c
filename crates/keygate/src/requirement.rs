//! What a route needs: a scope, `any(...)` or `all(...)`, nested.

use std::fmt;

use crate::scope::{Scope, ScopeError};
use crate::scope_set::ScopeSet;

/// A scope requirement: one scope, any of several, or all of several (nestable).
///
/// The text form is what `#[require_scope(...)]` and `RequireScope::new` read:
/// `write:scans`, `any(read:scans, admin)`, `all(read:scans, any(write:scans, admin))`.
///
/// ```
/// use keygate::{Requirement, ScopeSet};
/// let need = Requirement::parse("any(write:scans, admin)")?;
/// assert!(ScopeSet::parse(["admin"])?.satisfies(&need));
/// assert!(!ScopeSet::parse(["read:scans"])?.satisfies(&need));
/// assert_eq!(need.to_string(), "any(write:scans, admin)");
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// This one scope.
    Scope(Scope),
    /// At least one of these.
    Any(Vec<Requirement>),
    /// Every one of these.
    All(Vec<Requirement>),
}

impl Requirement {
    /// Parses the text form. Whitespace around items is ignored; lists are non-empty.
    pub fn parse(input: &str) -> Result<Self, ScopeError> {
        let mut parser = Parser { input, pos: 0 };
        let req = parser.requirement(0)?;
        parser.skip_ws();
        if parser.pos != input.len() {
            return Err(ScopeError::new(
                input,
                "unexpected text after the requirement",
            ));
        }
        Ok(req)
    }

    /// A requirement for one scope.
    pub fn scope(scope: Scope) -> Self {
        Self::Scope(scope)
    }

    /// Whether `scopes` meet this requirement.
    pub fn is_satisfied_by(&self, scopes: &ScopeSet) -> bool {
        match self {
            Self::Scope(s) => scopes.grants(s),
            Self::Any(items) => items.iter().any(|r| r.is_satisfied_by(scopes)),
            Self::All(items) => items.iter().all(|r| r.is_satisfied_by(scopes)),
        }
    }

    /// The identity under which a key's use of the requirement is noted: its scopes'
    /// fingerprints (made when they were parsed) mixed with its shape. No text is hashed
    /// and nothing allocated: it runs on every scope check.
    pub(crate) fn fingerprint(&self) -> u64 {
        const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
        match self {
            Self::Scope(s) => s.fingerprint(),
            Self::Any(items) | Self::All(items) => {
                let seed: u64 = if matches!(self, Self::Any(_)) { 1 } else { 2 };
                items.iter().fold(seed, |acc, item| {
                    (acc ^ item.fingerprint()).wrapping_mul(MIX).rotate_left(29)
                })
            }
        }
    }

    /// What a key holding `scopes` exercised in meeting the requirement: its one scope;
    /// for `any(…)` the first alternative it meets (one suffices); for `all(…)` every
    /// item. Empty when `scopes` do not meet it.
    pub(crate) fn granted_by<'a>(&'a self, scopes: &ScopeSet) -> Vec<&'a Scope> {
        let mut out = Vec::new();
        self.exercised(scopes, &mut out);
        out
    }

    fn exercised<'a>(&'a self, scopes: &ScopeSet, out: &mut Vec<&'a Scope>) {
        match self {
            Self::Scope(s) => {
                if scopes.grants(s) && !out.contains(&s) {
                    out.push(s);
                }
            }
            Self::Any(items) => {
                if let Some(met) = items.iter().find(|r| r.is_satisfied_by(scopes)) {
                    met.exercised(scopes, out);
                }
            }
            Self::All(items) => {
                if self.is_satisfied_by(scopes) {
                    for item in items {
                        item.exercised(scopes, out);
                    }
                }
            }
        }
    }

    /// Every scope named anywhere in the requirement, in order (for the RFC 6750
    /// `scope` attribute of `WWW-Authenticate`).
    pub fn scopes(&self) -> Vec<&Scope> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Scope>) {
        match self {
            Self::Scope(s) => {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Self::Any(items) | Self::All(items) => items.iter().for_each(|r| r.collect(out)),
        }
    }
}

impl From<Scope> for Requirement {
    fn from(scope: Scope) -> Self {
        Self::Scope(scope)
    }
}

impl std::str::FromStr for Requirement {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, items) = match self {
            Self::Scope(s) => return fmt::Display::fmt(s, f),
            Self::Any(items) => ("any", items),
            Self::All(items) => ("all", items),
        };
        write!(f, "{name}(")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            fmt::Display::fmt(item, f)?;
        }
        f.write_str(")")
    }
}

/// Nesting deeper than this is refused (a requirement is written by people).
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.input[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.input[self.pos..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
        }
    }

    fn requirement(&mut self, depth: usize) -> Result<Requirement, ScopeError> {
        if depth > MAX_DEPTH {
            return Err(ScopeError::new(
                self.input,
                "requirement is nested too deeply",
            ));
        }
        self.skip_ws();
        let rest = &self.input[self.pos..];
        let word_len = rest
            .find(|c: char| c == '(' || c == ')' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let word = &rest[..word_len];
        self.pos += word_len;
        self.skip_ws();
        if self.input[self.pos..].starts_with('(') {
            let make: fn(Vec<Requirement>) -> Requirement = match word {
                "any" => Requirement::Any,
                "all" => Requirement::All,
                _ => {
                    return Err(ScopeError::new(
                        self.input,
                        "only any(...) and all(...) take a list",
                    ))
                }
            };
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                items.push(self.requirement(depth + 1)?);
                self.skip_ws();
                match self.input[self.pos..].chars().next() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        return Ok(make(items));
                    }
                    _ => return Err(ScopeError::new(self.input, "expected ',' or ')' in a list")),
                }
            }
        }
        if word.is_empty() {
            return Err(ScopeError::new(
                self.input,
                "expected a scope, any(...) or all(...)",
            ));
        }
        Ok(Requirement::Scope(Scope::parse(word)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(scopes: &[&str]) -> ScopeSet {
        ScopeSet::parse(scopes).expect("valid scopes")
    }

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "write:scans",
            "any(read:scans, admin)",
            "all(read:scans, any(write:scans, admin))",
            "all(a:b)",
        ] {
            let req = Requirement::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(req.to_string(), text);
        }
        assert_eq!(
            Requirement::parse("  any( read:scans ,admin )  ").map(|r| r.to_string()),
            Ok("any(read:scans, admin)".to_owned())
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "any()",
            "any(",
            "any(a:b",
            "any(a:b,)",
            "some(a:b)",
            "a:b)",
            "a:b c:d",
            "any(a b)",
            "read scans",
            "all(any(x:y)",
            "(a:b)",
        ] {
            assert!(
                Requirement::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let deep = format!("{}a:b{}", "any(".repeat(40), ")".repeat(40));
        assert!(Requirement::parse(&deep).is_err());
    }

    #[test]
    fn satisfaction() {
        let any = Requirement::parse("any(write:scans, admin)").unwrap_or_else(|e| panic!("{e}"));
        let all =
            Requirement::parse("all(read:scans, read:reports)").unwrap_or_else(|e| panic!("{e}"));
        assert!(any.is_satisfied_by(&set(&["write:scans"])));
        assert!(any.is_satisfied_by(&set(&["*"])));
        assert!(!any.is_satisfied_by(&set(&["read:scans"])));
        assert!(all.is_satisfied_by(&set(&["read:scans", "read:reports"])));
        assert!(all.is_satisfied_by(&set(&["read"])));
        assert!(!all.is_satisfied_by(&set(&["read:scans"])));
        assert!(!all.is_satisfied_by(&set(&[])));
    }

    #[test]
    fn scopes_are_flattened_once() {
        let req = Requirement::parse("all(a:b, any(c:d, a:b))").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = req.scopes().iter().map(|s| s.to_string()).collect();
        assert_eq!(names, vec!["a:b", "c:d"]);
    }
}

//! The scopes a key holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::requirement::Requirement;
use crate::scope::{Scope, ScopeError};

/// A set of granted scopes, deduplicated, in the order first written.
///
/// ```
/// use keygate::{Requirement, ScopeSet};
/// let scopes = ScopeSet::parse(["read:scans", "read:reports"])?;
/// assert!(scopes.satisfies(&Requirement::parse("read:scans")?));
/// assert!(!scopes.satisfies(&Requirement::parse("all(read:scans, write:scans)")?));
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// An empty set: grants nothing.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Parses every scope; the first bad one is the error.
    pub fn parse<I, S>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::new();
        for s in scopes {
            set.insert(Scope::parse(s.as_ref())?);
        }
        Ok(set)
    }

    /// Normalises a per-resource map (`{"opportunities": ["read", "write"]}`) to
    /// `read:opportunities`, `write:opportunities`.
    pub fn from_resource_map(map: &BTreeMap<String, Vec<String>>) -> Result<Self, ScopeError> {
        let mut set = Self::new();
        for (resource, actions) in map {
            for action in actions {
                set.insert(Scope::for_resource(resource, action)?);
            }
        }
        Ok(set)
    }

    /// Adds a scope unless an equal one is already there.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// Adds every scope of `other`.
    pub fn extend(&mut self, other: &ScopeSet) {
        for scope in &other.0 {
            self.insert(scope.clone());
        }
    }

    /// Whether some scope here grants `required`.
    pub fn grants(&self, required: &Scope) -> bool {
        self.0.iter().any(|s| s.grants(required))
    }

    /// Whether these scopes meet `requirement`.
    pub fn satisfies(&self, requirement: &Requirement) -> bool {
        requirement.is_satisfied_by(self)
    }

    /// Whether every scope of `other` is granted by this set (the privilege ceiling:
    /// a key may not get more than its creator holds).
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.grants(s))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes as strings, as written.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut set = Self::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedups_by_meaning() {
        let set = ScopeSet::parse(["read", "read:*", "admin", "*"]).expect("valid scopes");
        assert_eq!(set.to_strings(), vec!["read", "admin"]);
    }

    #[test]
    fn resource_map_normalises() {
        let mut map = BTreeMap::new();
        map.insert(
            "opportunities".to_owned(),
            vec!["read".to_owned(), "write".to_owned()],
        );
        map.insert("accounts".to_owned(), vec!["read".to_owned()]);
        let set = ScopeSet::from_resource_map(&map).expect("valid scopes");
        assert_eq!(
            set.to_strings(),
            vec!["read:accounts", "read:opportunities", "write:opportunities"]
        );
        map.insert("x".to_owned(), vec!["bad action".to_owned()]);
        assert!(ScopeSet::from_resource_map(&map).is_err());
    }

    #[test]
    fn privilege_ceiling() {
        let creator = ScopeSet::parse(["read", "write:scans"]).expect("valid scopes");
        assert!(
            creator.covers(&ScopeSet::parse(["read:scans", "write:scans"]).expect("valid scopes"))
        );
        assert!(!creator.covers(&ScopeSet::parse(["write:reports"]).expect("valid scopes")));
        assert!(!creator.covers(&ScopeSet::parse(["*"]).expect("valid scopes")));
        assert!(ScopeSet::parse(["*"])
            .expect("valid scopes")
            .covers(&creator));
    }
}

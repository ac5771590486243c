//! Roles: named scope sets kept in the store.

use serde::{Deserialize, Serialize};

use crate::scope_set::ScopeSet;

/// A named set of scopes. A key with a role holds the role's scopes plus its own,
/// resolved at verify time, so editing a role changes every key that has it.
///
/// ```
/// use keygate::ScopeSet;
/// use keygate::role::Role;
/// let role = Role::new("radiologist", ScopeSet::parse(["read:scans", "read:reports"])?)?;
/// assert_eq!(role.name(), "radiologist");
/// assert!(Role::new("Bad Name", ScopeSet::new()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    name: String,
    /// The scopes the role grants.
    pub scopes: ScopeSet,
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A role name that is not `[a-z][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role name: use 1 to 64 of [a-z0-9_-], starting with a letter")]
pub struct RoleNameError;

impl Role {
    /// A role with no description.
    pub fn new(name: impl Into<String>, scopes: ScopeSet) -> Result<Self, RoleNameError> {
        let name = name.into();
        validate_role_name(&name)?;
        Ok(Self {
            name,
            scopes,
            description: None,
        })
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks a role name: `[a-z][a-z0-9_-]{0,63}`.
pub fn validate_role_name(name: &str) -> Result<(), RoleNameError> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(RoleNameError)
    }
}

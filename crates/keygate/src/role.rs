//! Roles: named scope sets kept in the store, global or of one tenant and environment.

use serde::{Deserialize, Serialize};

use crate::scope_set::ScopeSet;

/// A named set of scopes. A key with a role holds the role's scopes plus its own,
/// resolved at verify time, so editing a role changes every key that has it.
///
/// A role is either **global** (defined by the system actor: the CLI, a seed script)
/// or belongs to one [`RoleNamespace`] (a tenant and an environment), where a tenant's
/// admin key defines it. A key of tenant `T` and environment `E` with role `R` holds
/// the scopes of `R` in `(T, E)` if that role exists, else those of the global `R`
/// (see [`KeyStore::get_role`](crate::KeyStore::get_role)): a tenant's role shadows the
/// global one for that tenant and environment only.
///
/// ```
/// use keygate::ScopeSet;
/// use keygate::role::Role;
/// let role = Role::new("radiologist", ScopeSet::parse(["read:scans", "read:reports"])?)?;
/// assert_eq!(role.name(), "radiologist");
/// assert!(role.is_global());
/// assert!(Role::new("Bad Name", ScopeSet::new()).is_err());
///
/// let acme = Role::new("radiologist", ScopeSet::parse(["read:scans"])?)?.in_namespace("acme", "live")?;
/// assert_eq!((acme.tenant(), acme.env()), (Some("acme"), Some("live")));
/// assert!(!acme.is_global());
///
/// // Roles serialized before namespaces existed read back as global.
/// let old: Role = serde_json::from_str(r#"{"name":"viewer","scopes":["read"]}"#)?;
/// assert!(old.is_global());
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
    /// Where the role is defined: `None` for a global role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<RoleNamespace>,
}

/// The tenant and environment a non-global [`Role`] belongs to. Both are non-empty (an
/// empty tenant and environment is how stores spell "global").
///
/// ```
/// use keygate::role::RoleNamespace;
/// let ns = RoleNamespace::new("acme", "live")?;
/// assert_eq!((ns.tenant(), ns.env()), ("acme", "live"));
/// assert!(RoleNamespace::new("", "live").is_err());
/// # Ok::<(), keygate::role::RoleNamespaceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawNamespace")]
pub struct RoleNamespace {
    tenant: String,
    env: String,
}

#[derive(Deserialize)]
struct RawNamespace {
    tenant: String,
    env: String,
}

impl TryFrom<RawNamespace> for RoleNamespace {
    type Error = RoleNamespaceError;
    fn try_from(raw: RawNamespace) -> Result<Self, Self::Error> {
        Self::new(raw.tenant, raw.env)
    }
}

/// A role namespace with an empty tenant or environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role namespace: the tenant and the environment must not be empty")]
pub struct RoleNamespaceError;

impl RoleNamespace {
    /// The namespace of `tenant` and `env`; both must be non-empty.
    pub fn new(
        tenant: impl Into<String>,
        env: impl Into<String>,
    ) -> Result<Self, RoleNamespaceError> {
        let (tenant, env) = (tenant.into(), env.into());
        if tenant.trim().is_empty() || env.trim().is_empty() {
            return Err(RoleNamespaceError);
        }
        Ok(Self { tenant, env })
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The environment.
    pub fn env(&self) -> &str {
        &self.env
    }
}

impl std::fmt::Display for RoleNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.env)
    }
}

/// A role name that is not `[a-z][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role name: use 1 to 64 of [a-z0-9_-], starting with a letter")]
pub struct RoleNameError;

impl Role {
    /// A global role with no description.
    pub fn new(name: impl Into<String>, scopes: ScopeSet) -> Result<Self, RoleNameError> {
        let name = name.into();
        validate_role_name(&name)?;
        Ok(Self {
            name,
            scopes,
            description: None,
            namespace: None,
        })
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Moves the role into the namespace of `tenant` and `env` (both non-empty).
    pub fn in_namespace(
        self,
        tenant: impl Into<String>,
        env: impl Into<String>,
    ) -> Result<Self, RoleNamespaceError> {
        Ok(self.with_namespace(Some(RoleNamespace::new(tenant, env)?)))
    }

    /// Sets the namespace (`None`: global).
    #[must_use]
    pub fn with_namespace(mut self, namespace: Option<RoleNamespace>) -> Self {
        self.namespace = namespace;
        self
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the role is defined (`None`: global).
    pub fn namespace(&self) -> Option<&RoleNamespace> {
        self.namespace.as_ref()
    }

    /// The role's tenant (`None`: global).
    pub fn tenant(&self) -> Option<&str> {
        self.namespace.as_ref().map(RoleNamespace::tenant)
    }

    /// The role's environment (`None`: global).
    pub fn env(&self) -> Option<&str> {
        self.namespace.as_ref().map(RoleNamespace::env)
    }

    /// Whether the role is global (defined for every tenant).
    pub fn is_global(&self) -> bool {
        self.namespace.is_none()
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

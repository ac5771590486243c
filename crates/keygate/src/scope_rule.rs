//! A route's scope requirement, checked the same way by every adapter.

use crate::authenticate::Authenticated;
use crate::error::AuthError;
use crate::method_policy::MethodPolicy;
use crate::requirement::Requirement;
use crate::scope::ScopeError;

/// What a route requires of the caller's scopes: one [`Requirement`], or one derived
/// from each request's method and path by a [`MethodPolicy`]. `keygate_tower`'s
/// `RequireScope` and `keygate_actix`'s `#[require_scope]` both decide with
/// [`ScopeRule::check`], so a route answers alike on both frameworks.
///
/// ```
/// use keygate::{AuthError, ScopeRule};
/// let rule = ScopeRule::parse("write:scans")?;
/// // No `Authenticated` in the request: the key layer did not run for this route.
/// assert_eq!(rule.check(None, "POST", "/scans"), Err(AuthError::MissingKey));
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
#[derive(Debug, Clone)]
pub enum ScopeRule {
    /// The same requirement for every request.
    Requirement(Requirement),
    /// A requirement per method and resource (`GET /v1/scans` needs `read:scans`).
    Methods(MethodPolicy),
}

impl ScopeRule {
    /// A fixed requirement, e.g. `"read:scans"` or `"read:scans | admin"`.
    pub fn parse(requirement: &str) -> Result<Self, ScopeError> {
        Requirement::parse(requirement).map(Self::Requirement)
    }

    /// `Ok` if the request's caller meets the rule for `method` and `path`;
    /// [`AuthError::InsufficientScope`] (403) if not; [`AuthError::MissingKey`] (401)
    /// when no key was verified for the request (the key layer does not wrap the
    /// route: a wiring mistake, refused rather than let through).
    pub fn check(
        &self,
        authenticated: Option<&Authenticated>,
        method: &str,
        path: &str,
    ) -> Result<(), AuthError> {
        self.decide(authenticated, method, path, require)
    }

    /// [`check`](ScopeRule::check) in shadow mode, for rolling out a new requirement:
    /// a caller without the scope is let through, and what the rule would have refused
    /// is counted, logged and audited ([`Principal::require_in_shadow`]). A request
    /// with no verified key is still refused: shadow mode relaxes the scope, never the
    /// key.
    ///
    /// [`Principal::require_in_shadow`]: crate::Principal::require_in_shadow
    ///
    /// ```
    /// use keygate::{AuthError, ScopeRule};
    /// let rule = ScopeRule::parse("write:scans")?;
    /// assert_eq!(rule.check_in_shadow(None, "POST", "/scans"), Err(AuthError::MissingKey));
    /// # Ok::<(), keygate::scope::ScopeError>(())
    /// ```
    pub fn check_in_shadow(
        &self,
        authenticated: Option<&Authenticated>,
        method: &str,
        path: &str,
    ) -> Result<(), AuthError> {
        self.decide(authenticated, method, path, require_in_shadow)
    }

    /// The route's requirement for this request, decided by `decide`.
    fn decide(
        &self,
        authenticated: Option<&Authenticated>,
        method: &str,
        path: &str,
        decide: fn(Option<&Authenticated>, &Requirement) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        match self {
            Self::Requirement(requirement) => decide(authenticated, requirement),
            Self::Methods(policy) => decide(authenticated, &policy.requirement(method, path)),
        }
    }
}

/// `Ok` if the caller meets `requirement`; see [`ScopeRule::check`].
///
/// ```
/// use keygate::{AuthError, Requirement};
/// use keygate::scope::require;
/// let requirement = Requirement::parse("read:items")?;
/// assert_eq!(require(None, &requirement), Err(AuthError::MissingKey));
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
pub fn require(
    authenticated: Option<&Authenticated>,
    requirement: &Requirement,
) -> Result<(), AuthError> {
    match authenticated {
        Some(authenticated) => authenticated.principal.require(requirement),
        None => {
            tracing::warn!(
                "keygate: a scope check ran without a verified key: does the key layer (ApiKeyLayer, ApiKeyAuth) wrap this route?"
            );
            Err(AuthError::MissingKey)
        }
    }
}

/// [`require`] in shadow mode: a verified caller is let through whatever its scopes,
/// and what the requirement would have refused is counted, logged and audited
/// ([`Principal::require_in_shadow`](crate::Principal::require_in_shadow)); no verified
/// key is still [`AuthError::MissingKey`].
///
/// ```
/// use keygate::{AuthError, Requirement};
/// use keygate::scope::require_in_shadow;
/// let requirement = Requirement::parse("write:items")?;
/// assert_eq!(require_in_shadow(None, &requirement), Err(AuthError::MissingKey));
/// # Ok::<(), keygate::scope::ScopeError>(())
/// ```
pub fn require_in_shadow(
    authenticated: Option<&Authenticated>,
    requirement: &Requirement,
) -> Result<(), AuthError> {
    match authenticated {
        Some(authenticated) => authenticated.principal.require_in_shadow(requirement),
        None => require(None, requirement),
    }
}

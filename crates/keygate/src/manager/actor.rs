use std::net::IpAddr;

use crate::principal::Principal;

/// Who asks the [`KeyManager`](super::KeyManager) for a change.
///
/// - [`Actor::system`]: an operator with full power (the CLI, a seed script). Must name
///   the tenant of keys it creates.
/// - [`Actor::key`]: a caller of the admin API, authenticated by its own key. It sees
///   only its tenant, and cannot give a key more than it holds itself.
///
/// ```
/// use keygate::Actor;
/// let cli = Actor::system().from_ip(Some("127.0.0.1".parse().unwrap()));
/// assert!(cli.principal().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Actor {
    principal: Option<Principal>,
    client_ip: Option<IpAddr>,
}

impl Actor {
    /// An operator: no tenant boundary, no privilege ceiling.
    pub fn system() -> Self {
        Self {
            principal: None,
            client_ip: None,
        }
    }

    /// A verified API key.
    pub fn key(principal: Principal) -> Self {
        Self {
            principal: Some(principal),
            client_ip: None,
        }
    }

    /// Records the client IP in audit events.
    #[must_use]
    pub fn from_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// The acting key, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The client IP, if known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The actor's tenant (`None` for the system actor).
    pub fn tenant(&self) -> Option<&str> {
        self.principal.as_ref().map(Principal::tenant)
    }
}

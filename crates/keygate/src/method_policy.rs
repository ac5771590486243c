//! Requirements derived from the HTTP method and the path: GET -> `read:<resource>`.

use crate::requirement::Requirement;
use crate::scope::Scope;

/// Maps a request's method and path to the scope it needs.
///
/// GET/HEAD/OPTIONS need `read`, POST/PUT/PATCH need `write`, DELETE needs `delete`, on
/// the resource taken from the path (by default its first segment after an optional
/// version segment like `v1`). Any other method needs `*` (full access).
///
/// ```
/// use keygate::MethodPolicy;
/// let policy = MethodPolicy::rest();
/// assert_eq!(policy.requirement("POST", "/v1/opportunities/42").to_string(), "write:opportunities");
/// assert_eq!(policy.requirement("DELETE", "/accounts").to_string(), "delete:accounts");
/// assert_eq!(policy.requirement("TRACE", "/accounts").to_string(), "*");
/// ```
#[derive(Debug, Clone)]
pub struct MethodPolicy {
    resource: ResourceFrom,
}

#[derive(Debug, Clone)]
enum ResourceFrom {
    /// First segment, skipping a leading version segment (`v1`, `v2`…).
    FirstAfterVersion,
    /// The nth segment (0-based) of the path.
    Segment(usize),
    /// Always this resource.
    Fixed(String),
}

impl MethodPolicy {
    /// The REST policy: resource = first path segment after an optional `vN`.
    pub fn rest() -> Self {
        Self {
            resource: ResourceFrom::FirstAfterVersion,
        }
    }

    /// Resource = the `index`-th path segment (0-based), e.g. `1` for `/api/<resource>`.
    #[must_use]
    pub fn resource_segment(mut self, index: usize) -> Self {
        self.resource = ResourceFrom::Segment(index);
        self
    }

    /// Resource = `resource` for every path.
    #[must_use]
    pub fn fixed_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = ResourceFrom::Fixed(resource.into());
        self
    }

    /// The action a method needs: `read`, `write` or `delete`.
    pub fn action_for(method: &str) -> Option<&'static str> {
        match method {
            "GET" | "HEAD" | "OPTIONS" => Some("read"),
            "POST" | "PUT" | "PATCH" => Some("write"),
            "DELETE" => Some("delete"),
            _ => None,
        }
    }

    /// The requirement for `method` on `path`.
    ///
    /// A path with no resource segment (or one that is not a valid resource name) needs
    /// the action on every resource (`read:*`); an unknown method needs `*`.
    pub fn requirement(&self, method: &str, path: &str) -> Requirement {
        let scope = match Self::action_for(method) {
            None => Scope::parse("*"),
            Some(action) => self
                .resource_of(path)
                .and_then(|r| Scope::for_resource(r, action).ok())
                .map_or_else(|| Scope::parse(&format!("{action}:*")), Ok),
        };
        // Every branch above builds a scope from valid parts.
        Requirement::Scope(scope.unwrap_or_else(|_| unreachable!("method policy scopes are valid")))
    }

    fn resource_of<'a>(&'a self, path: &'a str) -> Option<&'a str> {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        match &self.resource {
            ResourceFrom::Fixed(r) => Some(r),
            ResourceFrom::Segment(i) => segments.nth(*i),
            ResourceFrom::FirstAfterVersion => {
                let first = segments.next()?;
                let is_version = first.len() > 1
                    && first.starts_with('v')
                    && first[1..].bytes().all(|c| c.is_ascii_digit());
                if is_version {
                    segments.next()
                } else {
                    Some(first)
                }
            }
        }
    }
}

impl Default for MethodPolicy {
    fn default() -> Self {
        Self::rest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(p: &MethodPolicy, m: &str, path: &str) -> Option<String> {
        Some(p.requirement(m, path).to_string())
    }

    #[test]
    fn methods_to_actions() {
        let p = MethodPolicy::rest();
        assert_eq!(
            need(&p, "GET", "/v1/accounts").as_deref(),
            Some("read:accounts")
        );
        assert_eq!(
            need(&p, "HEAD", "/v1/accounts").as_deref(),
            Some("read:accounts")
        );
        assert_eq!(
            need(&p, "PUT", "/v1/accounts/1").as_deref(),
            Some("write:accounts")
        );
        assert_eq!(
            need(&p, "PATCH", "/v1/accounts/1").as_deref(),
            Some("write:accounts")
        );
        assert_eq!(
            need(&p, "DELETE", "/v1/accounts/1").as_deref(),
            Some("delete:accounts")
        );
        assert_eq!(need(&p, "GET", "/").as_deref(), Some("read:*"));
        assert_eq!(need(&p, "GET", "/v1").as_deref(), Some("read:*"));
        assert_eq!(
            need(&p, "GET", "/data_entries/").as_deref(),
            Some("read:data_entries")
        );
        assert_eq!(need(&p, "CONNECT", "/v1/accounts").as_deref(), Some("*"));
        assert_eq!(need(&p, "GET", "/v1/weird name").as_deref(), Some("read:*"));
    }

    #[test]
    fn other_resource_sources() {
        let p = MethodPolicy::rest().resource_segment(1);
        assert_eq!(
            need(&p, "GET", "/api/things/1").as_deref(),
            Some("read:things")
        );
        let p = MethodPolicy::rest().fixed_resource("scans");
        assert_eq!(
            need(&p, "POST", "/anything").as_deref(),
            Some("write:scans")
        );
    }
}

//! [`RouteCosts`]: what a request costs, by method and path.

use super::balance::MAX_CREDITS;

/// What each request spends from a key's credits: `default` (1 unless set) or the cost
/// of the first route it matches, in the order added. Only requests of keys with
/// credits are matched, so a table costs nothing to keys without.
///
/// A route is `"METHOD /path"` or `"/path"` (any method). A path segment `{name}` or
/// `:name` matches any one segment; a last segment `*` or `{*name}` matches the rest
/// of the path (one or more segments).
///
/// ```
/// use keygate::credits::RouteCosts;
/// let costs = RouteCosts::new()
///     .route("POST /v1/scans", 10)?
///     .route("GET /v1/scans/{id}/report", 2)?
///     .route("/healthz", 0)?
///     .route("GET /v1/files/*", 3)?;
/// assert_eq!(costs.cost_of("POST", "/v1/scans"), 10);
/// assert_eq!(costs.cost_of("GET", "/v1/scans/s_1/report"), 2);
/// assert_eq!(costs.cost_of("GET", "/v1/files/a/b.txt"), 3);
/// assert_eq!(costs.cost_of("HEAD", "/healthz"), 0);
/// assert_eq!(costs.cost_of("GET", "/v1/scans"), 1); // the default
/// assert!(RouteCosts::new().route("POST v1/scans", 1).is_err());
/// # Ok::<(), keygate::credits::RouteCostError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RouteCosts {
    default: u64,
    routes: Vec<RouteCost>,
}

impl Default for RouteCosts {
    fn default() -> Self {
        Self {
            default: 1,
            routes: Vec::new(),
        }
    }
}

/// One route of a [`RouteCosts`] table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCost {
    method: Option<Box<str>>,
    segments: Vec<Segment>,
    rest: bool,
    cost: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Any,
}

/// A route of a [`RouteCosts`] that does not parse, or a cost out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route cost {route:?}: {why}")]
pub struct RouteCostError {
    route: String,
    why: &'static str,
}

impl RouteCost {
    /// Parses `route` (`"POST /v1/scans/{id}"`, `"/v1/*"`) with its cost.
    pub fn parse(route: &str, cost: u64) -> Result<Self, RouteCostError> {
        let fail = |why| RouteCostError {
            route: route.to_owned(),
            why,
        };
        if cost > MAX_CREDITS {
            return Err(fail("a cost is at most 2^53"));
        }
        let (method, path) = match route.trim().split_once(' ') {
            Some((method, path)) if !method.starts_with('/') => (Some(method), path.trim()),
            _ => (None, route.trim()),
        };
        let method = match method {
            None | Some("*") => None,
            Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Some(m.into()),
            Some(_) => return Err(fail("the method is upper-case letters (GET, POST) or *")),
        };
        let Some(path) = path.strip_prefix('/') else {
            return Err(fail("the path starts with /"));
        };
        let mut segments = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *part == "*" || (part.starts_with("{*") && part.ends_with('}')) {
                if !last {
                    return Err(fail(
                        "* matches the rest of the path: only as the last segment",
                    ));
                }
                rest = true;
            } else if (part.starts_with('{') && part.ends_with('}') && part.len() > 2)
                || (part.starts_with(':') && part.len() > 1)
            {
                segments.push(Segment::Any);
            } else if part.contains(['{', '}', '*', ' ', '?', '#']) {
                return Err(fail(
                    "a segment is text, {name}, :name, or a last * or {*name}",
                ));
            } else {
                segments.push(Segment::Literal((*part).into()));
            }
        }
        Ok(Self {
            method,
            segments,
            rest,
            cost,
        })
    }

    /// Whether a request of `method` to `path` matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = path.split('/');
        for segment in &self.segments {
            match (segment, parts.next()) {
                (_, None) => return false,
                (Segment::Any, Some(part)) if !part.is_empty() => {}
                (Segment::Literal(text), Some(part)) if **text == *part => {}
                _ => return false,
            }
        }
        if self.rest {
            parts.next().is_some_and(|p| !p.is_empty())
        } else {
            parts.next().is_none()
        }
    }

    /// The cost.
    pub fn cost(&self) -> u64 {
        self.cost
    }
}

impl RouteCosts {
    /// Every request costs 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// What a request matching no route costs (1 unless set; 0: only the listed routes
    /// spend credits).
    pub fn default_cost(mut self, cost: u64) -> Self {
        self.default = cost.min(MAX_CREDITS);
        self
    }

    /// Adds a route (see [`RouteCosts`] for the syntax); the first route a request
    /// matches sets its cost.
    pub fn route(mut self, route: &str, cost: u64) -> Result<Self, RouteCostError> {
        self.routes.push(RouteCost::parse(route, cost)?);
        Ok(self)
    }

    /// The cost of a request of `method` to `path`.
    pub fn cost_of(&self, method: &str, path: &str) -> u64 {
        self.routes
            .iter()
            .find(|r| r.matches(method, path))
            .map_or(self.default, RouteCost::cost)
    }

    /// Whether every request costs the default (no routes).
    pub fn is_uniform(&self) -> bool {
        self.routes.is_empty()
    }

    /// The cost of a request matching no route.
    pub fn default_cost_value(&self) -> u64 {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_by_method_segment_and_rest() {
        let costs = RouteCosts::new()
            .default_cost(2)
            .route("POST /v1/scans", 10)
            .and_then(|c| c.route("GET /v1/scans/:id", 3))
            .and_then(|c| c.route("* /v1/files/{*path}", 4))
            .unwrap_or_else(|e| panic!("{e}"));
        for (method, path, cost) in [
            ("POST", "/v1/scans", 10),
            ("GET", "/v1/scans", 2),
            ("POST", "/v1/scans/", 2),
            ("GET", "/v1/scans/abc", 3),
            ("GET", "/v1/scans/", 2),
            ("GET", "/v1/scans/abc/more", 2),
            ("DELETE", "/v1/files/a", 4),
            ("GET", "/v1/files/a/b/c", 4),
            ("GET", "/v1/files", 2),
            ("GET", "/v1/files/", 2),
            ("GET", "", 2),
        ] {
            assert_eq!(costs.cost_of(method, path), cost, "{method} {path}");
        }
    }

    #[test]
    fn bad_routes_are_refused_with_the_reason() {
        for (route, why) in [
            ("POST v1", "starts with /"),
            ("post /v1", "upper-case"),
            ("/v1/*/x", "last segment"),
            ("/v1/{id", "a segment is"),
            ("/v1/a b", "a segment is"),
        ] {
            let err = RouteCost::parse(route, 1).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(why)),
                "{route}: {err:?}"
            );
        }
        assert!(RouteCost::parse("/x", MAX_CREDITS + 1).is_err());
    }
}

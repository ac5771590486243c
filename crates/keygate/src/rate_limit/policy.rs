//! Which limit applies to a key: its own, its environment's default, or a fallback.

use super::spec::RateLimitSpec;
use crate::record::KeyRecord;

/// Picks each key's limit.
///
/// In order: the key's own [`KeyRecord::rate_limit`]; the default for the key's
/// environment; the fallback. With none of these the key is not limited. The limit is
/// read from the record on every verification, so an updated key gets its new limit
/// on its next request (through a cache: once the cache has the new record).
///
/// ```
/// use keygate::{KeyRecord, RateLimitSpec};
/// use keygate::hash::KeyHasher;
/// use keygate::rate_limit::RateLimitPolicy;
/// let policy = RateLimitPolicy::new()
///     .env("test", RateLimitSpec::per_hour(100))
///     .env("live", RateLimitSpec::per_hour(1000));
/// let mut record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "test", "ci", "acme");
/// assert_eq!(policy.spec_for(&record), Some(RateLimitSpec::per_hour(100)));
/// record.rate_limit = Some("50/s".parse()?);
/// assert_eq!(policy.spec_for(&record), Some(RateLimitSpec::per_second(50)));
/// # Ok::<(), keygate::rate_limit::RateLimitSpecError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitPolicy {
    by_env: Vec<(String, RateLimitSpec)>,
    fallback: Option<RateLimitSpec>,
}

impl RateLimitPolicy {
    /// No defaults: only keys with a limit of their own are limited.
    ///
    /// ```
    /// use keygate::rate_limit::RateLimitPolicy;
    /// assert!(RateLimitPolicy::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The default for keys of environment `env` (replacing an earlier one).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::RateLimitPolicy;
    /// let policy = RateLimitPolicy::new().env("live", RateLimitSpec::per_hour(1000));
    /// assert_eq!(policy.env_limit("live"), Some(RateLimitSpec::per_hour(1000)));
    /// assert_eq!(policy.env_limit("test"), None);
    /// ```
    #[must_use]
    pub fn env(mut self, env: impl Into<String>, spec: RateLimitSpec) -> Self {
        let env = env.into();
        self.by_env.retain(|(e, _)| *e != env);
        self.by_env.push((env, spec));
        self
    }

    /// The limit for keys with none of their own and no environment default.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::RateLimitPolicy;
    /// let policy = RateLimitPolicy::new().fallback(RateLimitSpec::per_minute(60));
    /// assert_eq!(policy.fallback_limit(), Some(RateLimitSpec::per_minute(60)));
    /// ```
    #[must_use]
    pub fn fallback(mut self, spec: RateLimitSpec) -> Self {
        self.fallback = Some(spec);
        self
    }

    /// The default for environment `env`, if set.
    ///
    /// ```
    /// use keygate::rate_limit::RateLimitPolicy;
    /// assert_eq!(RateLimitPolicy::new().env_limit("live"), None);
    /// ```
    pub fn env_limit(&self, env: &str) -> Option<RateLimitSpec> {
        self.by_env
            .iter()
            .find(|(e, _)| e == env)
            .map(|(_, spec)| *spec)
    }

    /// The fallback, if set.
    ///
    /// ```
    /// use keygate::rate_limit::RateLimitPolicy;
    /// assert_eq!(RateLimitPolicy::new().fallback_limit(), None);
    /// ```
    pub fn fallback_limit(&self) -> Option<RateLimitSpec> {
        self.fallback
    }

    /// Whether it sets no default at all.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::RateLimitPolicy;
    /// assert!(!RateLimitPolicy::new().fallback(RateLimitSpec::per_hour(1)).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.by_env.is_empty() && self.fallback.is_none()
    }

    /// The limit for `record`: its own, its environment's, the fallback, or none.
    ///
    /// ```
    /// use keygate::KeyRecord;
    /// use keygate::hash::KeyHasher;
    /// use keygate::rate_limit::RateLimitPolicy;
    /// let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "live", "ci", "acme");
    /// assert_eq!(RateLimitPolicy::new().spec_for(&record), None);
    /// ```
    pub fn spec_for(&self, record: &KeyRecord) -> Option<RateLimitSpec> {
        record
            .rate_limit
            .or_else(|| self.env_limit(&record.env))
            .or(self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::KeyHasher;

    fn record(env: &str, own: Option<&str>) -> KeyRecord {
        let mut r = KeyRecord::new(KeyHasher::Sha256.hash(env), "h", "sk", env, "n", "t");
        r.rate_limit = own.and_then(|s| s.parse().ok());
        r
    }

    #[test]
    fn own_then_env_then_fallback() {
        let policy = RateLimitPolicy::new()
            .env("test", RateLimitSpec::per_hour(100))
            .env("live", RateLimitSpec::per_hour(1000))
            .env("test", RateLimitSpec::per_hour(200))
            .fallback(RateLimitSpec::per_minute(10));
        let p = |env, own| policy.spec_for(&record(env, own)).map(|s| s.to_string());
        assert_eq!(p("test", None).as_deref(), Some("200/h"), "replaced");
        assert_eq!(p("live", None).as_deref(), Some("1000/h"));
        assert_eq!(p("live", Some("5/s")).as_deref(), Some("5/s"));
        assert_eq!(p("dev", None).as_deref(), Some("10/m"));
        assert_eq!(RateLimitPolicy::new().spec_for(&record("live", None)), None);
    }
}

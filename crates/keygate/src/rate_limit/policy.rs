//! Which limit applies to a key: its own, its environment's default, or a fallback.

use smallvec::SmallVec;

use super::counter::{Counter, LimitCheck};
use super::name::LimitName;
use super::spec::RateLimitSpec;
use crate::record::KeyRecord;

/// Who shares a [`SharedLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SharedBy {
    /// Every key of one tenant, in one environment.
    Tenant,
    /// Every key of one owner (in one tenant and environment); keys without an owner
    /// are not limited by it.
    Owner,
}

/// A limit shared by many keys: one counter per tenant (or owner) that every request
/// of its keys counts in, beside each key's own limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimit {
    /// Its name in headers and `violated-policies`.
    pub name: LimitName,
    /// The limit.
    pub spec: RateLimitSpec,
    /// Who shares it.
    pub by: SharedBy,
}

/// The limits that apply to one key, borrowed from the key and the policy; up to four
/// without an allocation.
pub(crate) type Checks<'a> = SmallVec<[LimitCheck<'a>; 4]>;

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
    shared: Vec<SharedLimit>,
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
        self.by_env.is_empty() && self.fallback.is_none() && self.shared.is_empty()
    }

    /// A limit `name` shared by every key of a tenant in one environment (one counter
    /// per tenant and environment, so a test key never spends a live budget), checked
    /// with each key's own limits (replacing an earlier shared limit of that name).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::{RateLimitPolicy, SharedBy};
    /// let policy = RateLimitPolicy::new().per_tenant("org".parse()?, RateLimitSpec::per_minute(600));
    /// assert_eq!(policy.shared_limits()[0].by, SharedBy::Tenant);
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    #[must_use]
    pub fn per_tenant(self, name: LimitName, spec: RateLimitSpec) -> Self {
        self.shared(SharedLimit {
            name,
            spec,
            by: SharedBy::Tenant,
        })
    }

    /// A limit `name` shared by every key of one owner (keys without an owner are not
    /// limited by it).
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::{RateLimitPolicy, SharedBy};
    /// let policy = RateLimitPolicy::new().per_owner("user".parse()?, RateLimitSpec::per_minute(60));
    /// assert_eq!(policy.shared_limits()[0].by, SharedBy::Owner);
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    #[must_use]
    pub fn per_owner(self, name: LimitName, spec: RateLimitSpec) -> Self {
        self.shared(SharedLimit {
            name,
            spec,
            by: SharedBy::Owner,
        })
    }

    fn shared(mut self, limit: SharedLimit) -> Self {
        self.shared.retain(|l| l.name != limit.name);
        self.shared.push(limit);
        self
    }

    /// The shared limits, in the order they were added.
    ///
    /// ```
    /// use keygate::rate_limit::RateLimitPolicy;
    /// assert!(RateLimitPolicy::new().shared_limits().is_empty());
    /// ```
    pub fn shared_limits(&self) -> &[SharedLimit] {
        &self.shared
    }

    /// For a key with no named limits under a policy without shared ones (the common
    /// case): `Some` of its one check (`None` inside: no limit at all), built on the
    /// stack; `None` when [`checks_for`](RateLimitPolicy::checks_for) is needed.
    #[inline]
    pub(crate) fn only_own_check<'a>(
        &self,
        record: &'a KeyRecord,
    ) -> Option<Option<LimitCheck<'a>>> {
        if !record.limits.is_empty()
            || !self.shared.is_empty()
            || record.resolved.shared().is_some()
        {
            return None;
        }
        Some(self.spec_for(record).map(|spec| LimitCheck {
            counter: Counter::Key(&record.id),
            spec,
        }))
    }

    /// Every limit that applies to `record`, in order: its own (`default`), its named
    /// limits, the shared ones: those configured here, then those stored for its
    /// tenant and owner (`KeyStore::shared_limits`, resolved with its principal), a
    /// stored one replacing a configured one of the same name and sharer.
    pub(crate) fn checks_for<'a>(&'a self, record: &'a KeyRecord) -> Checks<'a> {
        let stored = record.resolved.shared();
        let own = self.spec_for(record).map(|spec| LimitCheck {
            counter: Counter::Key(&record.id),
            spec,
        });
        let mut checks: Checks<'a> = own.into_iter().collect();
        checks.extend(record.limits.iter().map(|(name, spec)| LimitCheck {
            counter: Counter::KeyLimit {
                key: &record.id,
                name,
            },
            spec: *spec,
        }));
        for shared in &self.shared {
            let overridden = stored.is_some_and(|s| match shared.by {
                SharedBy::Tenant => s.tenant.get(shared.name.as_str()).is_some(),
                SharedBy::Owner => s.owner.get(shared.name.as_str()).is_some(),
            });
            if overridden {
                continue;
            }
            let counter = match shared.by {
                SharedBy::Tenant => Counter::Tenant {
                    tenant: &record.tenant,
                    env: &record.env,
                    name: &shared.name,
                },
                SharedBy::Owner => match record.owner.as_deref() {
                    Some(owner) => Counter::Owner {
                        tenant: &record.tenant,
                        env: &record.env,
                        owner,
                        name: &shared.name,
                    },
                    None => continue,
                },
            };
            checks.push(LimitCheck {
                counter,
                spec: shared.spec,
            });
        }
        if let Some(stored) = stored {
            for (name, spec) in stored.tenant.iter() {
                checks.push(LimitCheck {
                    counter: Counter::Tenant {
                        tenant: &record.tenant,
                        env: &record.env,
                        name,
                    },
                    spec: *spec,
                });
            }
            if let Some(owner) = record.owner.as_deref() {
                for (name, spec) in stored.owner.iter() {
                    checks.push(LimitCheck {
                        counter: Counter::Owner {
                            tenant: &record.tenant,
                            env: &record.env,
                            owner,
                            name,
                        },
                        spec: *spec,
                    });
                }
            }
        }
        checks
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

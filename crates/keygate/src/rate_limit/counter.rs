//! Which counter a limit counts in: one key's own, one named limit of a key, or one
//! shared by a tenant's or an owner's keys.

use std::hash::{Hash, Hasher};

use super::name::LimitName;
use super::spec::RateLimitSpec;
use crate::id::KeyId;

/// One limit to check for a request: the counter it counts in and its spec. The
/// verifier builds these from the key (see
/// [`RateLimitPolicy`](crate::rate_limit::RateLimitPolicy)); a
/// [`RateLimiter`](crate::rate_limit::RateLimiter) counts them all or none.
///
/// ```
/// use keygate::{KeyId, RateLimitSpec};
/// use keygate::rate_limit::{Counter, LimitCheck};
/// let id = KeyId::generate();
/// let check = LimitCheck { counter: Counter::Key(&id), spec: RateLimitSpec::per_hour(10) };
/// assert_eq!(check.name().as_str(), "default");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck<'a> {
    /// Where the requests are counted.
    pub counter: Counter<'a>,
    /// The limit.
    pub spec: RateLimitSpec,
}

impl LimitCheck<'_> {
    /// The limit's name, as reported in headers: `default` for the key's own limit.
    pub fn name(&self) -> LimitName {
        match self.counter {
            Counter::Key(_) => LimitName::default_limit(),
            Counter::KeyLimit { name, .. }
            | Counter::Tenant { name, .. }
            | Counter::Owner { name, .. } => name.clone(),
        }
    }
}

/// A counter, borrowed: what a limiter looks its state up by.
///
/// ```
/// use keygate::KeyId;
/// use keygate::rate_limit::{Counter, LimitName};
/// let name: LimitName = "org".parse()?;
/// let shared = Counter::Tenant { tenant: "acme", env: "live", name: &name };
/// assert_eq!(shared.storage_key(), "tenant:4:acme:4:live:org");
/// # Ok::<(), keygate::rate_limit::LimitNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter<'a> {
    /// The key's own limit (`default`).
    Key(&'a KeyId),
    /// One named limit of one key.
    KeyLimit {
        /// The key.
        key: &'a KeyId,
        /// The limit's name.
        name: &'a LimitName,
    },
    /// A limit shared by every key of a tenant in one environment.
    Tenant {
        /// The tenant.
        tenant: &'a str,
        /// The environment (a test key never spends a live budget).
        env: &'a str,
        /// The limit's name.
        name: &'a LimitName,
    },
    /// A limit shared by every key of one owner in a tenant and environment.
    Owner {
        /// The tenant.
        tenant: &'a str,
        /// The environment.
        env: &'a str,
        /// The owner.
        owner: &'a str,
        /// The limit's name.
        name: &'a LimitName,
    },
}

impl Counter<'_> {
    /// A stable text naming the counter, for a shared store such as Redis. Free-form
    /// parts are length-prefixed, so no tenant or owner name can make two counters
    /// collide. A key's own counter is its id, as before named limits existed.
    pub fn storage_key(&self) -> String {
        match self {
            Counter::Key(id) => id.as_str().to_owned(),
            Counter::KeyLimit { key, name } => format!("limit:{}:{name}", key.as_str()),
            Counter::Tenant { tenant, env, name } => {
                format!(
                    "tenant:{}:{tenant}:{}:{env}:{name}",
                    tenant.len(),
                    env.len()
                )
            }
            Counter::Owner {
                tenant,
                env,
                owner,
                name,
            } => format!(
                "owner:{}:{tenant}:{}:{env}:{}:{owner}:{name}",
                tenant.len(),
                env.len(),
                owner.len()
            ),
        }
    }

    /// The owned form, kept by an in-process limiter.
    pub(crate) fn to_owned_key(self) -> CounterKey {
        match self {
            Counter::Key(id) => CounterKey::Key(id.clone()),
            Counter::KeyLimit { key, name } => CounterKey::KeyLimit(key.clone(), name.clone()),
            Counter::Tenant { tenant, env, name } => {
                CounterKey::Tenant(tenant.into(), env.into(), name.clone())
            }
            Counter::Owner {
                tenant,
                env,
                owner,
                name,
            } => CounterKey::Owner(tenant.into(), env.into(), owner.into(), name.clone()),
        }
    }
}

impl Hash for Counter<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Counter::Key(id) => id.as_str().hash(state),
            Counter::KeyLimit { key, name } => {
                1u8.hash(state);
                key.as_str().hash(state);
                name.as_str().hash(state);
            }
            Counter::Tenant { tenant, env, name } => {
                2u8.hash(state);
                tenant.hash(state);
                env.hash(state);
                name.as_str().hash(state);
            }
            Counter::Owner {
                tenant,
                env,
                owner,
                name,
            } => {
                3u8.hash(state);
                tenant.hash(state);
                env.hash(state);
                owner.hash(state);
                name.as_str().hash(state);
            }
        }
    }
}

/// A counter, owned: the key of an in-process limiter's map. It hashes exactly as
/// its borrowed [`Counter`], so a lookup builds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CounterKey {
    Key(KeyId),
    KeyLimit(KeyId, LimitName),
    Tenant(Box<str>, Box<str>, LimitName),
    Owner(Box<str>, Box<str>, Box<str>, LimitName),
}

impl CounterKey {
    pub(crate) fn as_counter(&self) -> Counter<'_> {
        match self {
            CounterKey::Key(id) => Counter::Key(id),
            CounterKey::KeyLimit(key, name) => Counter::KeyLimit { key, name },
            CounterKey::Tenant(tenant, env, name) => Counter::Tenant { tenant, env, name },
            CounterKey::Owner(tenant, env, owner, name) => Counter::Owner {
                tenant,
                env,
                owner,
                name,
            },
        }
    }
}

impl Hash for CounterKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_counter().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn owned_and_borrowed_hash_alike_and_storage_keys_do_not_collide() {
        let id = KeyId::generate();
        let name: LimitName = "org".parse().expect("valid");
        let counters = [
            Counter::Key(&id),
            Counter::KeyLimit {
                key: &id,
                name: &name,
            },
            Counter::Tenant {
                tenant: "a:4:b",
                env: "live",
                name: &name,
            },
            Counter::Tenant {
                tenant: "a",
                env: "4:b:4:live",
                name: &name,
            },
            Counter::Owner {
                tenant: "a",
                env: "live",
                owner: "u",
                name: &name,
            },
        ];
        let hasher = foldhash::fast::RandomState::default();
        for c in counters {
            let owned = c.to_owned_key();
            assert_eq!(hasher.hash_one(c), hasher.hash_one(&owned));
            assert_eq!(owned.as_counter(), c);
        }
        let keys: std::collections::HashSet<String> =
            counters.iter().map(Counter::storage_key).collect();
        assert_eq!(keys.len(), counters.len());
        assert_eq!(Counter::Key(&id).storage_key(), id.as_str());
    }
}

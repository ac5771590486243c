//! The [`RateLimiter`] trait, its errors, and [`RateLimits`]: a limiter plus the
//! policy that picks each key's limit.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::memory::MemoryRateLimiter;
use super::policy::RateLimitPolicy;
use super::spec::{RateLimitSpec, RateLimitStatus};
use crate::error::AuthError;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::store::BoxError;

/// A request over its limit: when to retry, and the state for the headers.
///
/// ```
/// use keygate::AuthError;
/// use keygate::rate_limit::{RateLimitStatus, RateLimited};
/// let limited = RateLimited { retry_after: 30, status: RateLimitStatus { limit: 2, remaining: 0, reset: 1_700_000_030 } };
/// assert_eq!(AuthError::from(limited).status(), 429);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry in {retry_after} s")]
pub struct RateLimited {
    /// Seconds until a request may succeed (`Retry-After`), at least 1.
    pub retry_after: u64,
    /// The limit's state, for `X-RateLimit-*` headers.
    pub status: RateLimitStatus,
}

impl From<RateLimited> for AuthError {
    fn from(limited: RateLimited) -> Self {
        AuthError::RateLimited {
            retry_after: limited.retry_after,
            status: limited.status,
        }
    }
}

/// Why a [`RateLimiter`] refused or could not decide.
///
/// ```
/// use keygate::AuthError;
/// use keygate::rate_limit::RateLimitError;
/// let down = RateLimitError::unavailable("connection refused");
/// assert_eq!(AuthError::from(down).status(), 503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// Over the limit: 429.
    #[error(transparent)]
    Limited(#[from] RateLimited),
    /// The limiter's backend (e.g. Redis) cannot be reached and it is configured to
    /// fail closed: 503, never an unlimited pass.
    #[error("rate limiter unavailable")]
    Unavailable(#[source] BoxError),
}

impl RateLimitError {
    /// Wraps any backend error as [`RateLimitError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }
}

impl From<RateLimitError> for AuthError {
    fn from(err: RateLimitError) -> Self {
        match err {
            RateLimitError::Limited(limited) => limited.into(),
            RateLimitError::Unavailable(_) => AuthError::StoreUnavailable,
        }
    }
}

/// Counts requests per key and decides whether one more is allowed.
///
/// `spec` is passed on every call rather than configured once, so each key has its own
/// limit and a changed limit applies from the key's next request. `now` comes from the
/// verifier's [`Clock`](crate::clock::Clock). Implementations: [`MemoryRateLimiter`] (one
/// process) and `keygate_redis::RedisRateLimiter` (shared by every instance).
///
/// ```
/// use keygate::{KeyId, RateLimitSpec};
/// use keygate::rate_limit::{MemoryRateLimiter, RateLimitError, RateLimiter};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limiter = MemoryRateLimiter::new();
/// let key = KeyId::generate();
/// let spec: RateLimitSpec = "2/h".parse()?;
/// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
/// assert_eq!(limiter.check(&key, &spec, now).await?.remaining, 1);
/// assert_eq!(limiter.check(&key, &spec, now).await?.remaining, 0);
/// match limiter.check(&key, &spec, now).await {
///     Err(RateLimitError::Limited(l)) => assert_eq!(l.retry_after, 1800),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug + 'static {
    /// Counts one request of `key` at `now` against `spec`: its status for the
    /// `X-RateLimit-*` headers, or why it may not go ahead.
    async fn check(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now: DateTime<Utc>,
    ) -> Result<RateLimitStatus, RateLimitError>;

    /// [`check`](RateLimiter::check) answered without waiting, when the limiter can
    /// (an in-process limiter always; one across the network never: the default).
    /// The verifier's fast path calls it and takes the async path on `None`; an
    /// implementation must count the request only when it answers `Some`. `now_micros`
    /// is `now` as Unix microseconds (the hot path builds no date).
    fn check_sync(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now_micros: i64,
    ) -> Option<Result<RateLimitStatus, RateLimitError>> {
        let _ = (key, spec, now_micros);
        None
    }
}

#[async_trait]
impl<L: RateLimiter + ?Sized> RateLimiter for Arc<L> {
    async fn check(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now: DateTime<Utc>,
    ) -> Result<RateLimitStatus, RateLimitError> {
        (**self).check(key, spec, now).await
    }

    fn check_sync(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now_micros: i64,
    ) -> Option<Result<RateLimitStatus, RateLimitError>> {
        (**self).check_sync(key, spec, now_micros)
    }
}

/// Rate limiting for a verifier: a [`RateLimiter`] and the [`RateLimitPolicy`] that
/// gives each key its limit (its own `rate_limit`, else its environment's default,
/// else the fallback; none of these: unlimited, no headers).
///
/// Give it to [`KeyGateBuilder::rate_limits`](crate::KeyGateBuilder::rate_limits) or
/// [`VerifierBuilder::rate_limits`](crate::verifier::VerifierBuilder::rate_limits). Without it
/// nothing is limited and `Verification::rate_limit` is `None`.
///
/// ```
/// use keygate::{KeyGate, MemoryStore, RateLimitSpec, RateLimits};
/// let limits = RateLimits::in_memory()
///     .env_default("test", RateLimitSpec::per_hour(100))
///     .env_default("live", RateLimitSpec::per_hour(1000));
/// let gate = KeyGate::builder(MemoryStore::new()).rate_limits(limits).build();
/// # let _ = gate;
/// ```
#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    policy: RateLimitPolicy,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("limiter", &self.limiter)
            .field("policy", &self.policy)
            .finish()
    }
}

impl RateLimits {
    /// `limiter` with an empty policy (only keys with their own limit are limited).
    ///
    /// ```
    /// use keygate::RateLimits;
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// let limits = RateLimits::new(MemoryRateLimiter::with_capacity(10_000));
    /// assert!(limits.policy().is_empty());
    /// ```
    pub fn new(limiter: impl RateLimiter) -> Self {
        Self::shared(Arc::new(limiter))
    }

    /// A limiter shared with other code (e.g. a second verifier).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use keygate::RateLimits;
    /// use keygate::rate_limit::MemoryRateLimiter;
    /// let limiter = Arc::new(MemoryRateLimiter::new());
    /// let limits = RateLimits::shared(limiter.clone());
    /// # let _ = limits;
    /// ```
    pub fn shared(limiter: Arc<dyn RateLimiter>) -> Self {
        Self {
            limiter,
            policy: RateLimitPolicy::new(),
        }
    }

    /// An in-process [`MemoryRateLimiter`] with default capacity: right for one
    /// instance; a fleet shares `keygate_redis::RedisRateLimiter` instead.
    ///
    /// ```
    /// use keygate::RateLimits;
    /// let limits = RateLimits::in_memory();
    /// # let _ = limits;
    /// ```
    pub fn in_memory() -> Self {
        Self::new(MemoryRateLimiter::new())
    }

    /// Replaces the policy.
    ///
    /// ```
    /// use keygate::{RateLimitSpec, RateLimits};
    /// use keygate::rate_limit::RateLimitPolicy;
    /// let limits = RateLimits::in_memory().with_policy(RateLimitPolicy::new().fallback(RateLimitSpec::per_minute(60)));
    /// assert_eq!(limits.policy().fallback_limit(), Some(RateLimitSpec::per_minute(60)));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: RateLimitPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The limit for keys of environment `env` that have none of their own.
    ///
    /// ```
    /// use keygate::{RateLimitSpec, RateLimits};
    /// let limits = RateLimits::in_memory().env_default("live", RateLimitSpec::per_hour(1000));
    /// assert_eq!(limits.policy().env_limit("live"), Some(RateLimitSpec::per_hour(1000)));
    /// ```
    #[must_use]
    pub fn env_default(mut self, env: impl Into<String>, spec: RateLimitSpec) -> Self {
        self.policy = self.policy.env(env, spec);
        self
    }

    /// The limit for keys with no limit of their own and no environment default.
    ///
    /// ```
    /// use keygate::{RateLimitSpec, RateLimits};
    /// let limits = RateLimits::in_memory().fallback(RateLimitSpec::per_hour(500));
    /// assert_eq!(limits.policy().fallback_limit(), Some(RateLimitSpec::per_hour(500)));
    /// ```
    #[must_use]
    pub fn fallback(mut self, spec: RateLimitSpec) -> Self {
        self.policy = self.policy.fallback(spec);
        self
    }

    /// The policy.
    ///
    /// ```
    /// use keygate::RateLimits;
    /// assert!(RateLimits::in_memory().policy().is_empty());
    /// ```
    pub fn policy(&self) -> &RateLimitPolicy {
        &self.policy
    }

    /// The limiter.
    ///
    /// ```
    /// use keygate::RateLimits;
    /// let limits = RateLimits::in_memory();
    /// assert!(format!("{:?}", limits.limiter()).contains("MemoryRateLimiter"));
    /// ```
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.limiter
    }

    /// [`check`](RateLimits::check) without waiting, when the limiter can answer so
    /// (`None`: it cannot; nothing was counted).
    pub fn check_sync(
        &self,
        record: &KeyRecord,
        now_micros: i64,
    ) -> Option<Result<Option<RateLimitStatus>, RateLimitError>> {
        match self.policy.spec_for(record) {
            Some(spec) => self
                .limiter
                .check_sync(&record.id, &spec, now_micros)
                .map(|r| r.map(Some)),
            None => Some(Ok(None)),
        }
    }

    /// Counts one request of `record` at `now` (step 6 of the verify pipeline):
    /// `Ok(None)` for a key without any limit.
    ///
    /// ```
    /// use keygate::{KeyRecord, RateLimitSpec, RateLimits};
    /// use keygate::hash::KeyHasher;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let limits = RateLimits::in_memory().env_default("live", RateLimitSpec::per_hour(1000));
    /// let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "live", "ci", "acme");
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let status = limits.check(&record, now).await?.unwrap();
    /// assert_eq!((status.limit, status.remaining), (1000, 999));
    /// # Ok::<(), keygate::rate_limit::RateLimitError>(()) }).unwrap();
    /// ```
    pub async fn check(
        &self,
        record: &KeyRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimitStatus>, RateLimitError> {
        match self.policy.spec_for(record) {
            Some(spec) => self.limiter.check(&record.id, &spec, now).await.map(Some),
            None => Ok(None),
        }
    }
}

//! The [`RateLimiter`] trait, its errors, and [`RateLimits`]: a limiter plus the
//! policy that picks each key's limit.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::counter::{Counter, LimitCheck};
use super::gcra::GcraStep;
use super::memory::MemoryRateLimiter;
use super::name::LimitName;
use super::policy::RateLimitPolicy;
use super::report::{Policy, RateLimitReport};
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
/// let limited = RateLimited::new(30, RateLimitStatus { limit: 2, remaining: 0, reset: 1_700_000_030 });
/// assert_eq!(AuthError::from(limited).status(), 429);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry in {retry_after} s")]
pub struct RateLimited {
    /// Seconds until a request may succeed (`Retry-After`), at least 1.
    pub retry_after: u64,
    /// The binding limit's state, for `X-RateLimit-*` headers.
    pub status: RateLimitStatus,
    /// Every applied limit, which of them refused (`violated-policies`) and their
    /// state for the IETF fields; `None` for a refusal that is not a key's limit (the
    /// failure throttle).
    pub report: Option<Arc<RateLimitReport>>,
}

impl RateLimited {
    /// A refusal with no report of its limits.
    pub fn new(retry_after: u64, status: RateLimitStatus) -> Self {
        Self {
            retry_after,
            status,
            report: None,
        }
    }

    /// The refusal a report of refused limits stands for.
    pub fn from_report(report: RateLimitReport) -> Self {
        Self {
            retry_after: report.retry_after().max(1),
            status: report.summary(),
            report: Some(Arc::new(report)),
        }
    }
}

impl From<RateLimited> for AuthError {
    fn from(limited: RateLimited) -> Self {
        AuthError::RateLimited {
            retry_after: limited.retry_after,
            status: limited.status,
            report: limited.report,
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

/// What a [`RateLimiter`] decided for one request: each limit's [`GcraStep`], in the
/// order of the checks. The request was counted (in every limit) exactly when every
/// step allows it; otherwise no counter moved and each step's state is the one kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    repr: CountedRepr,
    /// Whether the request went ahead (and was counted).
    allowed: bool,
    /// The time the limiter decided at, when it is not the caller's (a limiter that
    /// reads its own clock, e.g. Redis's `TIME`).
    at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CountedRepr {
    One(GcraStep),
    // A `Vec`, not an inline vector: a single limit's `Counted` stays small to move.
    Many(Vec<GcraStep>),
}

impl Counted {
    /// The decision of a single limit (`check`): allowed when its step allows, or when
    /// it is in shadow mode.
    pub fn one(check: &LimitCheck<'_>, step: GcraStep) -> Self {
        Self {
            allowed: step.allowed || check.spec.shadow,
            repr: CountedRepr::One(step),
            at: None,
        }
    }

    /// The decision of several limits (one step per check, in order): allowed when
    /// every limit not in shadow mode allows it.
    pub fn many(checks: &[LimitCheck<'_>], steps: impl IntoIterator<Item = GcraStep>) -> Self {
        let steps: Vec<GcraStep> = steps.into_iter().collect();
        Self {
            allowed: Self::decide(checks, &steps),
            repr: CountedRepr::Many(steps),
            at: None,
        }
    }

    /// Whether `steps` let a request through: every limit allows it, or is in shadow
    /// mode (which never refuses).
    pub fn decide(checks: &[LimitCheck<'_>], steps: &[GcraStep]) -> bool {
        checks
            .iter()
            .zip(steps)
            .all(|(check, step)| step.allowed || check.spec.shadow)
    }

    /// The same decision, made at `now` (Unix µs) by the limiter's own clock.
    #[must_use]
    pub fn at(mut self, now: i64) -> Self {
        self.at = Some(now);
        self
    }

    /// Each limit's step.
    pub fn steps(&self) -> &[GcraStep] {
        match &self.repr {
            CountedRepr::One(step) => std::slice::from_ref(step),
            CountedRepr::Many(steps) => steps,
        }
    }

    /// Whether the request was allowed (and counted in every limit that allowed it).
    pub fn allowed(&self) -> bool {
        self.allowed
    }
}

/// Counts requests and decides whether one more is allowed.
///
/// A request is checked against every limit that applies to its key at once
/// ([`LimitCheck`]s: the key's own limit, its named limits, limits shared by its
/// tenant or owner), **atomically**: either every counter moves or, when any limit
/// refuses, none does, so a refusal by one limit never spends another's quota. The
/// specs are passed on every call rather than configured once, so a changed limit
/// applies from the key's next request. `now` is Unix microseconds from the verifier's
/// [`Clock`](crate::clock::Clock). Implementations: [`MemoryRateLimiter`] (one process)
/// and `keygate_redis::RedisRateLimiter` (shared by every instance, one Lua script per
/// request).
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
    /// Counts one request at `now` (Unix µs) against every limit of `checks` (at least
    /// one), all or none.
    async fn check_all(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, RateLimitError>;

    /// [`check_all`](RateLimiter::check_all) answered without waiting, when the
    /// limiter can (an in-process limiter always; one across the network never: the
    /// default). The verifier's fast path calls it and takes the async path on `None`;
    /// an implementation must count the request only when it answers `Some`.
    fn check_all_sync(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Option<Result<Counted, RateLimitError>> {
        let _ = (checks, now);
        None
    }

    /// Counts one request of `key` against its own limit `spec` at `now`: the state for
    /// the `X-RateLimit-*` headers, or why it may not go ahead.
    async fn check(
        &self,
        key: &KeyId,
        spec: &RateLimitSpec,
        now: DateTime<Utc>,
    ) -> Result<RateLimitStatus, RateLimitError> {
        let now = now.timestamp_micros();
        let checks = [LimitCheck {
            counter: Counter::Key(key),
            spec: *spec,
        }];
        let counted = self.check_all(&checks, now).await?;
        Ok(report_of(&checks, &counted, now)?.summary())
    }
}

#[async_trait]
impl<L: RateLimiter + ?Sized> RateLimiter for Arc<L> {
    async fn check_all(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, RateLimitError> {
        (**self).check_all(checks, now).await
    }

    fn check_all_sync(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Option<Result<Counted, RateLimitError>> {
        (**self).check_all_sync(checks, now)
    }
}

/// The report of `checks` decided as `counted` at `now`, or the refusal it stands for.
pub(crate) fn report_of(
    checks: &[LimitCheck<'_>],
    counted: &Counted,
    now: i64,
) -> Result<RateLimitReport, RateLimited> {
    let steps = counted.steps();
    let allowed = counted.allowed();
    let now = counted.at.unwrap_or(now);
    let mut pairs = checks.iter().zip(steps);
    let Some((check, step)) = pairs.next() else {
        return Err(RateLimited::new(1, RateLimitStatus::default()));
    };
    // A limit counted the request when it went ahead and the limit allowed it (a
    // shadow limit that would have refused it keeps its state).
    let policy = |check: &LimitCheck<'_>, step: &GcraStep| {
        Policy::after(
            check.name(),
            &check.spec,
            step,
            allowed && step.allowed,
            now,
        )
    };
    let mut report = RateLimitReport::new(now, policy(check, step));
    for (check, step) in pairs {
        report.push(policy(check, step));
    }
    if allowed {
        Ok(report)
    } else {
        Err(RateLimited::from_report(report))
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

    /// Shares `name` among every key of a tenant (in one environment): see
    /// [`RateLimitPolicy::per_tenant`].
    ///
    /// ```
    /// use keygate::{RateLimitSpec, RateLimits};
    /// let limits = RateLimits::in_memory().per_tenant("org".parse()?, RateLimitSpec::per_minute(600));
    /// assert_eq!(limits.policy().shared_limits().len(), 1);
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    #[must_use]
    pub fn per_tenant(mut self, name: LimitName, spec: RateLimitSpec) -> Self {
        self.policy = self.policy.per_tenant(name, spec);
        self
    }

    /// Shares `name` among every key of one owner: see [`RateLimitPolicy::per_owner`].
    ///
    /// ```
    /// use keygate::{RateLimitSpec, RateLimits};
    /// let limits = RateLimits::in_memory().per_owner("user".parse()?, RateLimitSpec::per_minute(60));
    /// assert_eq!(limits.policy().shared_limits().len(), 1);
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    #[must_use]
    pub fn per_owner(mut self, name: LimitName, spec: RateLimitSpec) -> Self {
        self.policy = self.policy.per_owner(name, spec);
        self
    }

    /// [`check`](RateLimits::check) without waiting, when the limiter can answer so
    /// (`None`: it cannot; nothing was counted).
    pub fn check_sync(
        &self,
        record: &KeyRecord,
        now_micros: i64,
    ) -> Option<Result<Option<RateLimitReport>, RateLimitError>> {
        // A key with only its own limit (the common case): one check on the stack.
        if let Some(own) = self.policy.only_own_check(record) {
            return match own {
                Some(check) => self.decide_sync(&[check], now_micros),
                None => Some(Ok(None)),
            };
        }
        self.decide_sync(&self.policy.checks_for(record), now_micros)
    }

    fn decide_sync(
        &self,
        checks: &[LimitCheck<'_>],
        now_micros: i64,
    ) -> Option<Result<Option<RateLimitReport>, RateLimitError>> {
        if checks.is_empty() {
            return Some(Ok(None));
        }
        let counted = match self.limiter.check_all_sync(checks, now_micros)? {
            Ok(counted) => counted,
            Err(err) => return Some(Err(err)),
        };
        Some(
            report_of(checks, &counted, now_micros)
                .map(Some)
                .map_err(RateLimitError::from),
        )
    }

    /// Counts one request of `record` at `now` against every limit that applies to it
    /// (step 5 of the verify pipeline), atomically: `Ok(None)` for a key without any
    /// limit.
    ///
    /// ```
    /// use keygate::{KeyRecord, RateLimitSpec, RateLimits};
    /// use keygate::hash::KeyHasher;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let limits = RateLimits::in_memory().env_default("live", RateLimitSpec::per_hour(1000));
    /// let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "live", "ci", "acme");
    /// let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    /// let status = limits.check(&record, now).await?.unwrap().summary();
    /// assert_eq!((status.limit, status.remaining), (1000, 999));
    /// # Ok::<(), keygate::rate_limit::RateLimitError>(()) }).unwrap();
    /// ```
    pub async fn check(
        &self,
        record: &KeyRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<RateLimitReport>, RateLimitError> {
        let now = now.timestamp_micros();
        if let Some(own) = self.policy.only_own_check(record) {
            return match own {
                Some(check) => self.decide(&[check], now).await,
                None => Ok(None),
            };
        }
        self.decide(&self.policy.checks_for(record), now).await
    }

    async fn decide(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Option<RateLimitReport>, RateLimitError> {
        if checks.is_empty() {
            return Ok(None);
        }
        let counted = self.limiter.check_all(checks, now).await?;
        Ok(Some(report_of(checks, &counted, now)?))
    }
}

//! [`RedisRateLimiter`]: one key's limit enforced by every instance together.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keygate::rate_limit::{
    Counted, Counter, CounterSync, GcraState, GcraStep, LimitCheck, MemoryRateLimiter,
    RateLimitError, RateLimiter, SyncCounter, SyncedRateLimiter, WhenUnsynced,
};
use keygate::KeyId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use tokio::sync::OnceCell;

/// The Lua script: GCRA over a hash per key, in one round trip.
const GCRA_LUA: &str = include_str!("gcra.lua");
/// The Lua script of the approximate mode: instances' requests added to the shared
/// states.
const SYNC_LUA: &str = include_str!("sync.lua");

/// What to do when Redis cannot be reached (or answers with an error).
///
/// ```
/// use keygate_redis::{OnRedisError, RedisRateLimiter};
/// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1:6379")?
///     .on_redis_error(OnRedisError::LocalFallback)
///     .build();
/// # let _ = limiter;
/// # Ok::<(), redis::RedisError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnRedisError {
    /// Refuse with 503 (`AuthError::StoreUnavailable`): no request passes unlimited.
    /// The default, as for the key store: keygate never fails open.
    #[default]
    FailClosed,
    /// Count requests in this process instead (a [`MemoryRateLimiter`] with the same
    /// rules) until Redis answers again. Each instance then allows a key its full
    /// limit, so a fleet of N allows up to N times the limit while Redis is down.
    LocalFallback,
}

/// Which clock the script reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimeSource {
    /// The verifier's [`Clock`](keygate::clock::Clock), sent with each check: instances must
    /// keep their clocks in sync (NTP), and tests can drive it with a `ManualClock`.
    #[default]
    Caller,
    /// Redis's own `TIME`: one clock for the whole fleet, whatever the instances'
    /// clocks say (needs Redis 5 or later; 3.2 and 4 work with effects replication).
    Server,
}

/// A [`RateLimiter`] in Redis, shared by every instance of a service: N instances
/// together allow each key exactly its limit.
///
/// Each check is one `EVALSHA` of a Lua script (loaded once, re-sent only if Redis
/// lost it) that runs keygate's GCRA ([`GcraState::step`], the same arithmetic as the
/// in-process [`MemoryRateLimiter`]) atomically on a hash per key, and sets the hash
/// to expire once it no longer matters: Redis holds only active keys.
///
/// The connection is made on first use (and again while it fails) and re-made after
/// errors; [`OnRedisError`]
/// says what happens meanwhile. After a failure, Redis is not asked again for
/// `retry_after_failure` (1 s by default, by the verifier's clock), so an outage costs
/// one slow request, not one per request.
///
/// ```no_run
/// use keygate::{KeyGate, MemoryStore, RateLimitSpec, RateLimits};
/// use keygate_redis::{OnRedisError, RedisRateLimiter};
///
/// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1:6379")?
///     .key_prefix("myapp:ratelimit:")
///     .on_redis_error(OnRedisError::LocalFallback)
///     .build();
/// let gate = KeyGate::builder(MemoryStore::new())
///     .rate_limits(RateLimits::new(limiter).env_default("live", RateLimitSpec::per_hour(1000)))
///     .build();
/// # let _ = gate;
/// # Ok::<(), redis::RedisError>(())
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: ConnectionManagerConfig,
    connection: OnceCell<ConnectionManager>,
    script: Script,
    prefix: String,
    time: TimeSource,
    on_error: OnRedisError,
    local: MemoryRateLimiter,
    timeout: Duration,
    retry_after_failure: i64,
    /// Unix µs (caller's clock) before which Redis is not asked again.
    down_until: AtomicI64,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("server", &self.inner.client.get_connection_info().addr)
            .field("prefix", &self.inner.prefix)
            .field("time", &self.inner.time)
            .field("on_error", &self.inner.on_error)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisRateLimiter`].
///
/// Defaults: key prefix `keygate:rl:`, the caller's clock, fail closed (503), a 500 ms
/// limit on each check, Redis left alone for 1 s after a failure, and a connection
/// that does not retry within a check, with 250 ms connect and response timeouts.
#[must_use]
pub struct RedisRateLimiterBuilder {
    client: Client,
    config: ConnectionManagerConfig,
    prefix: String,
    time: TimeSource,
    on_error: OnRedisError,
    local_capacity: usize,
    timeout: Duration,
    retry_after_failure: Duration,
}

impl fmt::Debug for RedisRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiterBuilder")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A builder over `client` (no connection is made until the first check).
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let limiter = RedisRateLimiter::builder(client).build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn builder(client: Client) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            client,
            config: ConnectionManagerConfig::new()
                .set_number_of_retries(0)
                .set_connection_timeout(Duration::from_millis(250))
                .set_response_timeout(Duration::from_millis(250)),
            prefix: "keygate:rl:".to_owned(),
            time: TimeSource::default(),
            on_error: OnRedisError::default(),
            local_capacity: MemoryRateLimiter::DEFAULT_CAPACITY,
            timeout: Duration::from_millis(500),
            retry_after_failure: Duration::from_secs(1),
        }
    }

    /// A builder for the server at `url` (`redis://host:port/db`); fails only if the
    /// URL does not parse.
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// assert!(RedisRateLimiter::from_url("redis://127.0.0.1:6379/0").is_ok());
    /// assert!(RedisRateLimiter::from_url("not a url").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<RedisRateLimiterBuilder, RedisError> {
        Ok(Self::builder(Client::open(url)?))
    }

    /// The Redis key holding `key`'s state.
    ///
    /// ```
    /// use keygate::KeyId;
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.key_prefix("app:rl:").build();
    /// let id = KeyId::generate();
    /// assert_eq!(limiter.redis_key(&id), format!("app:rl:{id}"));
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn redis_key(&self, key: &KeyId) -> String {
        self.counter_key(&Counter::Key(key))
    }

    /// The in-process limiter used while Redis is down (with
    /// [`OnRedisError::LocalFallback`]).
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.build();
    /// assert!(limiter.local_fallback().is_empty());
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn local_fallback(&self) -> &MemoryRateLimiter {
        &self.inner.local
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let inner = &*self.inner;
        let manager = inner
            .connection
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(inner.client.clone(), inner.config.clone())
            })
            .await?;
        Ok(manager.clone())
    }

    /// The Redis key of a counter.
    fn counter_key(&self, counter: &Counter<'_>) -> String {
        format!("{}{}", self.inner.prefix, counter.storage_key())
    }

    /// One round trip: every limit counted (or none), and the states after.
    async fn eval(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, Box<dyn std::error::Error + Send + Sync>> {
        let now_arg = match self.inner.time {
            TimeSource::Caller => now.to_string(),
            TimeSource::Server => String::new(),
        };
        let mut invocation = self.inner.script.prepare_invoke();
        invocation.arg(now_arg);
        for check in checks {
            invocation
                .key(self.counter_key(&check.counter))
                .arg(check.spec.interval_micros())
                .arg(check.spec.burst_size())
                .arg(check.spec.daily_quota.map_or(-1, i64::from))
                .arg(i64::from(check.spec.shadow));
        }
        let call = async {
            let mut connection = self.connection().await?;
            invocation.invoke_async::<Vec<i64>>(&mut connection).await
        };
        let reply = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| "redis rate limit check timed out")??;
        let unexpected = || format!("unexpected reply from the rate limit script: {reply:?}");
        let Some((&script_now, states)) = reply.split_first() else {
            return Err(unexpected().into());
        };
        if states.len() != checks.len() * 5 {
            return Err(unexpected().into());
        }
        let steps: Vec<GcraStep> = states
            .chunks_exact(5)
            .map(|s| GcraStep {
                state: GcraState {
                    tat: s[1],
                    interval: s[2],
                    day: s[3],
                    used: u32::try_from(s[4]).unwrap_or(u32::MAX),
                },
                allowed: s[0] == 1,
            })
            .collect();
        let counted = match (<[GcraStep; 1]>::try_from(steps), checks) {
            (Ok([one]), [check]) => Counted::one(check, one),
            (Ok([one]), _) => Counted::many(checks, vec![one]),
            (Err(many), _) => Counted::many(checks, many),
        };
        Ok(counted.at(script_now))
    }

    fn when_down(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
        error: Box<dyn std::error::Error + Send + Sync>,
    ) -> Result<Counted, RateLimitError> {
        match self.inner.on_error {
            OnRedisError::FailClosed => Err(RateLimitError::Unavailable(error)),
            OnRedisError::LocalFallback => self
                .inner
                .local
                .check_all_sync(checks, now)
                .unwrap_or_else(|| Err(RateLimitError::Unavailable(error))),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check_all(
        &self,
        checks: &[LimitCheck<'_>],
        now: i64,
    ) -> Result<Counted, RateLimitError> {
        if now < self.inner.down_until.load(Ordering::Relaxed) {
            return self.when_down(checks, now, "redis is down (backing off)".into());
        }
        match self.eval(checks, now).await {
            Ok(counted) => Ok(counted),
            Err(error) => {
                tracing::warn!(%error, on_error = ?self.inner.on_error, "keygate-redis: rate limit check failed");
                self.inner.down_until.store(
                    now.saturating_add(self.inner.retry_after_failure),
                    Ordering::Relaxed,
                );
                self.when_down(checks, now, error)
            }
        }
    }
}

impl RedisRateLimiterBuilder {
    /// Prefix of every Redis key it writes (default `keygate:rl:`); one per service
    /// or environment sharing a Redis.
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.key_prefix("billing:rl:").build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock the script reads (default: the caller's). See [`TimeSource`].
    ///
    /// ```
    /// use keygate_redis::{RedisRateLimiter, TimeSource};
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.time_source(TimeSource::Server).build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// What to do while Redis is down (default: 503). See [`OnRedisError`].
    ///
    /// ```
    /// use keygate_redis::{OnRedisError, RedisRateLimiter};
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?
    ///     .on_redis_error(OnRedisError::LocalFallback)
    ///     .build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn on_redis_error(mut self, on_error: OnRedisError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Keys the local fallback limiter tracks (default
    /// [`MemoryRateLimiter::DEFAULT_CAPACITY`]).
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.local_capacity(1600).build();
    /// assert_eq!(limiter.local_fallback().capacity(), 1600);
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn local_capacity(mut self, keys: usize) -> Self {
        self.local_capacity = keys;
        self
    }

    /// The longest one check may wait for Redis (default 500 ms); past it the check
    /// counts as failed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.timeout(Duration::from_millis(50)).build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after a failure Redis is left alone (default 1 s; zero: ask on every
    /// request).
    ///
    /// ```
    /// use std::time::Duration;
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.retry_after_failure(Duration::ZERO).build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn retry_after_failure(mut self, pause: Duration) -> Self {
        self.retry_after_failure = pause;
        self
    }

    /// The connection's reconnect and timeout settings (replacing the defaults).
    ///
    /// ```
    /// use std::time::Duration;
    /// use keygate_redis::RedisRateLimiter;
    /// let config = redis::aio::ConnectionManagerConfig::new()
    ///     .set_response_timeout(Duration::from_millis(100));
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.connection_config(config).build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn connection_config(mut self, config: ConnectionManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// The approximate mode: decisions in process (no round trip per request), this
    /// instance's requests added to Redis and every instance's state taken back every
    /// `sync_every` by a background task (started here when a tokio runtime is
    /// running). A fleet of N then admits at most (N − 1) × (burst + 2 × rate ×
    /// `sync_every`) requests beyond a limit, charged back afterwards; see
    /// [`SyncedRateLimiter`]. While Redis is down, [`OnRedisError::FailClosed`] (the
    /// default) keeps deciding locally for `3 × sync_every` (at least 1 s) and then
    /// answers 503; [`OnRedisError::LocalFallback`] keeps deciding locally (each instance
    /// enforces every limit on its own).
    ///
    /// ```
    /// use std::time::Duration;
    /// use keygate::RateLimits;
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1:6379")?
    ///     .build_approximate(Duration::from_millis(100));
    /// let limits = RateLimits::new(limiter);
    /// # let _ = limits;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn build_approximate(self, sync_every: Duration) -> SyncedRateLimiter<RedisCounterSync> {
        self.build_approximate_with(sync_every, std::sync::Arc::new(keygate::clock::SystemClock))
    }

    /// [`build_approximate`](Self::build_approximate) with the clock its sync task
    /// reads (the verifier's, e.g. a `ManualClock` in tests).
    pub fn build_approximate_with(
        self,
        sync_every: Duration,
        clock: std::sync::Arc<dyn keygate::clock::Clock>,
    ) -> SyncedRateLimiter<RedisCounterSync> {
        let when_unsynced = match self.on_error {
            OnRedisError::FailClosed => WhenUnsynced::Refuse {
                after: (sync_every * 3).max(Duration::from_secs(1)),
            },
            OnRedisError::LocalFallback => WhenUnsynced::DecideLocally,
        };
        let sync = RedisCounterSync {
            inner: self.build(),
            script: Script::new(SYNC_LUA),
        };
        SyncedRateLimiter::with(sync, sync_every, when_unsynced, clock)
    }

    /// The limiter. Connects on the first check, so it can be built before Redis is up
    /// and outside an async runtime.
    ///
    /// ```
    /// use keygate_redis::RedisRateLimiter;
    /// let limiter = RedisRateLimiter::from_url("redis://127.0.0.1")?.build();
    /// # let _ = limiter;
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn build(self) -> RedisRateLimiter {
        RedisRateLimiter {
            inner: Arc::new(Inner {
                client: self.client,
                config: self.config,
                connection: OnceCell::new(),
                script: Script::new(GCRA_LUA),
                prefix: self.prefix,
                time: self.time,
                on_error: self.on_error,
                local: MemoryRateLimiter::with_capacity(self.local_capacity),
                timeout: self.timeout,
                retry_after_failure: i64::try_from(self.retry_after_failure.as_micros())
                    .unwrap_or(i64::MAX),
                down_until: AtomicI64::new(i64::MIN),
            }),
        }
    }
}

/// The [`CounterSync`] of the approximate mode ([`RedisRateLimiterBuilder::build_approximate`]):
/// one script per sync adds an instance's requests to the shared states and answers them.
pub struct RedisCounterSync {
    inner: RedisRateLimiter,
    script: Script,
}

impl fmt::Debug for RedisCounterSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounterSync")
            .field("limiter", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CounterSync for RedisCounterSync {
    async fn sync(
        &self,
        counters: &[SyncCounter<'_>],
        now: i64,
    ) -> Result<Vec<GcraState>, RateLimitError> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(now);
        for c in counters {
            invocation
                .key(self.inner.counter_key(&c.counter))
                .arg(c.spec.interval_micros())
                .arg(c.spec.daily_quota.map_or(-1, i64::from))
                .arg(c.base)
                .arg(c.advance)
                .arg(c.requests);
        }
        let call = async {
            let mut connection = self.inner.connection().await?;
            invocation.invoke_async::<Vec<i64>>(&mut connection).await
        };
        let reply = tokio::time::timeout(self.inner.inner.timeout, call)
            .await
            .map_err(|_| RateLimitError::unavailable("redis rate limit sync timed out"))?
            .map_err(RateLimitError::unavailable)?;
        if reply.len() != counters.len() * 4 {
            return Err(RateLimitError::unavailable(format!(
                "unexpected reply from the sync script: {reply:?}"
            )));
        }
        Ok(reply
            .chunks_exact(4)
            .map(|s| GcraState {
                tat: s[0],
                interval: s[1],
                day: s[2],
                used: u32::try_from(s[3]).unwrap_or(u32::MAX),
            })
            .collect())
    }
}

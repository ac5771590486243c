//! [`RedisCredits`]: one credit balance for every instance of a service.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keygate::credits::{CreditLedger, CreditSpend, Credits, Spent, Unsettled};
use keygate::rate_limit::RateLimitError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use tokio::sync::OnceCell;

/// The Lua script: spend or give back, on a hash per balance, in one round trip.
const CREDITS_LUA: &str = include_str!("credits.lua");

/// A [`CreditLedger`] in Redis: every instance spends from one balance, each spend one
/// `EVALSHA` of a Lua script that checks and takes the cost atomically (never below
/// zero, all or nothing), refilling first when a refill interval began.
///
/// Redis holds the live balance; the store keeps a copy that the verifiers' flushes
/// bring up to date (each instance subtracts what it spent), so a restart of the
/// services loses nothing. If Redis loses a balance (a restart without persistence),
/// the next spend starts again from the balance the service last read from the store:
/// at most one flush interval plus its cache's lifetime behind. Run Redis with
/// persistence when that matters.
///
/// When Redis cannot be reached a spend fails closed: 503, never a free request (a
/// key without credits never reaches Redis). After a failure Redis is left alone for
/// `retry_after_failure` (1 s by default).
///
/// ```no_run
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_redis::RedisCredits;
///
/// let credits = RedisCredits::from_url("redis://127.0.0.1:6379")?.key_prefix("myapp:credits:").build();
/// let gate = KeyGate::builder(MemoryStore::new()).credits(credits).build();
/// # let _ = gate;
/// # Ok::<(), redis::RedisError>(())
/// ```
#[derive(Clone)]
pub struct RedisCredits {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: ConnectionManagerConfig,
    connection: OnceCell<ConnectionManager>,
    script: Script,
    prefix: String,
    timeout: Duration,
    retry_after_failure: i64,
    /// Unix µs before which Redis is not asked again.
    down_until: AtomicI64,
    unsettled: Unsettled,
}

impl fmt::Debug for RedisCredits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCredits")
            .field("server", &self.inner.client.get_connection_info().addr)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisCredits`]. Defaults: key prefix `keygate:credits:`, a 500 ms limit
/// on each spend, Redis left alone for 1 s after a failure, 250 ms connect and
/// response timeouts.
#[must_use]
pub struct RedisCreditsBuilder {
    client: Client,
    config: ConnectionManagerConfig,
    prefix: String,
    timeout: Duration,
    retry_after_failure: Duration,
}

impl fmt::Debug for RedisCreditsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCreditsBuilder")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCredits {
    /// A builder over `client` (no connection is made until the first spend).
    pub fn builder(client: Client) -> RedisCreditsBuilder {
        RedisCreditsBuilder {
            client,
            config: ConnectionManagerConfig::new()
                .set_number_of_retries(0)
                .set_connection_timeout(Duration::from_millis(250))
                .set_response_timeout(Duration::from_millis(250)),
            prefix: "keygate:credits:".to_owned(),
            timeout: Duration::from_millis(500),
            retry_after_failure: Duration::from_secs(1),
        }
    }

    /// A builder for the server at `url`; fails only if the URL does not parse.
    ///
    /// ```
    /// use keygate_redis::RedisCredits;
    /// assert!(RedisCredits::from_url("redis://127.0.0.1:6379/0").is_ok());
    /// assert!(RedisCredits::from_url("not a url").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<RedisCreditsBuilder, RedisError> {
        Ok(Self::builder(Client::open(url)?))
    }

    /// The Redis key holding the balance of `credits`.
    ///
    /// ```
    /// use keygate::credits::Credits;
    /// use keygate_redis::RedisCredits;
    /// let ledger = RedisCredits::from_url("redis://127.0.0.1")?.key_prefix("app:cr:").build();
    /// let credits = Credits::new(keygate::KeyId::generate(), 5, None, chrono::Utc::now()).unwrap();
    /// assert_eq!(ledger.redis_key(&credits), format!("app:cr:{}", credits.account));
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn redis_key(&self, credits: &Credits) -> String {
        format!("{}{}", self.inner.prefix, credits.account)
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

    /// One round trip: `cost` spent (or given back, negative) from the balance.
    async fn eval(
        &self,
        credits: &Credits,
        cost: i64,
        now: DateTime<Utc>,
    ) -> Result<Spent, Box<dyn std::error::Error + Send + Sync>> {
        let (seed_remaining, seed_period) = credits.balance_at(now);
        let (current, amount) = match credits.refill {
            Some(refill) => (refill.period_at(now), i64::try_from(refill.amount)?),
            None => (seed_period, -1),
        };
        let mut invocation = self.inner.script.prepare_invoke();
        invocation
            .key(self.redis_key(credits))
            .arg(credits.epoch)
            .arg(seed_remaining)
            .arg(seed_period)
            .arg(current)
            .arg(amount)
            .arg(cost);
        let call = async {
            let mut connection = self.connection().await?;
            invocation.invoke_async::<Vec<i64>>(&mut connection).await
        };
        let reply = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| "redis credit spend timed out")??;
        match reply.as_slice() {
            [allowed, remaining, period] => Ok(Spent {
                allowed: *allowed == 1,
                remaining: u64::try_from(*remaining).unwrap_or(0),
                period: *period,
            }),
            _ => Err(format!("unexpected reply from the credits script: {reply:?}").into()),
        }
    }

    async fn apply(
        &self,
        credits: &Credits,
        cost: i64,
        now: DateTime<Utc>,
    ) -> Result<Spent, RateLimitError> {
        let now_micros = now.timestamp_micros();
        if now_micros < self.inner.down_until.load(Ordering::Relaxed) {
            return Err(RateLimitError::unavailable("redis is down (backing off)"));
        }
        match self.eval(credits, cost, now).await {
            Ok(spent) => {
                if spent.allowed && cost != 0 {
                    self.inner.unsettled.note(credits, spent.period, cost);
                }
                Ok(spent)
            }
            Err(error) => {
                tracing::warn!(%error, "keygate-redis: credit spend failed; failing closed");
                self.inner.down_until.store(
                    now_micros.saturating_add(self.inner.retry_after_failure),
                    Ordering::Relaxed,
                );
                Err(RateLimitError::Unavailable(error))
            }
        }
    }
}

#[async_trait]
impl CreditLedger for RedisCredits {
    async fn spend(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Spent, RateLimitError> {
        let cost = i64::try_from(cost).map_err(RateLimitError::unavailable)?;
        self.apply(credits, cost, now).await
    }

    async fn refund(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<(), RateLimitError> {
        let cost = i64::try_from(cost).map_err(RateLimitError::unavailable)?;
        self.apply(credits, -cost, now).await.map(|_| ())
    }

    fn take_unsettled(&self) -> Vec<CreditSpend> {
        self.inner.unsettled.take()
    }

    fn restore_unsettled(&self, spends: Vec<CreditSpend>) {
        self.inner.unsettled.restore(spends);
    }
}

impl RedisCreditsBuilder {
    /// Prefix of every Redis key it writes (default `keygate:credits:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest one spend may wait for Redis (default 500 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after a failure Redis is left alone (default 1 s).
    pub fn retry_after_failure(mut self, pause: Duration) -> Self {
        self.retry_after_failure = pause;
        self
    }

    /// The connection's reconnect and timeout settings (replacing the defaults).
    pub fn connection_config(mut self, config: ConnectionManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// The ledger.
    pub fn build(self) -> RedisCredits {
        RedisCredits {
            inner: Arc::new(Inner {
                client: self.client,
                config: self.config,
                connection: OnceCell::new(),
                script: Script::new(CREDITS_LUA),
                prefix: self.prefix,
                timeout: self.timeout,
                retry_after_failure: i64::try_from(self.retry_after_failure.as_micros())
                    .unwrap_or(i64::MAX),
                down_until: AtomicI64::new(i64::MIN),
                unsettled: Unsettled::default(),
            }),
        }
    }
}

//! # keygate-redis
//!
//! Redis for a fleet of keygate services:
//!
//! - [`RedisRateLimiter`]: a [`keygate::rate_limit::RateLimiter`] shared by every instance, so N
//!   instances together allow each key exactly its limit. One atomic Lua script per
//!   check (one round trip) runs keygate's GCRA, the same arithmetic as the in-process
//!   [`keygate::rate_limit::MemoryRateLimiter`]. When Redis is down it either answers 503
//!   ([`OnRedisError::FailClosed`], the default) or counts in process
//!   ([`OnRedisError::LocalFallback`]).
//!   [`RedisRateLimiterBuilder::build_approximate`] is the approximate mode: decisions
//!   in process, reconciled with Redis in the background (no round trip per request;
//!   a stated overshoot bound).
//! - [`RedisCredits`]: a [`keygate::credits::CreditLedger`] shared by every instance:
//!   one balance per key, spent atomically by one Lua script (never below zero), failing
//!   closed when Redis is down.
//! - [`RedisInvalidationPublisher`] and [`RedisInvalidationSource`] (feature
//!   `invalidation`, on by default): cache invalidation over Redis pub/sub, the
//!   alternative to Postgres `LISTEN/NOTIFY`, for `keygate_moka::CachedStore::follow`.
//!
//! ```no_run
//! use keygate::{KeyGate, MemoryStore, RateLimitSpec, RateLimits};
//! use keygate_redis::RedisRateLimiter;
//!
//! let limiter = RedisRateLimiter::from_url("redis://127.0.0.1:6379")?.build();
//! let gate = KeyGate::builder(MemoryStore::new())
//!     .rate_limits(
//!         RateLimits::new(limiter)
//!             .env_default("test", RateLimitSpec::per_hour(100))
//!             .env_default("live", RateLimitSpec::per_hour(1000)),
//!     )
//!     .build();
//! # let _ = gate;
//! # Ok::<(), redis::RedisError>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod credits;
#[cfg(feature = "invalidation")]
mod invalidation;
mod limiter;
#[cfg(feature = "invalidation")]
mod publishing;

pub use credits::{RedisCredits, RedisCreditsBuilder};
#[cfg(feature = "invalidation")]
pub use invalidation::{RedisInvalidationPublisher, RedisInvalidationSource, DEFAULT_CHANNEL};
pub use limiter::{
    OnRedisError, RedisCounterSync, RedisRateLimiter, RedisRateLimiterBuilder, TimeSource,
};
#[cfg(feature = "invalidation")]
pub use publishing::PublishingStore;

//! Per-key rate limits (step 6 of the verify pipeline) and failed-authentication
//! throttling.
//!
//! - `spec.rs`: [`RateLimitSpec`] (`1000/h,burst=50,quota=10000`) and
//!   [`RateLimitStatus`] (one limit's state);
//! - `name.rs`, `named.rs`: [`LimitName`] and a key's [`NamedLimits`];
//! - `counter.rs`: [`LimitCheck`] and [`Counter`], one limit to count a request in;
//! - `report.rs`: [`RateLimitReport`] (every applied limit after a request) and the
//!   response fields ([`RateLimitHeaders`]: `X-RateLimit-*` or the IETF
//!   `RateLimit-Policy` / `RateLimit`);
//! - `limiter.rs`: the [`RateLimiter`] trait (all limits of a request counted
//!   atomically), [`RateLimited`] / [`RateLimitError`], and [`RateLimits`] (a limiter
//!   plus its policy) for the verifier;
//! - `gcra.rs`: the algorithm, a pure function every backend shares ([`GcraState`]);
//! - `memory.rs`: [`MemoryRateLimiter`], in process, bounded, forgets idle keys;
//! - `policy.rs`: [`RateLimitPolicy`], per-environment defaults, per-key overrides
//!   and limits shared by a tenant's or an owner's keys;
//! - `synced.rs`: [`SyncedRateLimiter`], decided in process and reconciled with a
//!   shared store in the background ([`CounterSync`]): a fleet's approximate mode;
//! - `throttle.rs`: [`FailureThrottle`], 429 for client IPs with too many failures.
//!
//! `keygate-redis` adds a limiter shared by every instance of a service.

mod counter;
mod gcra;
mod limiter;
mod memory;
mod name;
mod named;
mod policy;
mod report;
mod spec;
mod synced;
mod table;
mod throttle;

pub use counter::{Counter, LimitCheck};
pub use gcra::{GcraState, GcraStep, MICROS_PER_DAY};
pub use limiter::{Counted, RateLimitError, RateLimited, RateLimiter, RateLimits};
pub use memory::MemoryRateLimiter;
pub use name::{LimitName, LimitNameError};
pub use named::{NamedLimits, NamedLimitsError};
pub use policy::{RateLimitPolicy, SharedBy, SharedLimit};
pub use report::{
    Policy, RateLimitHeaderText, RateLimitHeaders, RateLimitReport, RATE_LIMIT_FIELDS,
};
pub use spec::{rate_limit_headers, RateLimitSpec, RateLimitSpecError, RateLimitStatus};
pub use synced::{CounterSync, MemorySync, SyncCounter, SyncedRateLimiter, WhenUnsynced};
pub use throttle::{FailureThrottle, Throttled};

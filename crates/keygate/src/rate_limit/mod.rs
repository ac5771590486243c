//! Per-key rate limits (step 6 of the verify pipeline) and failed-authentication
//! throttling.
//!
//! - `spec.rs`: [`RateLimitSpec`] (`1000/h,burst=50,quota=10000`),
//!   [`RateLimitStatus`] and [`rate_limit_headers`] (the `X-RateLimit-*` headers);
//! - `limiter.rs`: the [`RateLimiter`] trait, [`RateLimited`] / [`RateLimitError`],
//!   and [`RateLimits`] (a limiter plus its policy) for the verifier;
//! - `gcra.rs`: the algorithm, a pure function every backend shares ([`GcraState`]);
//! - `memory.rs`: [`MemoryRateLimiter`], in process, bounded, forgets idle keys;
//! - `policy.rs`: [`RateLimitPolicy`], per-environment defaults and per-key overrides;
//! - `throttle.rs`: [`FailureThrottle`], 429 for client IPs with too many failures.
//!
//! `keygate-redis` adds a limiter shared by every instance of a service.

mod gcra;
mod limiter;
mod memory;
mod policy;
mod spec;
mod table;
mod throttle;

pub use gcra::{GcraState, GcraStep, MICROS_PER_DAY};
pub use limiter::{RateLimitError, RateLimited, RateLimiter, RateLimits};
pub use memory::MemoryRateLimiter;
pub use policy::RateLimitPolicy;
pub use spec::{
    rate_limit_header_text, rate_limit_headers, RateLimitHeaderText, RateLimitSpec,
    RateLimitSpecError, RateLimitStatus,
};
pub use throttle::{FailureThrottle, Throttled};

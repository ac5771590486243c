//! # keygate-moka
//!
//! [`CachedStore`]: a [moka](https://docs.rs/moka) cache in front of any keygate
//! [`KeyStore`](keygate::KeyStore), so the verify hot path rarely touches the
//! database.
//!
//! - positive entries with a TTL, negative entries (unknown keys) with a shorter one;
//! - concurrent misses for one key share one store call (moka's `try_get_with`);
//! - a size bound;
//! - roles cached too (they are resolved on every verification of a key with a role);
//! - writes through the cache invalidate what they change; changes made by other
//!   instances arrive through an [`InvalidationSource`] (Postgres `LISTEN/NOTIFY` and
//!   a polled SQLite change table in `keygate-sqlx`; Redis pub/sub plugs in the same
//!   way);
//! - optional stale-if-error for keys already cached; never for unknown keys;
//! - counters: [`CachedStore::stats`].
//!
//! ```
//! use std::time::Duration;
//! use keygate::{KeyGate, MemoryStore};
//! use keygate_moka::CachedStore;
//!
//! let cached = CachedStore::builder(MemoryStore::new())
//!     .ttl(Duration::from_secs(30))
//!     .negative_ttl(Duration::from_secs(5))
//!     .build();
//! let gate = KeyGate::builder(cached.clone()).prefix("sk").build();
//! # let _ = gate;
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod builder;
mod follow;
mod front;
mod invalidation;
mod invalidator;
mod shared_error;
mod stats;
mod store;
mod tier;

pub use builder::{
    CachedStoreBuilder, DEFAULT_MAX_KEYS, DEFAULT_MAX_ROLES, DEFAULT_NEGATIVE_TTL, DEFAULT_TTL,
};
pub use invalidation::{InvalidPayload, Invalidation, InvalidationSource};
pub use invalidator::Invalidator;
pub use stats::{CacheStats, LookupStats};
pub use store::CachedStore;

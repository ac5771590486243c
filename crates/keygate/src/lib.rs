//! # keygate
//!
//! API-key authentication for Rust services, in process: key generation and format,
//! hashing, scopes and roles, the [`KeyStore`] trait, and the verify pipeline. This
//! crate knows nothing about HTTP frameworks; `keygate-tower` (axum, hyper, tonic) and
//! `keygate-actix` plug it in.
//!
//! ```
//! use keygate::{key_format, KeyGate, KeyRecord, KeyStore, MemoryStore, ScopeSet, VerifyRequest};
//! use keygate::hash::KeyHasher;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = std::sync::Arc::new(MemoryStore::new());
//! // Make a key: shown once, stored only as a hash.
//! let key = key_format::generate("sk", "live")?;
//! let hint = key_format::ParsedKey::parse(key.expose())?.hint();
//! let record = KeyRecord::new(KeyHasher::Sha256.hash(key.expose()), hint, "sk", "live", "ci", "acme")
//!     .with_scopes(ScopeSet::parse(["read:scans"])?);
//! store.insert(&record).await?;
//!
//! let gate = KeyGate::builder(store).prefix("sk").build();
//! let verified = gate.verify(VerifyRequest::key(key.expose())).await?;
//! assert!(verified.principal.has_scope("read:scans"));
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! The root names what a service names: the gate ([`KeyGate`], [`KeyGateBuilder`]) and
//! its refusals ([`AuthError`]); the caller ([`Authenticated`], [`Principal`]); keys
//! ([`KeyRecord`], [`KeyId`], [`ApiKeySecret`]) and their store ([`KeyStore`],
//! [`MemoryStore`], [`StoreError`]); management ([`KeyManager`], [`Actor`], [`NewKey`],
//! [`KeyUpdate`]); scopes ([`Scope`], [`ScopeSet`], [`Requirement`], [`ScopeRule`],
//! [`MethodPolicy`]); rate limits ([`RateLimits`], [`RateLimitSpec`]); the verifier
//! ([`Verifier`], [`VerifyRequest`]). The rest lives in a module named for what it
//! holds: [`rate_limit`] (limiters, the failure throttle, `X-RateLimit-*` headers),
//! [`render`] (error bodies), [`request`] (finding the key in a request, for adapters),
//! [`store`] (filters, pages, cursors), [`credits`] (remaining uses, refills, route costs), [`manager`], [`audit`], [`analytics`], [`clock`], [`hash`],
//! [`key_format`], [`record`], [`role`], [`scope`], [`usage`], [`verifier`], [`error`]
//! and [`duration`].
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod analytics;
pub mod audit;
mod authenticate;
mod base62;
pub mod clock;
pub mod credits;
pub mod duration;
pub mod error;
mod failure_audit;
mod gate;
pub mod hash;
mod id;
pub mod key_format;
pub mod manager;
mod method_policy;
mod principal;
pub mod rate_limit;
pub mod record;
pub mod render;
pub mod request;
mod requirement;
mod restrictions;
pub mod role;
pub mod scope;
#[cfg(test)]
mod scope_proptest;
mod scope_rule;
mod scope_set;
mod secret;
pub mod secret_scan;
pub mod store;
pub mod usage;
pub mod verifier;

#[cfg(feature = "testing")]
pub mod testing;

pub use authenticate::Authenticated;
pub use error::AuthError;
pub use gate::{KeyGate, KeyGateBuilder};
pub use id::KeyId;
pub use manager::{Actor, KeyManager, KeyUpdate, NewKey};
pub use method_policy::MethodPolicy;
pub use principal::Principal;
pub use rate_limit::{RateLimitSpec, RateLimits};
pub use record::KeyRecord;
pub use requirement::Requirement;
pub use scope::Scope;
pub use scope_rule::ScopeRule;
pub use scope_set::ScopeSet;
pub use secret::ApiKeySecret;
pub use store::{KeyStore, MemoryStore, StoreError};
pub use verifier::{Verifier, VerifyRequest};

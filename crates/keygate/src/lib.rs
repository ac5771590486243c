//! # keygate
//!
//! API-key authentication for Rust services, in process: key generation and format,
//! hashing, scopes and roles, the [`KeyStore`] trait, and the verify pipeline. This
//! crate knows nothing about HTTP frameworks; `keygate-tower` (axum, hyper, tonic) and
//! `keygate-actix` plug it in.
//!
//! ```
//! use keygate::{key_format, KeyGate, KeyHasher, KeyRecord, KeyStore, MemoryStore, ScopeSet, VerifyRequest};
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
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod audit;
mod authenticate;
mod base62;
mod clock;
mod credential;
mod duration;
mod error;
mod failure_audit;
mod gate;
pub mod hash;
mod id;
pub mod key_format;
mod manager;
mod method_policy;
mod principal;
mod rate_limit;
mod record;
mod render;
mod requirement;
mod restrictions;
mod role;
mod scope;
mod scope_rule;
mod scope_set;
mod secret;
mod store;
mod usage;
mod verifier;

#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditEvent, AuditFilter, Outcome};
pub use authenticate::{rate_limit_headers, Authenticated, Checked, PreparedRequest};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credential::{
    extract_credential, strip_query_param, ClientIp, CredentialSource, ExtractedCredential,
    FoundIn, RequestParts,
};
pub use duration::{format_duration, parse_duration};
pub use error::{AuthError, InvalidKeyReason};
pub use gate::{KeyGate, KeyGateBuilder};
pub use hash::{KeyHash, KeyHasher};
pub use id::KeyId;
pub use manager::{
    parse_ip_rule, Actor, CreatedKey, KeyManager, KeyManagerBuilder, KeyUpdate, ManageError,
    NewKey, OWNER_ADMIN_SCOPE,
};
pub use method_policy::MethodPolicy;
pub use principal::Principal;
pub use rate_limit::{
    FailureThrottle, GcraState, GcraStep, MemoryRateLimiter, RateLimitError, RateLimitPolicy,
    RateLimitSpec, RateLimitSpecError, RateLimitStatus, RateLimited, RateLimiter, RateLimits,
    Throttled, MICROS_PER_DAY,
};
pub use record::{KeyKind, KeyRecord, KeyStatus, Rotation};
pub use render::{
    ErrorBody, ErrorRenderer, ErrorResponse, FlatRenderer, NestedRenderer, ProblemRenderer,
    SharedRenderer,
};
pub use requirement::Requirement;
pub use role::{validate_role_name, Role, RoleNameError};
pub use scope::{Scope, ScopeError};
pub use scope_rule::{require, ScopeRule};
pub use scope_set::ScopeSet;
pub use secret::ApiKeySecret;
pub use store::{
    decode_cursor, encode_cursor, BoxError, KeyFilter, KeyStore, MemoryStore, Page, PageRequest,
    StoreError,
};
pub use usage::UsageRecorder;
pub use verifier::{Verification, Verifier, VerifierBuilder, VerifyRequest};

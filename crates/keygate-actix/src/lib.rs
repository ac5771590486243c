//! # keygate-actix
//!
//! API-key authentication for actix-web 4, on top of the framework-free [`keygate`]
//! core. Configure one [`keygate::KeyGate`] and every framework answers alike.
//!
//! - [`ApiKeyAuth`]: middleware that verifies the key (Bearer, `X-API-KEY`, query
//!   parameter, as the gate says), puts one [`keygate::Authenticated`] (principal,
//!   rate-limit state, error renderer) into request extensions, or answers 400/401/403/429/503 with the
//!   configured body.
//! - [`Principal`]: the extractor for the verified caller (`Option<Principal>` too).
//! - [`RequireScope`]: middleware guarding a scope or resource by scope
//!   (`write:items`, `any(...)`, `all(...)`) or by method policy (GET ->
//!   `read:<resource>`).
//! - [`require_scope`](macro@require_scope): the same check as an attribute on a
//!   handler, with the requirement checked at compile time.
//!
//! ```
//! use actix_web::{get, post, test, web, App, HttpResponse};
//! use keygate::{key_format, KeyGate, KeyRecord, KeyStore, MemoryStore, ScopeSet};
//! use keygate::hash::KeyHasher;
//! use keygate_actix::{require_scope, ApiKeyAuth, Principal};
//!
//! #[get("/hello")]
//! async fn hello(principal: Principal) -> String {
//!     format!("hello, {}", principal.name())
//! }
//!
//! #[post("/items")]
//! #[require_scope("write:items")]
//! async fn create_item() -> HttpResponse {
//!     HttpResponse::Created().finish()
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let store = std::sync::Arc::new(MemoryStore::new());
//! let key = key_format::generate("sk", "live")?;
//! let hint = key_format::ParsedKey::parse(key.expose())?.hint();
//! let record = KeyRecord::new(KeyHasher::Sha256.hash(key.expose()), hint, "sk", "live", "ci", "acme")
//!     .with_scopes(ScopeSet::parse(["read:items"])?);
//! store.insert(&record).await?;
//! let gate = KeyGate::builder(store).prefix("sk").build();
//!
//! let app = test::init_service(
//!     App::new().wrap(ApiKeyAuth::new(gate)).service(hello).service(create_item),
//! )
//! .await;
//! let bearer = ("authorization", format!("Bearer {}", key.expose()));
//! let res = test::call_service(&app, test::TestRequest::get().uri("/hello").insert_header(bearer.clone()).to_request()).await;
//! assert_eq!(test::read_body(res).await, "hello, ci");
//! let res = test::call_service(&app, test::TestRequest::post().uri("/items").insert_header(bearer).to_request()).await;
//! assert_eq!(res.status(), 403); // the key has read:items only
//! let res = test::call_service(&app, test::TestRequest::get().uri("/hello").to_request()).await;
//! assert_eq!(res.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! Order matters in actix: the last `.wrap()` runs first. [`RequireScope`] needs a
//! [`Principal`], so [`ApiKeyAuth`] must wrap outside it (wrap the app or scope with
//! `ApiKeyAuth`, and the inner scope or resource with `RequireScope`).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod extractor;
mod guard;
mod hide;
mod middleware;
mod parts;
mod rejection;
mod require_scope;
#[cfg(test)]
mod testing;

pub use extractor::{MissingPrincipal, Principal};
pub use keygate_actix_macros::require_scope;
pub use middleware::{ApiKeyAuth, ApiKeyAuthMiddleware};
pub use rejection::AuthRejection;
pub use require_scope::{RequireScope, RequireScopeFuture, RequireScopeMiddleware};

/// Support for the code `#[require_scope]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::guard::{requirement_cell, ScopeGuard, ScopeRequirement};
    pub use keygate::Requirement;
}

//! # keygate-tower
//!
//! API-key authentication as a tower [`Layer`](tower_layer::Layer): works with axum,
//! hyper, tonic and any `Service<http::Request<B>>`.
//!
//! - [`ApiKeyLayer`] verifies the key (Bearer, `X-API-KEY`, query parameter, as
//!   configured), puts one [`keygate::Authenticated`] (principal, rate-limit state, error
//!   renderer) into request extensions, or answers 400/401/403/429/503 with the configured body.
//! - [`RequireScope`] guards routes by scope (`write:items`, `any(...)`, `all(...)`) or
//!   by method policy (GET -> `read:<resource>`).
//! - With the `axum` feature, [`Principal`] is an extractor, and the client IP comes
//!   from `ConnectInfo<SocketAddr>`.
//! - Both layers answer with the inner service's own body type when it is a
//!   [`RejectionBody`] (axum's `Body`, `Full<Bytes>`, the boxed bodies of
//!   `http-body-util`): nothing is boxed per request. Any other body can be wrapped in
//!   [`ResponseBody`] (`Either<B, Full<Bytes>>`).
//! - A warm key is verified inside `call` ([`keygate::KeyGate::check`]) and the inner
//!   service is called at once; only a key that needs the store takes a boxed future.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{routing::{get, post}, Router};
//! use keygate::MemoryStore;
//! use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
//!
//! async fn hello(principal: Principal) -> String {
//!     format!("hello, {}", principal.name())
//! }
//!
//! let app: Router = Router::new()
//!     .route("/items", post(|| async { "created" }).route_layer(RequireScope::new("write:items")))
//!     .route("/hello", get(hello))
//!     .layer(ApiKeyLayer::builder(MemoryStore::new()).prefix("sk").build());
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod future;
mod layer;
mod request_parts;
mod require_scope;
mod response;
mod service;

#[cfg(feature = "axum")]
mod extract;

pub use future::ResponseFuture;
pub use keygate::request::ClientIp;
pub use layer::ApiKeyLayer;
pub use request_parts::client_ip;
pub use require_scope::{RequireScope, RequireScopeFuture, RequireScopeService};
pub use response::{RejectionBody, ResponseBody};
pub use service::ApiKeyService;

#[cfg(feature = "axum")]
pub use extract::{MissingPrincipal, Principal};

#[cfg(test)]
mod tests;

//! # keygate-admin
//!
//! The management REST API over a [`keygate::KeyManager`], for axum (feature `axum`)
//! and actix-web (feature `actix`) from one set of request/response types:
//!
//! | method | path | scope |
//! | --- | --- | --- |
//! | POST | `/v1/api-keys` | `write:api-keys` |
//! | GET | `/v1/api-keys` | `read:api-keys` |
//! | GET | `/v1/api-keys/{id}` | `read:api-keys` |
//! | PATCH | `/v1/api-keys/{id}` | `write:api-keys` |
//! | DELETE | `/v1/api-keys/{id}` (revoke) | `delete:api-keys` |
//! | POST | `/v1/api-keys/{id}/rotate` | `write:api-keys` |
//! | GET | `/v1/auth/me` | any key |
//! | GET | `/v1/auth/verify` | any key |
//! | GET | `/v1/audit-logs` | `read:audit-logs` |
//! | GET | `/v1/roles` | `read:roles` |
//! | POST | `/v1/roles` | `write:roles` |
//! | GET | `/v1/roles/{name}` | `read:roles` |
//! | PUT | `/v1/roles/{name}` (create or replace) | `write:roles` |
//! | DELETE | `/v1/roles/{name}` (`?force=true` while keys hold it) | `delete:roles` |
//! | GET | `/v1/openapi.json` | public |
//!
//! Mount it behind keygate's layer (axum) or middleware (actix): the caller's key is
//! the actor, so it only sees its tenant and cannot grant more than it holds.
//! JSON is camelCase; unknown fields, wrong types and bad values get 400/422 with
//! `{"error": {"code", "message", "details"}}`, bodies over 64 KB get 413, and nothing
//! is half-written. 401, 403 (a missing route scope), 429 and 503 are rendered by the
//! gate's [`ErrorRenderer`](keygate::render::ErrorRenderer) with its `WWW-Authenticate`
//! challenge, exactly as the key layer answers them, so a service has one error
//! vocabulary. A revoked key is gone from the by-id routes (404), as a deleted resource
//! is; `GET /v1/api-keys?includeRevoked=true` still lists it.
//!
//! The OpenAPI document ([`Admin::openapi`]) states every constraint the server
//! enforces and the error bodies of the configured renderer; CI runs schemathesis
//! against `keygate serve` over all operations (`.ci/schemathesis/run.sh`).
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use keygate::{KeyGate, MemoryStore};
//! use keygate_admin::Admin;
//! use keygate_tower::ApiKeyLayer;
//!
//! let gate = KeyGate::builder(MemoryStore::new()).build();
//! let admin = Admin::for_gate(&gate); // one configuration: manager, renderer, sources
//! let app: axum::Router = keygate_admin::axum::router(admin.clone())
//!     .layer(ApiKeyLayer::new(gate))
//!     .merge(keygate_admin::axum::openapi_router(&admin)); // public
//! # }
//! ```
//!
//! With feature `dashboard`, [`dashboard::Dashboard`] serves the same operations as
//! server-rendered web pages at `/dashboard` (sign-in with an admin key, sessions,
//! CSRF-protected forms), through this same handler and policy.
//!
//! actix-web: `App::new().configure(keygate_admin::actix::configure_openapi(&admin)).service(web::scope("").wrap(ApiKeyAuth::new(gate)).configure(keygate_admin::actix::configure(admin)))`.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod dto;
mod handler;
mod openapi;
mod query;
mod routes;
pub mod secret_scanning;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "dashboard")]
pub mod dashboard;

pub use handler::{Admin, AdminRequest, AdminResponse, DEFAULT_BODY_LIMIT};
pub use openapi::openapi;
pub use routes::{route, Operation, Route, ROUTES};

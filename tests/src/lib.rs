//! The HTTP conformance suite shared by every adapter.
//!
//! [`Fixture::new`] makes a store with one key per case (valid, revoked, expired, …)
//! and the [`KeyGate`](keygate::KeyGate) every framework must be configured with. An adapter's test
//! builds the [`routes`](self#routes) below with that gate, serves them on
//! `127.0.0.1:0`, and calls [`run_table`]: every case must give the same status,
//! headers and exact body on every framework.
//!
//! # Routes
//! - `GET /hello`: any valid key; the handler reads the `Principal` with the
//!   framework's extractor and answers `200 {"hello":"<key name>","tenant":"<tenant>"}`.
//! - `POST /items`: needs scope `write:items` (the framework's per-route requirement);
//!   answers `201 {"created":true}`.
//! - `GET /echo`: any valid key; answers `200 {"authorization":…,"xApiKey":…,"query":…}`
//!   with what the handler saw (null when absent): credentials must be hidden.

pub mod admin;
pub mod adversarial;
pub mod analytics;
pub mod cases;
pub mod credits;
pub mod fault_proxy;
pub mod faults;
mod fixture;
pub mod limits;
pub mod process;
pub mod redis_server;
mod runner;
pub mod secret_scanning;
pub mod serve;

pub use cases::{cases, Case, Expect};
pub use fixture::{Fixture, KeyName};
pub use runner::run_table;

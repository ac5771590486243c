//! Helpers for testing stores and services built on keygate (feature `testing`).
//!
//! - [`conformance`]: the suite every [`KeyStore`](crate::KeyStore) must pass.
//! - [`ManualClock`](crate::clock::ManualClock) (always available) moves time without sleeps.

pub mod conformance;

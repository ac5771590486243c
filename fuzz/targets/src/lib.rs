//! The bodies of keygate's fuzz targets, one module per target, each a
//! `pub fn run(data: &[u8])` that panics when an invariant breaks.
//!
//! They live in this ordinary workspace crate so that `cargo test --workspace` replays
//! every committed input (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`)
//! on the stable toolchain (`tests/corpus.rs`), while the cargo-fuzz crate in `fuzz/`
//! only wraps each `run` in a `fuzz_target!`. Run the fuzzers with
//! `cargo xtask fuzz [--seconds N] [--target NAME]`.

pub mod admin_json;
pub mod key_format;
pub mod limits;
pub mod request_parts;
pub mod require_scope_args;
pub mod scopes;
pub mod secret_scan;

// The `#[require_scope]` argument parser, compiled from the proc-macro crate's source:
// a proc-macro crate cannot export ordinary functions. `requirement.rs` names
// `crate::errors`, so both modules sit at this crate's root, as they do there.
#[allow(unreachable_pub, dead_code)]
#[path = "../../../crates/keygate-actix-macros/src/errors.rs"]
mod errors;
#[allow(unreachable_pub)]
#[path = "../../../crates/keygate-actix-macros/src/requirement.rs"]
mod requirement;

/// A target's body: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by name: `(name, run)`. The names are the cargo-fuzz target names
/// and the directory names under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("key_format", key_format::run),
    ("request_parts", request_parts::run),
    ("scopes", scopes::run),
    ("limits", limits::run),
    ("admin_json", admin_json::run),
    ("require_scope_args", require_scope_args::run),
    ("secret_scan", secret_scan::run),
];

/// The input as text, or `None` when it is not UTF-8 (most parsers take `&str`).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

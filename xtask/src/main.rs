//! `cargo xtask <task>`: project chores that are not plain cargo commands.
//!
//! - `cargo xtask ci`: run `.ci/run` (what CI runs).
//! - `cargo xtask bench servers [--quick] [--rounds N] [--duration S] [--only A,B]
//!   [--instr-only|--load-only]`: hello-world servers, keygate beside its peers:
//!   callgrind instructions per request and wrk load (see BENCHMARKS.md).
//! - `cargo xtask bench flood [--quick] [--duration S] [--only A,B]`: keygate's servers
//!   flooded with bad-checksum and unknown keys; store lookups counted.
//! - `cargo xtask bench micro [--quick] [filter]`: every criterion micro-benchmark.
//! - `cargo xtask bench scale [--quick]`: 1,000,000 keys in SQLite and PostgreSQL.
//! - `cargo xtask fuzz [--seconds N] [--target NAME,...] [--smoke]`: each cargo-fuzz
//!   target in `fuzz/` for N seconds (needs `cargo install cargo-fuzz --locked`).
//!
//! Results go to `target/bench/<task>-<time>/` (Markdown tables in `summary.md`).

use std::process::{Command, ExitCode};

mod fuzz;
mod micro;
mod scale;
mod servers;
mod util;

const USAGE: &str =
    "usage: cargo xtask <ci | fuzz [options] | bench <servers|flood|micro|scale> [options]>
  fuzz          [--seconds N] [--target NAME,...] [--smoke]
  bench servers [--quick] [--rounds N] [--duration S] [--only NAME,...] [--instr-only | --load-only]
  bench flood   [--quick] [--duration S] [--only NAME,...]
  bench micro   [--quick] [criterion filter]
  bench scale   [--quick]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["ci"] => util::run(
            Command::new("bash")
                .arg(".ci/run")
                .current_dir(util::root()),
        ),
        ["fuzz", ..] => fuzz::fuzz(&args[1..]),
        ["bench", "servers", ..] => servers::servers(&args[2..]),
        ["bench", "flood", ..] => servers::flood(&args[2..]),
        ["bench", "micro", ..] => micro::micro(&args[2..]),
        ["bench", "scale", ..] => scale::scale(&args[2..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `cargo xtask <task>`: project chores that are not plain cargo commands.
//!
//! - `cargo xtask ci`: run `.ci/run` (what CI runs).
//! - `cargo xtask bench [filter]`: run every criterion benchmark (optionally filtered).

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let status = match task.as_str() {
        "ci" => Command::new("bash").arg(".ci/run").status(),
        "bench" => {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["bench", "--workspace", "--benches"]);
            if !rest.is_empty() {
                cmd.arg("--").args(&rest);
            }
            cmd.status()
        }
        _ => {
            eprintln!("usage: cargo xtask <ci|bench [criterion filter]>");
            return ExitCode::from(2);
        }
    };
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `cargo xtask bench scale`: runs `bench-scale` (release) and prints its tables.

use std::process::Command;

use crate::util::{self, Result};

/// `cargo xtask bench scale [--quick]`.
pub(crate) fn scale(args: &[String]) -> Result<()> {
    let dir = util::results_dir("scale")?;
    eprintln!("xtask: building bench-scale (release)");
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "bench-scale",
    ]))?;
    let bin = util::target_dir().join("release").join("bench-scale");
    let out = util::output(
        Command::new("timeout")
            .arg("3600")
            .arg(bin)
            .args(args)
            .env("KEYGATE_BENCH_DIR", &dir),
    )?;
    println!("{out}");
    util::write(&dir.join("summary.md"), &out)?;
    eprintln!("xtask: summary.md in {}", dir.display());
    Ok(())
}

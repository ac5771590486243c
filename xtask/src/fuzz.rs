//! `cargo xtask fuzz [--seconds N] [--target NAME[,NAME...]] [--smoke]`: every
//! cargo-fuzz target in `fuzz/` (or the named ones), one after the other, for N seconds
//! each (default 60; `--smoke`: 10), then a table of executions, coverage, corpus size
//! and findings. Fails if any target crashed; the crashing input is in
//! `fuzz/artifacts/<target>/` (make it a regression: `fuzz/regressions/<target>/`).
//!
//! Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It runs on the stable
//! toolchain: `RUSTC_BOOTSTRAP=1` lets its nightly flags through, and no sanitizer is
//! used (`--sanitizer none`: keygate forbids `unsafe`, the targets check invariants).
//!
//! The committed seed corpus (`fuzz/corpus/<target>/`) and regressions are read only;
//! what the fuzzer finds goes to `<target dir>/fuzz/corpus/<target>/`, kept between
//! runs. Logs: `<target dir>/fuzz/<target>.log`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{self, Result};

const INSTALL: &str = "cargo install cargo-fuzz --locked";

/// One target's run.
struct Outcome {
    target: String,
    seconds: f64,
    executions: Option<u64>,
    coverage: Option<String>,
    /// Inputs in libFuzzer's corpus at the end.
    corpus: Option<usize>,
    finding: Option<String>,
}

pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 60;
    let mut only: Vec<String> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .ok_or("--seconds takes a positive number")?;
            }
            "--target" => {
                let names = args.next().ok_or("--target takes a name")?;
                only.extend(names.split(',').map(str::to_owned));
            }
            "--smoke" => seconds = 10,
            other => return Err(format!("fuzz: unknown option {other:?}")),
        }
    }
    let root = util::root();
    let fuzz_dir = root.join("fuzz");
    let all = targets(&fuzz_dir)?;
    for name in &only {
        if !all.contains(name) {
            return Err(format!(
                "no fuzz target {name:?}; there are {}",
                all.join(", ")
            ));
        }
    }
    let chosen: Vec<String> = if only.is_empty() { all } else { only };

    let version = Command::new(env!("CARGO"))
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !version.is_ok_and(|s| s.success()) {
        return Err(format!(
            "cargo-fuzz is not installed: run `{INSTALL}` (it builds on the stable toolchain)"
        ));
    }

    let work = util::target_dir().join("fuzz");
    let started = Instant::now();
    eprintln!("xtask: building the fuzz targets (cargo fuzz build, release, no sanitizer)");
    util::run(cargo_fuzz(&root).args(["build", "--sanitizer", "none"]))?;
    eprintln!(
        "xtask: built in {:.0} s; fuzzing {} target(s) for {seconds} s each",
        started.elapsed().as_secs_f64(),
        chosen.len()
    );

    let mut outcomes = Vec::new();
    for target in &chosen {
        outcomes.push(run_one(&root, &fuzz_dir, &work, target, seconds)?);
    }

    println!(
        "\n| target | seconds | executions | exec/s | coverage | corpus | findings |\n\
         | --- | ---: | ---: | ---: | --- | ---: | --- |"
    );
    for o in &outcomes {
        let execs = o.executions.map_or("?".to_owned(), |n| n.to_string());
        let rate = o.executions.map_or("?".to_owned(), |n| {
            format!("{:.0}", n as f64 / o.seconds.max(1.0))
        });
        println!(
            "| {} | {:.0} | {execs} | {rate} | {} | {} | {} |",
            o.target,
            o.seconds,
            o.coverage.as_deref().unwrap_or("?"),
            o.corpus.map_or("?".to_owned(), |n| n.to_string()),
            o.finding.as_deref().unwrap_or("none"),
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.finding.is_some())
        .map(|o| o.target.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets found a problem: {} (inputs in fuzz/artifacts/; replay one with \
             `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`)",
            crashed.join(", ")
        ))
    }
}

/// The targets: `fuzz/fuzz_targets/<name>.rs`, sorted.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// `cargo fuzz` from the repository root, its nightly flags let through.
fn cargo_fuzz(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .arg("fuzz")
        .env("RUSTC_BOOTSTRAP", "1")
        .stdin(Stdio::null());
    cmd
}

fn run_one(
    root: &Path,
    fuzz_dir: &Path,
    work: &Path,
    target: &str,
    seconds: u64,
) -> Result<Outcome> {
    let corpus = work.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let log_path = work.join(format!("{target}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = cargo_fuzz(root);
    cmd.args(["run", "--sanitizer", "none", target])
        // New inputs go to the first directory; the committed ones are only read.
        .arg(&corpus)
        .arg(fuzz_dir.join("corpus").join(target))
        .arg(fuzz_dir.join("regressions").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-print_final_stats=1", "-timeout=10"]);
    let dict = fuzz_dir.join("dicts").join(format!("{target}.dict"));
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    eprintln!(
        "\nxtask: fuzzing {target} for {seconds} s (log: {})",
        log_path.display()
    );
    let started = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let executions = text
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    // The last status line: `#123 DONE cov: 456 ft: 789 corp: 12/3456b ...`.
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("cov:"));
    let coverage = last.and_then(|l| {
        let cov = field(l, "cov:")?;
        let ft = field(l, "ft:")?;
        Some(format!("cov {cov}, ft {ft}"))
    });
    // libFuzzer's corpus (inputs that add features), not every file it ever wrote.
    let corpus_size = last
        .and_then(|l| field(l, "corp:"))
        .and_then(|c| c.split('/').next()?.parse().ok());
    let finding = (!status.success()).then(|| {
        let artifact = text
            .lines()
            .find_map(|l| l.split("Test unit written to ").nth(1))
            .map(str::trim);
        // The panic's location and the first line of its message, or libFuzzer's error.
        let lines: Vec<&str> = text.lines().collect();
        let what = lines
            .iter()
            .position(|l| l.contains("panicked at"))
            .map(|i| {
                let message: String = lines.get(i + 1).unwrap_or(&"").chars().take(300).collect();
                format!("{} {message}", lines[i])
            })
            .or_else(|| {
                lines
                    .iter()
                    .find(|l| l.starts_with("==") && l.contains("ERROR"))
                    .map(|l| (*l).to_owned())
            })
            .unwrap_or_else(|| "the fuzzer failed (see the log)".to_owned());
        match artifact {
            Some(path) => format!("{what} -> {path}"),
            None => format!("{what} ({status})"),
        }
    });
    let outcome = Outcome {
        target: target.to_owned(),
        seconds: elapsed,
        executions,
        coverage,
        corpus: corpus_size,
        finding,
    };
    eprintln!(
        "xtask: {target}: {} executions in {elapsed:.0} s, {}, {} findings",
        outcome.executions.map_or("?".to_owned(), |n| n.to_string()),
        outcome.coverage.as_deref().unwrap_or("coverage ?"),
        if outcome.finding.is_some() {
            "CRASH:"
        } else {
            "no"
        },
    );
    if let Some(f) = &outcome.finding {
        eprintln!("xtask: {target}: {f}");
    }
    Ok(outcome)
}

/// The word after `name` in a libFuzzer status line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == name)?;
    words.next()
}

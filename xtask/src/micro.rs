//! `cargo xtask bench micro`: every criterion benchmark of keygate's primitives (beside
//! their crates, and `bench/micro` for the rest), then one Markdown table.

use std::fmt::Write as _;
use std::process::Command;

use crate::util::{self, Result};

/// The benchmark runs: (package, bench targets).
const RUNS: &[(&str, &[&str])] = &[
    ("keygate", &["verify", "rate_limit"]),
    ("bench-micro", &["primitives"]),
];

/// Targets held on criterion figures (issue 17).
const TARGETS: &[(&str, f64)] = &[("verify/valid_key", 400.0), ("verify/bad_checksum", 150.0)];

/// `cargo xtask bench micro [--quick] [criterion filter]`.
pub(crate) fn micro(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let filter: Vec<&String> = args.iter().filter(|a| *a != "--quick").collect();
    let dir = util::results_dir("micro")?;
    let mut rows: Vec<(String, f64, f64, f64)> = Vec::new();
    let mut raw = String::new();
    for (package, benches) in RUNS {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(util::root())
            .args(["bench", "-q", "-p", package]);
        for b in *benches {
            cmd.args(["--bench", b]);
        }
        cmd.arg("--");
        if quick {
            cmd.args([
                "--warm-up-time",
                "0.2",
                "--measurement-time",
                "0.5",
                "--sample-size",
                "10",
            ]);
        }
        cmd.args(&filter);
        eprintln!("xtask: {cmd:?}");
        let out = util::output(&mut cmd)?;
        print!("{out}");
        raw.push_str(&out);
        rows.extend(parse_criterion(&out));
    }
    util::write(&dir.join("criterion.txt"), &raw)?;
    let mut t = format!(
        "### Micro-benchmarks (criterion{}; ns per call: low / estimate / high of the 95 % interval)\n\n",
        if quick { ", --quick: 0.5 s per benchmark, indicative only" } else { "" }
    );
    t.push_str(
        "| benchmark | low | estimate | high | target |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    for (name, lo, est, hi) in &rows {
        let target = TARGETS
            .iter()
            .find(|(n, _)| n == name)
            .map_or(String::new(), |(_, limit)| {
                format!(
                    "≤ {limit:.0} ns — {}",
                    if est <= limit { "met" } else { "**missed**" }
                )
            });
        let _ = writeln!(t, "| {name} | {lo:.1} | {est:.1} | {hi:.1} | {target} |");
    }
    println!("\n{t}");
    util::write(&dir.join("summary.md"), &t)?;
    eprintln!("xtask: raw output and summary.md in {}", dir.display());
    if rows.is_empty() {
        return Err("no criterion result was read".to_owned());
    }
    Ok(())
}

fn ns(value: &str, unit: &str) -> Option<f64> {
    let v: f64 = value.parse().ok()?;
    Some(match unit {
        "ps" => v / 1e3,
        "ns" => v,
        "µs" | "us" => v * 1e3,
        "ms" => v * 1e6,
        "s" => v * 1e9,
        _ => return None,
    })
}

/// `(name, low, estimate, high)` in ns from criterion's text output.
fn parse_criterion(text: &str) -> Vec<(String, f64, f64, f64)> {
    let mut rows = Vec::new();
    let mut previous = "";
    for line in text.lines() {
        if let Some((head, rest)) = line.split_once("time:") {
            let name = if head.trim().is_empty() {
                previous.trim()
            } else {
                head.trim()
            };
            let inner = rest.trim().trim_start_matches('[').trim_end_matches(']');
            let t: Vec<&str> = inner.split_whitespace().collect();
            if let [a, au, b, bu, c, cu] = t.as_slice() {
                if let (Some(a), Some(b), Some(c)) = (ns(a, au), ns(b, bu), ns(c, cu)) {
                    rows.push((name.to_owned(), a, b, c));
                }
            }
        } else if !line.trim().is_empty() {
            previous = line;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_output() {
        let text = "verify/valid_key        time:   [301.10 ns 302.00 ns 303.50 ns]\n\
                    memory_limiter/among_50k_keys\n                        time:   [1.0000 µs 1.5000 µs 2.0000 µs]\n";
        let rows = parse_criterion(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, "verify/valid_key");
        assert!((rows[0].2 - 302.0).abs() < 1e-9);
        assert_eq!(rows[1].0, "memory_limiter/among_50k_keys");
        assert!((rows[1].2 - 1500.0).abs() < 1e-9);
    }
}

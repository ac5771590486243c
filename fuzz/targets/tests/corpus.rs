//! Replays every committed fuzz input: `fuzz/corpus/<target>/` (the seed corpus) and
//! `fuzz/regressions/<target>/` (inputs that once found a bug), through the same
//! `run` the fuzzer calls. A failure names the file.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .expect("the fuzz directory")
}

/// The inputs in `dir`; none when the directory does not exist (a target with no
/// regression inputs yet).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return Vec::new();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                // `.gitkeep` keeps an empty directory.
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .expect("a readable corpus directory");
    files.sort();
    files
}

fn replay(kind: &str, at_least: usize) {
    let mut total = 0;
    for (target, run) in keygate_fuzz_targets::TARGETS {
        let dir = fuzz_dir().join(kind).join(target);
        let files = inputs(&dir);
        assert!(
            files.len() >= at_least,
            "{}: {} inputs, expected at least {at_least}",
            dir.display(),
            files.len()
        );
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
            total += 1;
        }
    }
    eprintln!("replayed {total} inputs from fuzz/{kind}/");
}

#[test]
fn seed_corpus() {
    replay("corpus", 3);
}

#[test]
fn regressions() {
    replay("regressions", 0);
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("a readable file");
    for (target, _) in keygate_fuzz_targets::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let source = std::fs::read_to_string(&path).expect("a readable file");
        assert!(
            source.contains(&format!("keygate_fuzz_targets::{target}::run")),
            "{} does not call {target}::run",
            path.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} in fuzz/Cargo.toml"
        );
    }
}

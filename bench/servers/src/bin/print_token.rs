//! Prints keys for the benchmark's load generator, one per line:
//!
//! - `print_token`: the demo key every server accepts;
//! - `print_token bad N`: N well-formed keys (prefix, env, 36 base62) whose checksum
//!   is wrong: keygate must refuse them without a store lookup;
//! - `print_token unknown N`: N well-formed keys with a valid checksum that no store
//!   holds (fresh from `keygate::key_format::generate`).
use keygate::key_format::{generate, ParsedKey};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = |s: Option<&String>| -> usize {
        s.and_then(|s| s.parse().ok())
            .filter(|&n| n <= 1_000_000)
            .unwrap_or_else(|| bench_servers::fail("usage: print_token [bad|unknown N]"))
    };
    match args.first().map(String::as_str) {
        None => println!("{}", bench_servers::demo_key()),
        Some("unknown") => {
            for _ in 0..count(args.get(1)) {
                let key = generate(bench_servers::PREFIX, bench_servers::ENV)
                    .unwrap_or_else(|e| bench_servers::fail(&e.to_string()));
                println!("{}", key.expose());
            }
        }
        Some("bad") => {
            let mut printed = 0;
            // Bounded: a random checksum is right once in ~57 billion draws.
            for _ in 0..count(args.get(1)) * 2 + 10 {
                if printed == count(args.get(1)) {
                    break;
                }
                let good = generate(bench_servers::PREFIX, bench_servers::ENV)
                    .unwrap_or_else(|e| bench_servers::fail(&e.to_string()));
                let good = good.expose();
                // Replace the 6 checksum characters by 6 random body characters of
                // another fresh key: same alphabet, same shape.
                let other = generate(bench_servers::PREFIX, bench_servers::ENV)
                    .unwrap_or_else(|e| bench_servers::fail(&e.to_string()));
                let other = other.expose();
                let cut = good.len() - 6;
                let key = format!("{}{}", &good[..cut], &other[cut - 6..cut]);
                if ParsedKey::parse(&key).is_err() {
                    println!("{key}");
                    printed += 1;
                }
            }
        }
        Some(other) => bench_servers::fail(&format!("unknown argument {other:?}")),
    }
}

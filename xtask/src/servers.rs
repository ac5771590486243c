//! `cargo xtask bench servers` and `cargo xtask bench flood`: the hello-world servers of
//! `bench/servers`, measured one at a time (callgrind instructions per request; wrk load
//! in rotated rounds), and keygate's servers flooded with bad keys.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{self, median, signed, thousands, Result, Server};

/// One measured server.
#[derive(Debug, Clone, Copy)]
struct Spec {
    name: &'static str,
    /// The hand-written middleware in the same placement (for keygate's servers).
    floor: Option<&'static str>,
    /// Target: instructions added over plain (SHA-256 excluded), from issue 17.
    target: Option<f64>,
    /// What it is, for the table.
    what: &'static str,
}

const SERVERS: &[Spec] = &[
    spec("axum_plain", None, None, "axum 0.8, no auth"),
    spec("axum_bearer", None, None, "tower-http `ValidateRequestHeaderLayer::bearer`, Router::layer"),
    spec("axum_hashmap", None, None, "hand-written SHA-256 + HashMap tower middleware, Router::layer"),
    spec("axum_hashmap_outer", None, None, "same middleware wrapped around the Router"),
    spec("axum_keygate_outer", Some("axum_hashmap_outer"), Some(1_600.0), "`ApiKeyLayer` (MemoryStore) around the Router"),
    spec("axum_keygate_layer", Some("axum_hashmap"), Some(3_200.0), "`ApiKeyLayer` (MemoryStore), Router::layer"),
    spec("axum_keygate_sqlite", Some("axum_hashmap"), Some(3_200.0), "`ApiKeyLayer` (CachedStore over SQLite), Router::layer"),
    spec("axum_keygate_full", Some("axum_hashmap"), Some(4_000.0), "+ `RequireScope` + rate limit + failure throttle (+ ConnectInfo)"),
    spec("axum_keygate_limits", Some("axum_hashmap"), None, "`axum_keygate_full` with a key of two named limits (three counted atomically)"),
    spec("axum_keygate_credits", Some("axum_hashmap"), None, "`axum_keygate_limits` with credits on the key (one spend per request)"),
    spec("axum_keygate_redis", Some("axum_hashmap"), None, "`axum_keygate_full` with the limit in Redis, exact (one script per request; needs Redis)"),
    spec("axum_keygate_redis_approx", Some("axum_hashmap"), None, "`axum_keygate_full` with the limit in Redis, approximate (decided in process, synced every 100 ms; needs Redis)"),
    spec("actix_plain", None, None, "actix-web 4, no auth"),
    spec("actix_bearer", None, None, "actix-web-httpauth `HttpAuthentication::bearer`"),
    spec("actix_hashmap", None, None, "hand-written SHA-256 + HashMap `Transform`"),
    spec("actix_keygate", Some("actix_hashmap"), Some(2_100.0), "`ApiKeyAuth` (MemoryStore)"),
    spec("actix_keygate_full", Some("actix_hashmap"), Some(4_000.0), "`ApiKeyAuth` (CachedStore over SQLite) + `#[require_scope]` + rate limit + failure throttle"),
];

const fn spec(
    name: &'static str,
    floor: Option<&'static str>,
    target: Option<f64>,
    what: &'static str,
) -> Spec {
    Spec {
        name,
        floor,
        target,
        what,
    }
}

impl Spec {
    fn plain(&self) -> &'static str {
        if self.name.starts_with("actix") {
            "actix_plain"
        } else {
            "axum_plain"
        }
    }
    fn is_plain(&self) -> bool {
        self.name.ends_with("_plain")
    }
}

/// Options of `bench servers` / `bench flood`.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    quick: bool,
    rounds: u32,
    duration: u32,
    only: Option<Vec<String>>,
    instr: bool,
    load: bool,
    /// Servers on CPU 0 and wrk on CPU 1 (set when `taskset` works here).
    pin: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            quick: false,
            rounds: 3,
            duration: 10,
            only: None,
            instr: true,
            load: true,
            pin: false,
        };
        let mut it = args.iter();
        let mut rounds = None;
        let mut duration = None;
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> Result<u32> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{name} needs a number"))
            };
            match a.as_str() {
                "--quick" => o.quick = true,
                "--rounds" => rounds = Some(value("--rounds")?),
                "--duration" => duration = Some(value("--duration")?),
                "--only" => {
                    let list = it.next().ok_or("--only needs NAME,...")?;
                    o.only = Some(list.split(',').map(str::to_owned).collect());
                }
                "--instr-only" => o.load = false,
                "--load-only" => o.instr = false,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if o.quick {
            o.rounds = 1;
            o.duration = 3;
        }
        o.rounds = rounds.unwrap_or(o.rounds);
        o.duration = duration.unwrap_or(o.duration);
        if !(1..=10).contains(&o.rounds) || !(1..=120).contains(&o.duration) {
            return Err("--rounds must be 1..10 and --duration 1..120 s".to_owned());
        }
        if !o.instr && !o.load {
            return Err("--instr-only and --load-only exclude each other".to_owned());
        }
        if let Some(only) = &o.only {
            for n in only {
                if !SERVERS.iter().any(|s| s.name == n) {
                    return Err(format!(
                        "unknown server {n}; known: {}",
                        SERVERS
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        Ok(o)
    }

    fn selected(&self) -> Vec<Spec> {
        // The Redis servers need a Redis: named with --only, or KEYGATE_BENCH_REDIS_URL.
        let redis = std::env::var_os("KEYGATE_BENCH_REDIS_URL").is_some();
        SERVERS
            .iter()
            .filter(|s| match &self.only {
                Some(only) => only.iter().any(|n| n == s.name),
                None => redis || !s.name.contains("_redis"),
            })
            .copied()
            .collect()
    }
}

fn bin_dir() -> PathBuf {
    util::target_dir().join("release")
}

/// Builds the release servers (only the bench package).
fn build() -> Result<()> {
    eprintln!("xtask: building the servers (release, -p bench-servers)");
    util::run(Command::new(env!("CARGO")).current_dir(util::root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "bench-servers",
        "--bins",
    ]))
}

fn demo_key() -> Result<String> {
    let out = util::output(&mut Command::new(bin_dir().join("print_token")))?;
    Ok(out.trim().to_owned())
}

/// A temporary directory for the servers' SQLite files, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(results: &Path) -> Result<Self> {
        let dir = results.join("db");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
    fn db(&self, name: &str) -> PathBuf {
        let path = self.0.join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Start-up checks: 200 with the key; for the auth servers 401 without a key and with a
/// wrong one.
fn check_answers(server: &Server, spec: &Spec, auth: &str) -> Result<()> {
    let code = |a: Option<&str>| util::get(server.port, "/hello", a).map(|(c, _)| c);
    let expect = if spec.is_plain() { 200 } else { 401 };
    let none = code(None);
    let wrong = code(Some("Bearer keygate_sk_live_wrong"));
    let good = code(Some(auth));
    if good != Some(200) || none != Some(expect) || wrong != Some(expect) {
        return Err(format!(
            "{}: expected 200 with the key and {expect} without / with a wrong one, got {good:?} / {none:?} / {wrong:?}",
            spec.name
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
struct Instr {
    per_req: f64,
    sha_per_req: f64,
    requests: u64,
    bad: u64,
}

/// Total instructions (the `totals:`/`summary:` line) of a callgrind dump.
fn callgrind_total(dump: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(dump).map_err(|e| format!("{}: {e}", dump.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no totals in {}", dump.display()))
}

/// Self instructions of sha2's block function, from `callgrind_annotate`.
fn callgrind_sha(dump: &Path) -> Result<f64> {
    let text = util::output(
        Command::new("callgrind_annotate")
            .arg("--threshold=100")
            .arg(dump),
    )?;
    Ok(text
        .lines()
        .find(|l| l.contains("sha2::sha256::compress256") || l.contains("sha2::sha256::soft"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or(0.0))
}

fn measure_instr(
    spec: &Spec,
    port: u16,
    auth: &str,
    dir: &Path,
    db: &TempDir,
    o: &Options,
) -> Result<Instr> {
    let out = dir.join(spec.name);
    let argv = vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}.callgrind.%p", out.display()),
        bin_dir().join(spec.name).display().to_string(),
    ];
    let db_path = db.db(spec.name);
    let mut server = Server::start(
        spec.name,
        &argv,
        port,
        &out.with_extension("instr.log"),
        &[("KEYGATE_BENCH_DB", &db_path)],
    )?;
    server.wait_ready(auth, Duration::from_secs(120))?;
    check_answers(&server, spec, auth)?;
    let (warm, measured) = if o.quick { (1, 2) } else { (2, 5) };
    util::wrk(
        false,
        8,
        warm,
        port,
        Some(auth),
        None,
        &out.with_extension("instr-warmup.txt"),
    )?;
    let pid = server.pid().to_string();
    util::output(Command::new("timeout").args(["60", "callgrind_control", "-z", &pid]))?;
    let w = util::wrk(
        false,
        8,
        measured,
        port,
        Some(auth),
        None,
        &out.with_extension("instr-load.txt"),
    )?;
    util::output(Command::new("timeout").args(["60", "callgrind_control", "-d", &pid]))?;
    server.stop();
    let dump = PathBuf::from(format!("{}.callgrind.{pid}.1", out.display()));
    let total = callgrind_total(&dump)?;
    let sha = callgrind_sha(&dump)?;
    let n = w.requests as f64;
    Ok(Instr {
        per_req: total / n,
        sha_per_req: sha / n,
        requests: w.requests,
        bad: w.bad,
    })
}

#[derive(Debug, Clone, Copy, Default)]
struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
    user_us: f64,
    steal: f64,
    bad: u64,
}

fn measure_load(
    spec: &Spec,
    port: u16,
    auth: &str,
    dir: &Path,
    round: u32,
    db: &TempDir,
    o: &Options,
) -> Result<Load> {
    let pin = o.pin;
    let out = dir.join(format!("{}.r{round}", spec.name));
    let bin = bin_dir().join(spec.name).display().to_string();
    let argv: Vec<String> = if pin {
        vec!["taskset".into(), "-c".into(), "0".into(), bin]
    } else {
        vec![bin]
    };
    let db_path = db.db(spec.name);
    let mut server = Server::start(
        spec.name,
        &argv,
        port,
        &out.with_extension("log"),
        &[("KEYGATE_BENCH_DB", &db_path)],
    )?;
    server.wait_ready(auth, Duration::from_secs(30))?;
    check_answers(&server, spec, auth)?;
    util::wrk(
        pin,
        32,
        2,
        port,
        Some(auth),
        None,
        &out.with_extension("warmup.txt"),
    )?;
    let (u0, s0) = server.cpu_ticks()?;
    let st0 = util::steal_ticks();
    let w = util::wrk(
        pin,
        32,
        o.duration,
        port,
        Some(auth),
        None,
        &out.with_extension("load.txt"),
    )?;
    let (u1, s1) = server.cpu_ticks()?;
    let st1 = util::steal_ticks();
    server.stop();
    let hz = util::clk_tck();
    let n = w.requests as f64;
    let user = (u1 - u0) as f64 / hz;
    let sys = (s1 - s0) as f64 / hz;
    let steal = if st1.1 > st0.1 {
        100.0 * (st1.0 - st0.0) as f64 / (st1.1 - st0.1) as f64
    } else {
        0.0
    };
    Ok(Load {
        rps: w.rps,
        p50: w.p50_us,
        p99: w.p99_us,
        cpu_us: (user + sys) * 1e6 / n,
        user_us: user * 1e6 / n,
        steal,
        bad: w.bad,
    })
}

/// `cargo xtask bench servers`.
pub(crate) fn servers(args: &[String]) -> Result<()> {
    let mut o = Options::parse(args)?;
    o.pin = util::can_pin();
    let mut tools = vec![("wrk", "wrk")];
    if o.instr {
        tools.push(("valgrind", "valgrind"));
        tools.push(("callgrind_control", "valgrind"));
    }
    util::ensure_tools(&tools)?;
    build()?;
    let dir = util::results_dir("servers")?;
    let db = TempDir::new(&dir)?;
    let key = demo_key()?;
    let auth = format!("Bearer {key}");
    let specs = o.selected();
    let mut report = format!(
        "<!-- cargo xtask bench servers {} -->\nMachine: {}\n\n",
        args.join(" "),
        util::machine()
    );

    if o.instr {
        eprintln!(
            "xtask: instructions per request under callgrind, {} servers",
            specs.len()
        );
        let mut rows: Vec<(Spec, Instr)> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let m = measure_instr(spec, 18_180 + 2 * i as u16, &auth, &dir, &db, &o)?;
            eprintln!(
                "  {:<20} {:>8.0} instr/req (SHA-256 {:>5.0}), {} requests{}",
                spec.name,
                m.per_req,
                m.sha_per_req,
                m.requests,
                if m.bad > 0 {
                    format!(", {} NON-2xx!", m.bad)
                } else {
                    String::new()
                }
            );
            rows.push((*spec, m));
        }
        let table = instr_table(&rows, &o);
        println!("\n{table}");
        report.push_str(&table);
    }

    if o.load {
        let pin = o.pin;
        eprintln!(
            "xtask: load, {} round(s) x {} s per server, {}",
            o.rounds,
            o.duration,
            if pin {
                "server on CPU 0, wrk on CPU 1"
            } else {
                "not pinned"
            }
        );
        let n = specs.len();
        let mut all: Vec<Vec<Load>> = vec![Vec::new(); n];
        for round in 1..=o.rounds {
            for j in 0..n {
                let i = (j + round as usize - 1) % n;
                let spec = &specs[i];
                let m = measure_load(spec, 18_080 + 2 * i as u16, &auth, &dir, round, &db, &o)?;
                eprintln!(
                    "  r{round} {:<20} {:>8.0} req/s  p50 {:>7.1} µs  p99 {:>8.1} µs  cpu {:>5.2} µs/req (user {:>5.2})  steal {:>4.1}%{}",
                    spec.name, m.rps, m.p50, m.p99, m.cpu_us, m.user_us, m.steal,
                    if m.bad > 0 { format!("  {} NON-2xx!", m.bad) } else { String::new() }
                );
                all[i].push(m);
            }
        }
        let table = load_table(&specs, &all, &o, pin);
        println!("\n{table}");
        report.push_str(&table);
    }
    util::write(&dir.join("summary.md"), &report)?;
    eprintln!("xtask: raw output and summary.md in {}", dir.display());
    Ok(())
}

fn instr_table(rows: &[(Spec, Instr)], o: &Options) -> String {
    let find = |name: &str| rows.iter().find(|(s, _)| s.name == name).map(|(_, m)| *m);
    let excl = |m: &Instr| m.per_req - m.sha_per_req;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### User-space instructions per request (callgrind, wrk 1 thread 8 connections, {} s after warm-up)\n",
        if o.quick { 2 } else { 5 }
    );
    t.push_str("| server | what | instr/req | of which SHA-256 | excl. SHA | x plain | + over plain excl. SHA | + over hand-written (same placement) | added / hand-written's | target (+ over plain) |\n");
    t.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (s, m) in rows {
        let plain = find(s.plain());
        let ratio = plain.map_or("—".to_owned(), |p| {
            format!("{:.3}", m.per_req / p.per_req)
        });
        let over = plain.map(|p| excl(m) - excl(&p));
        let floor = s.floor.and_then(|f| find(f).map(|fm| (f, fm)));
        let vs_floor = floor.map_or("—".to_owned(), |(f, fm)| {
            format!("{} vs {f}", signed(excl(m) - excl(&fm)))
        });
        let share = match (floor, plain) {
            (Some((_, fm)), Some(p)) if excl(&fm) > excl(&p) => {
                format!("{:.2}x", (excl(m) - excl(&p)) / (excl(&fm) - excl(&p)))
            }
            _ => "—".to_owned(),
        };
        let target = match (s.target, over) {
            (Some(t), Some(v)) => format!(
                "≤ {} — {}",
                signed(t),
                if v <= t { "met" } else { "**missed**" }
            ),
            (Some(t), None) => format!("≤ {} (plain not measured)", signed(t)),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {ratio} | {} | {vs_floor} | {share} | {target} |",
            s.name,
            s.what,
            thousands(m.per_req),
            thousands(m.sha_per_req),
            thousands(excl(m)),
            over.map_or("—".to_owned(), |v| if s.is_plain() {
                "—".to_owned()
            } else {
                signed(v)
            }),
        );
    }
    t.push('\n');
    t
}

fn load_table(specs: &[Spec], all: &[Vec<Load>], o: &Options, pin: bool) -> String {
    let med = |i: usize, f: fn(&Load) -> f64| median(&all[i].iter().map(f).collect::<Vec<_>>());
    let idx = |name: &str| specs.iter().position(|s| s.name == name);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### Load: wrk 1 thread 32 connections, {} s per server after 2 s warm-up, {} rotated round(s), medians{}\n",
        o.duration,
        o.rounds,
        if pin { "; server pinned to CPU 0, wrk to CPU 1" } else { "; not pinned" }
    );
    t.push_str("| server | req/s | p50 µs | p99 µs | server CPU µs/req (user) | x plain req/s | x plain − hand-written's | CPU µs/req − hand-written's | max steal % | errors |\n");
    t.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (i, s) in specs.iter().enumerate() {
        let rps = med(i, |l| l.rps);
        let ratio = |j: usize| idx(s.plain()).map(|p| med(j, |l| l.rps) / med(p, |l| l.rps));
        let floor = s.floor.and_then(idx);
        let dratio = match (floor, ratio(i), floor.and_then(ratio)) {
            (Some(_), Some(a), Some(b)) => format!("{:+.3}", a - b),
            _ => "—".to_owned(),
        };
        let dcpu = floor.map_or("—".to_owned(), |f| {
            format!("{:+.2}", med(i, |l| l.cpu_us) - med(f, |l| l.cpu_us))
        });
        let steal = all[i].iter().map(|l| l.steal).fold(0.0, f64::max);
        let bad: u64 = all[i].iter().map(|l| l.bad).sum();
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {:.0} | {:.2} ({:.2}) | {} | {dratio} | {dcpu} | {steal:.1} | {bad} |",
            s.name,
            thousands(rps),
            med(i, |l| l.p50),
            med(i, |l| l.p99),
            med(i, |l| l.cpu_us),
            med(i, |l| l.user_us),
            ratio(i).map_or("—".to_owned(), |r| format!("{r:.3}")),
        );
    }
    t.push('\n');
    t
}

// ------------------------------------------------------------------------- flood

/// The keygate servers flooded, and whether they expose cache counters on port + 1.
const FLOOD: &[(&str, bool)] = &[
    ("axum_keygate_layer", false),
    ("axum_keygate_sqlite", true),
    ("axum_keygate_full", true),
    ("actix_keygate", false),
    ("actix_keygate_full", true),
];

/// Distinct keys per flood script.
const FLOOD_KEYS: usize = 20_000;

fn lua_script(path: &Path, keys: &str) -> Result<()> {
    let mut s = String::from("-- generated by cargo xtask bench flood\nlocal keys = {\n");
    for k in keys.lines().filter(|l| !l.is_empty()) {
        let _ = writeln!(s, "  \"Bearer {k}\",");
    }
    s.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i % #keys + 1\n  \
         return wrk.format(\"GET\", \"/hello\", { [\"Authorization\"] = keys[i] })\nend\n",
    );
    util::write(path, &s)
}

/// The cache's store-load counter from the server's stats port (port + 1): up to 5 tries.
fn loads(port: u16) -> Option<u64> {
    for _ in 0..5 {
        let parsed = util::get(port + 1, "/stats", None).and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix("loads "))
                .and_then(|v| v.trim().parse().ok())
        });
        if parsed.is_some() {
            return parsed;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("xtask: no counters on 127.0.0.1:{}", port + 1);
    None
}

/// `cargo xtask bench flood`.
pub(crate) fn flood(args: &[String]) -> Result<()> {
    let mut o = Options::parse(args)?;
    if !args.iter().any(|a| a == "--duration") {
        o.duration = if o.quick { 2 } else { 4 };
    }
    util::ensure_tools(&[("wrk", "wrk")])?;
    build()?;
    let dir = util::results_dir("flood")?;
    let db = TempDir::new(&dir)?;
    let key = demo_key()?;
    let auth = format!("Bearer {key}");
    let print = bin_dir().join("print_token");
    let n = FLOOD_KEYS.to_string();
    let bad = util::output(Command::new(&print).args(["bad", &n]))?;
    let unknown = util::output(Command::new(&print).args(["unknown", &n]))?;
    let bad_lua = dir.join("bad.lua");
    let unknown_lua = dir.join("unknown.lua");
    lua_script(&bad_lua, &bad)?;
    lua_script(&unknown_lua, &unknown)?;
    let pin = util::can_pin();
    let mut t = format!(
        "### Bad-key flood: wrk 1 thread 32 connections, {} s per phase, phases in the order valid → bad checksum → unknown, one server process; {FLOOD_KEYS} distinct keys per flood{}\n\n",
        o.duration,
        if pin { "; server on CPU 0, wrk on CPU 1" } else { "" }
    );
    t.push_str("| server | valid req/s | bad checksum req/s | x valid | store loads (bad) | unknown key req/s | x valid | store loads (unknown) | distinct unknown keys sent | status after the flood |\n");
    t.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (i, (name, counted)) in FLOOD
        .iter()
        .filter(|(n, _)| o.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n)))
        .enumerate()
    {
        let port = 18_300 + 4 * i as u16;
        let out = dir.join(name);
        let bin = bin_dir().join(name).display().to_string();
        let argv: Vec<String> = if pin {
            vec!["taskset".into(), "-c".into(), "0".into(), bin]
        } else {
            vec![bin]
        };
        let db_path = db.db(name);
        let mut server = Server::start(
            name,
            &argv,
            port,
            &out.with_extension("log"),
            &[("KEYGATE_BENCH_DB", &db_path)],
        )?;
        server.wait_ready(&auth, Duration::from_secs(30))?;
        util::wrk(
            pin,
            32,
            1,
            port,
            Some(&auth),
            None,
            &out.with_extension("warmup.txt"),
        )?;
        let valid = util::wrk(
            pin,
            32,
            o.duration,
            port,
            Some(&auth),
            None,
            &out.with_extension("valid.txt"),
        )?;
        let l0 = if *counted { loads(port) } else { None };
        let b = util::wrk(
            pin,
            32,
            o.duration,
            port,
            None,
            Some(&bad_lua),
            &out.with_extension("bad.txt"),
        )?;
        let l1 = if *counted { loads(port) } else { None };
        let u = util::wrk(
            pin,
            32,
            o.duration,
            port,
            None,
            Some(&unknown_lua),
            &out.with_extension("unknown.txt"),
        )?;
        let l2 = if *counted { loads(port) } else { None };
        let last_key = unknown.lines().next().unwrap_or_default();
        let status_after = util::get(port, "/hello", Some(&format!("Bearer {last_key}")))
            .map_or("—".to_owned(), |(c, _)| c.to_string());
        server.stop();
        let diff = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => thousands(b.saturating_sub(a) as f64),
            _ => "not counted".to_owned(),
        };
        let distinct = (u.requests as usize).min(FLOOD_KEYS);
        eprintln!(
            "  {name:<20} valid {:.0} req/s, bad {:.0} req/s ({} non-2xx), unknown {:.0} req/s ({} non-2xx)",
            valid.rps, b.rps, b.bad, u.rps, u.bad
        );
        let _ = writeln!(
            t,
            "| {name} | {} | {} | {:.2} | {} | {} | {:.2} | {} | {} | {status_after} (unknown key) |",
            thousands(valid.rps),
            thousands(b.rps),
            b.rps / valid.rps,
            diff(l0, l1),
            thousands(u.rps),
            u.rps / valid.rps,
            diff(l1, l2),
            thousands(distinct as f64),
        );
    }
    println!("\n{t}");
    util::write(&dir.join("summary.md"), &t)?;
    eprintln!("xtask: raw output and summary.md in {}", dir.display());
    Ok(())
}

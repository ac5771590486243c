//! Process, HTTP, tool and output helpers for the benchmark tasks. std only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An error message for the user.
pub(crate) type Result<T, E = String> = std::result::Result<T, E>;

/// The workspace root (xtask's parent directory).
pub(crate) fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `target/bench/<task>-<UTC stamp>`, created.
pub(crate) fn results_dir(task: &str) -> Result<PathBuf> {
    let stamp = output(Command::new("date").args(["-u", "+%Y%m%dT%H%M%SZ"]))?;
    let dir = target_dir()
        .join("bench")
        .join(format!("{task}-{}", stamp.trim()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Runs `cmd`, returns its stdout; an error with its stderr when it fails.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` with inherited output; an error when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

/// Writes `text` to `path`.
pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether `tool` is on PATH.
pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Makes sure each `(tool, Debian package)` is installed: apt-get installs the missing
/// ones (after one `apt-get update`) when we are root; otherwise a clear error.
pub(crate) fn ensure_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<(&str, &str)> = tools.iter().copied().filter(|(t, _)| !have(t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    let is_root = output(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0");
    if !is_root || !have("apt-get") {
        return Err(format!(
            "missing {}: install the Debian packages `{}` (apt-get install -y {0}) and run again",
            missing
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", "),
            packages.join(" ")
        ));
    }
    eprintln!("xtask: installing {} with apt-get", packages.join(" "));
    if !APT_UPDATED.swap(true, Ordering::Relaxed) {
        let _ = Command::new("timeout")
            .args(["300", "apt-get", "update", "-qq"])
            .status();
    }
    let status = Command::new("timeout")
        .args(["600", "apt-get", "install", "-y", "-qq"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    let still: Vec<&str> = missing
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(t, _)| *t)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "could not install {} with apt-get ({status:?}): install the packages `{}` by hand",
            still.join(", "),
            packages.join(" ")
        ))
    }
}

/// Whether `taskset -c 0` and `-c 1` work here (2+ CPUs): servers then run on CPU 0 and
/// the load generator on CPU 1.
pub(crate) fn can_pin() -> bool {
    have("taskset")
        && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && ["0", "1"].iter().all(|cpu| {
            Command::new("taskset")
                .args(["-c", cpu, "true"])
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// A started server: stopped by its PID when dropped (SIGTERM, then SIGKILL after 10 s),
/// also when the task fails half-way.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    /// Its name, for messages.
    pub(crate) name: String,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
}

impl Server {
    /// Starts `argv` (the server's port is appended), output to `log`.
    pub(crate) fn start(
        name: &str,
        argv: &[String],
        port: u16,
        log: &Path,
        envs: &[(&str, &Path)],
    ) -> Result<Self> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err_file = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let (prog, args) = argv.split_first().ok_or("empty command")?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| format!("{prog}: {e}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            port,
        })
    }

    /// The server's PID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /hello` with `auth` answers 200: at most `limit`.
    pub(crate) fn wait_ready(&mut self, auth: &str, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited during start-up ({status})", self.name));
            }
            if get(self.port, "/hello", Some(auth)).is_some_and(|(code, _)| code == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} did not answer 200 on 127.0.0.1:{} within {limit:?}",
            self.name, self.port
        ))
    }

    /// (user, system) CPU ticks of the whole process, from `/proc/PID/stat`.
    pub(crate) fn cpu_ticks(&self) -> Result<(u64, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.pid()))?;
        let after = stat.rsplit_once(") ").map(|(_, s)| s).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the name: state is field 3 (index 0); utime and stime are fields 14, 15.
        let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (num(11), num(12)) {
            (Some(u), Some(s)) => Ok((u, s)),
            _ => Err(format!("cannot read CPU times of PID {}", self.pid())),
        }
    }

    /// Stops the server by its PID.
    pub(crate) fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.pid().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "xtask: {} (PID {pid}) ignored SIGTERM; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.1, connection closed), with an optional
/// `Authorization` header value: `(status, body)`, or `None` when nothing answered
/// within 2 s.
pub(crate) fn get(port: u16, path: &str, auth: Option<&str>) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    conn.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    let auth = auth
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = conn.take(1 << 20).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// What one wrk run reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wrk {
    /// Requests completed.
    pub(crate) requests: u64,
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency, µs (with `--latency`).
    pub(crate) p50_us: f64,
    /// 99th percentile latency, µs (with `--latency`).
    pub(crate) p99_us: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub(crate) bad: u64,
}

/// Runs wrk on `http://127.0.0.1:port/hello` for `seconds` (bounded by `timeout`), with
/// `Authorization: <header>` on every request or a Lua `script`; raw output to `out`.
pub(crate) fn wrk(
    pin: bool,
    connections: u32,
    seconds: u32,
    port: u16,
    header: Option<&str>,
    script: Option<&Path>,
    out: &Path,
) -> Result<Wrk> {
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "timeout"]);
        c
    } else {
        Command::new("timeout")
    };
    cmd.arg((seconds + 30).to_string()).args([
        "wrk".to_owned(),
        "-t1".to_owned(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".to_owned(),
    ]);
    if let Some(auth) = header {
        cmd.arg("-H").arg(format!("Authorization: {auth}"));
    }
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(format!("http://127.0.0.1:{port}/hello"));
    let text = output(&mut cmd)?;
    write(out, &text)?;
    parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output in {}", out.display()))
}

fn to_us(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        _ => return None,
    })
}

/// Reads wrk's text output.
pub(crate) fn parse_wrk(text: &str) -> Option<Wrk> {
    let mut w = Wrk::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [n, "requests", "in", ..] => w.requests = n.parse().ok()?,
            ["Requests/sec:", r] => w.rps = r.parse().ok()?,
            ["50%", v] => w.p50_us = to_us(v)?,
            ["99%", v] => w.p99_us = to_us(v)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => w.bad += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                w.bad += rest
                    .iter()
                    .filter_map(|t| t.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    (w.requests > 0).then_some(w)
}

/// (steal, total) jiffies over all CPUs, from `/proc/stat`.
pub(crate) fn steal_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.get(7).copied().unwrap_or(0), v.iter().sum())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub(crate) fn clk_tck() -> f64 {
    output(Command::new("getconf").arg("CLK_TCK"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The median of `v` (0 when empty).
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `1234567` as `1 234 567`.
pub(crate) fn thousands(n: f64) -> String {
    let neg = n < 0.0;
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// `+1 234` / `-56`.
pub(crate) fn signed(n: f64) -> String {
    if n >= 0.0 {
        format!("+{}", thousands(n))
    } else {
        thousands(n)
    }
}

/// One line describing this machine, for the tables' headers.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = output(Command::new("uname").arg("-r")).unwrap_or_default();
    let rustc = output(Command::new("rustc").arg("--version")).unwrap_or_default();
    format!(
        "{cpu}, {cpus} CPUs, Linux {}, {}",
        kernel.trim(),
        rustc.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/hello\n  1 threads and 8 connections\n  Latency Distribution\n     50%  812.00us\n     75%    1.00ms\n     90%    1.10ms\n     99%    1.20ms\n  151234 requests in 5.00s, 12.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 10\nRequests/sec:  30246.80\n";
        let w = parse_wrk(text).expect("parses");
        assert_eq!(w.requests, 151_234);
        assert_eq!(w.bad, 13);
        assert!((w.p50_us - 812.0).abs() < 1e-9 && (w.p99_us - 1200.0).abs() < 1e-9);
        assert!((w.rps - 30_246.8).abs() < 1e-9);
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(1_234_567.0), "1 234 567");
        assert_eq!(signed(-1_500.0), "-1 500");
        assert_eq!(signed(12.0), "+12");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

//! End-to-end harness for the example services: build the binaries once, give each
//! test a temporary SQLite file, run the real `keygate` CLI against it, and start a
//! service as a process on a free port (`KEYGATE_ADDR=127.0.0.1:0`; the service prints
//! `listening on http://ADDR`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::Value;

/// Every binary the example tests run, built in one `cargo build` so features unify.
const PACKAGES: &[&str] = &[
    "keygate-cli",
    "example-scans-api",
    "example-crm-api",
    "example-agents-api",
    "example-platform-api",
    "example-data-entries-api",
    "example-axum-quickstart",
    "example-actix-quickstart",
];

/// The path of a workspace binary (e.g. `keygate`, `example-scans-api`), building the
/// example binaries once per test process.
///
/// # Panics
/// If the build fails or the binary is not produced.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| {
            let members = workspace_packages();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.arg("build");
            for p in PACKAGES.iter().filter(|p| members.iter().any(|m| m == *p)) {
                cmd.args(["-p", p]);
            }
            let out = cmd.output().map_err(|e| format!("cargo build: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "cargo build failed ({}):\n{}",
                    out.status,
                    build_failure(&String::from_utf8_lossy(&out.stderr))
                ));
            }
            target_dir()
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// What a failed build said, short enough that a CI log keeps the cause: every line
/// naming an error, then the last lines.
fn build_failure(stderr: &str) -> String {
    // A linker's command line runs to kilobytes: keep each line's start.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim_start().starts_with("Compiling "))
        .map(|l| l.get(..300).unwrap_or(l))
        .collect();
    let mut said: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "error", "fatal", "no space", "killed", "signal", "collect2", "ld:",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .take(40)
        .collect();
    said.push("-- last lines --");
    said.extend(lines.iter().rev().take(30).rev().copied());
    said.join("\n")
}

/// `target/<profile>`: this test binary lives in `target/<profile>/deps`.
fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "cannot find the target directory".to_owned())
}

fn workspace_packages() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["crates", "examples"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(root.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("Cargo.toml")).ok())
        .filter_map(|toml| {
            toml.lines().find_map(|l| {
                l.strip_prefix("name = \"")
                    .and_then(|r| r.strip_suffix('"'))
                    .map(str::to_owned)
            })
        })
        .collect()
}

/// A temporary SQLite database, removed on drop.
#[derive(Debug)]
pub struct TempDb {
    dir: PathBuf,
    /// `sqlite://…/keygate.db`
    pub url: String,
}

impl TempDb {
    /// A fresh, empty database file for `name`.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "keygate-e2e-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
        let url = format!("sqlite://{}", dir.join("keygate.db").display());
        Self { dir, url }
    }

    /// Runs the real `keygate` CLI against this database.
    pub fn keygate(&self, args: &[&str]) -> Output {
        Command::new(binary("keygate"))
            .args(args)
            .env("KEYGATE_DATABASE_URL", &self.url)
            .env_remove("KEYGATE_PEPPER")
            .output()
            .unwrap_or_else(|e| panic!("run keygate: {e}"))
    }

    /// Runs `keygate <args> --json`, which must succeed, and parses its output.
    pub fn keygate_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.keygate(&all);
        assert!(
            out.status.success(),
            "keygate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("keygate {args:?}: not JSON: {e}"))
    }

    /// `keygate keys create <args> --json`: returns `(key, id)`.
    pub fn create_key(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["keys", "create"];
        all.extend_from_slice(args);
        let v = self.keygate_json(&all);
        let field = |f: &str| {
            v[f].as_str()
                .unwrap_or_else(|| panic!("no {f} in {v}"))
                .to_owned()
        };
        (field("key"), field("id"))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() % 1_000_000
}

/// A service process, killed on drop.
#[derive(Debug)]
pub struct RunningService {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl RunningService {
    /// Starts the binary `name` against `db` on a free port and waits (up to 60 s) for
    /// its `listening on http://ADDR` line. `env` adds variables.
    pub fn start(name: &str, db: &TempDb, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary(name));
        cmd.env("KEYGATE_ADDR", "127.0.0.1:0")
            .env("KEYGATE_DATABASE_URL", &db.url)
            .env_remove("KEYGATE_PEPPER")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("{name}: no stdout"));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => Self {
                child,
                url,
                stdout: lines,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("{name} did not print `listening on http://ADDR` within 60 s");
            }
        }
    }

    /// The lines the service has printed on stdout so far (up to `listening on …` at
    /// least).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `self.url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stops the service as Ctrl-C would (SIGINT, so its shutdown code runs) and waits
    /// up to 30 s for it to exit. Unix only.
    ///
    /// # Panics
    /// If the signal cannot be sent or the service does not exit in time.
    #[cfg(unix)]
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid} failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => panic!("the service did not exit within 30 s of SIGINT"),
                Err(e) => panic!("wait for the service: {e}"),
            }
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response's status, headers and body, for exact assertions.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// Sends `request` and reads the whole reply.
    pub async fn of(request: reqwest::RequestBuilder) -> Self {
        let res = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.expect("a text body");
        Self {
            status,
            headers,
            body,
        }
    }

    /// The body as JSON (null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

//! A `redis-server` of the test's own, on a free loopback port, that the test may kill
//! and start again (the shared Redis on 6379 is never touched).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server --port <port> --save "" --appendonly no` child process; killed on
/// drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// Starts one, or `None` (with the reason printed) when `redis-server` is not
    /// installed; under `CI=true` a missing `redis-server` fails the test.
    pub fn start(test: &str) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                !in_ci(),
                "{test}: redis-server is not installed (required when CI=true)"
            );
            eprintln!("skipping {test}: redis-server is not installed");
            return None;
        }
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL (no shutdown, no save) and waits until it is gone and its
    /// port refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis on {} did not stop",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis on {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// One `PING` in the RESP protocol, with short timeouts.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    if conn.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    conn.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

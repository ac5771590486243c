//! Shared test helpers: a PostgreSQL schema per run, SQLite temp files, keys.
#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "postgres")]
pub mod pg;

use std::path::PathBuf;

use keygate::hash::KeyHasher;
use keygate::KeyRecord;

/// A fresh random lower-case hex string.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap_or_else(|e| panic!("random: {e}"));
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new key and its record (tenant `acme`).
pub fn key(name: &str) -> (String, KeyRecord) {
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", name, "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    (secret.expose().to_owned(), record)
}

/// A SQLite file in the temp directory, removed (with its WAL files) on drop.
#[derive(Debug)]
pub struct TempDb {
    pub path: PathBuf,
}

impl TempDb {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("keygate-test-{}.db", random_hex(8)));
        Self { path }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A directory in the temp directory, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("keygate-test-{}", random_hex(8)));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{e}"));
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

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

/// A change and its audit event commit together or not at all: an event that cannot
/// be written (its id is taken) undoes the insert, rotation or revoke it records.
pub async fn a_change_and_its_event_commit_together(store: &impl keygate::KeyStore) {
    use keygate::audit::{AuditEvent, Outcome};
    use keygate::store::Write;
    let taken = AuditEvent::new("seed", Outcome::Success).with_tenant("acme");
    store.append_audit(&taken).await.expect("an audit event");

    let (_, lone) = key("never stored");
    let refused = store.write(Write::Insert(&lone), &taken).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        store.get(&lone.id).await.expect("a read").is_none(),
        "the insert was undone"
    );

    let (_, kept) = key("kept");
    store.insert(&kept).await.expect("an insert");
    let (_, successor) = key("successor");
    let now = chrono::Utc::now();
    let rotation = Write::Rotate {
        old: &kept,
        grace_until: now,
        new: &successor,
    };
    assert!(store.write(rotation, &taken).await.is_err());
    let revocation = Write::Revoke {
        id: &kept.id,
        at: now,
    };
    assert!(store.write(revocation, &taken).await.is_err());
    let after = store.get(&kept.id).await.expect("a read").expect("the key");
    assert!(
        after.rotation.is_none() && after.revoked_at.is_none(),
        "{after:?}"
    );
    assert!(store.get(&successor.id).await.expect("a read").is_none());
    assert_eq!(after.version, kept.version, "nothing was written");
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

//! The fault matrix's process cells: `keygate serve` (the real binary, a child process)
//! killed with SIGKILL in the middle of a burst of key creations and rotations over its
//! admin API, on SQLite and on PostgreSQL; and stopped with SIGINT, which flushes
//! pending last-used times.
//!
//! What "consistent" means after the kill, given how the code writes: a key (or a
//! rotation: the old row marked and the successor inserted) and its audit event are one
//! transaction (`KeyStore::write`), and the HTTP answer is sent after it commits. So,
//! after a SIGKILL:
//! - every key row reads back whole, and every acknowledged (201) creation and rotation
//!   is in the store;
//! - a rotation has both rows or neither: the old key marked with a successor that exists
//!   (same name, tenant and scopes), or the old key unmarked and no successor;
//! - no audit event without its change: every `key.create` success names a key that
//!   exists, every `key.rotate` success a key that is rotated;
//! - no change without its event, acknowledged or not (a request in flight at the kill
//!   committed both or neither).
//!
//! PostgreSQL is found through `KEYGATE_TEST_POSTGRES_URL` (a database of the test's own
//! is created and dropped); without it that half is skipped with a reason, except under
//! `CI=true`, where it fails.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keygate::audit::{AuditFilter, Outcome};
use keygate::store::{KeyFilter, PageRequest};
use keygate::{Actor, KeyId, KeyManager, KeyRecord, KeyStore, NewKey, ScopeSet};
use keygate_http_tests::process::binary;
use serde_json::{json, Value};

/// Concurrent writers in the burst.
const WRITERS: usize = 6;
/// Acknowledged changes before the kill.
const KILL_AFTER: usize = 40;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `keygate serve` on `127.0.0.1:0` over `url`; killed (SIGKILL) on drop.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(url: &str) -> Self {
        let mut child = Command::new(binary("keygate"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--failure-throttle",
                "100000/m",
            ])
            .env("KEYGATE_DATABASE_URL", url)
            .env_remove("KEYGATE_PEPPER")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keygate serve");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(base) = line.strip_prefix("listening on ") {
                    let _ = tx.send(base.trim().to_owned());
                }
            }
        });
        let Ok(base) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("keygate serve did not start within 60 s");
        };
        Self { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("kill -9 keygate serve");
        let _ = self.child.wait();
    }

    /// SIGINT, as Ctrl-C: the server stops and `KeyGate::shutdown` flushes. Waits for
    /// the exit (at most 30 s).
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "keygate serve did not exit within 30 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin key (`*` on tenant acme), made through the store directly.
async fn admin_key(url: &str) -> String {
    let store = keygate_sqlx::connect_any(url)
        .await
        .expect("open the store");
    let manager = KeyManager::builder(store).build();
    manager
        .create(
            &Actor::system(),
            NewKey::named("admin")
                .tenant("acme")
                .scopes(ScopeSet::parse(["*"]).expect("scopes")),
        )
        .await
        .expect("the admin key")
        .key
        .expose()
        .to_owned()
}

/// What the server acknowledged before it was killed.
#[derive(Default)]
struct Acked {
    /// Created keys: (id, plaintext).
    created: Vec<(String, String)>,
    /// Rotations: (old id, new id, new plaintext).
    rotated: Vec<(String, String, String)>,
}

/// Runs the burst against `base` until `KILL_AFTER` changes were acknowledged, then
/// kills the server with SIGKILL while the writers are still sending.
async fn burst_then_kill(server: Serve, admin: &str, run: &str) -> Acked {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, base, admin) = (http.clone(), server.base.clone(), admin.to_owned());
        let (acked, count, dead) = (acked.clone(), count.clone(), dead.clone());
        let run = run.to_owned();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                if dead.load(Ordering::SeqCst) {
                    return;
                }
                let name = format!("{run}-{w}-{i}");
                let created = http
                    .post(format!("{base}/v1/api-keys"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": name, "scopes": ["read:items"]}))
                    .send()
                    .await;
                let Ok(created) = created else { return };
                assert_eq!(created.status().as_u16(), 201, "create {name}");
                let Ok(body) = created.json::<Value>().await else {
                    return;
                };
                let id = body["id"].as_str().expect("an id").to_owned();
                let key = body["key"].as_str().expect("a key").to_owned();
                acked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .created
                    .push((id.clone(), key));
                count.fetch_add(1, Ordering::SeqCst);
                let rotated = http
                    .post(format!("{base}/v1/api-keys/{id}/rotate"))
                    .bearer_auth(&admin)
                    .json(&json!({}))
                    .send()
                    .await;
                let Ok(rotated) = rotated else { return };
                assert_eq!(rotated.status().as_u16(), 201, "rotate {name}");
                let Ok(body) = rotated.json::<Value>().await else {
                    return;
                };
                let new_id = body["id"].as_str().expect("an id").to_owned();
                let new_key = body["key"].as_str().expect("a key").to_owned();
                acked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .rotated
                    .push((id, new_id, new_key));
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst did not reach {KILL_AFTER} changes in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Writers are mid-request now: kill -9.
    dead.store(true, Ordering::SeqCst);
    server.kill();
    for writer in writers {
        writer.await.expect("a writer");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(PoisonError::into_inner));
    acked
}

async fn all_keys(store: &dyn KeyStore) -> Vec<KeyRecord> {
    let filter = KeyFilter::all().include_revoked(true);
    let mut page = PageRequest::first(500);
    let mut out = Vec::new();
    loop {
        let batch = store
            .list(&filter, &page)
            .await
            .expect("every key row reads back whole");
        out.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return out,
        }
    }
}

async fn all_events(store: &dyn KeyStore) -> Vec<keygate::audit::AuditEvent> {
    let filter = AuditFilter::default();
    let mut page = PageRequest::first(500);
    let mut out = Vec::new();
    loop {
        let batch = store
            .list_audit(&filter, &page)
            .await
            .expect("every audit row reads back whole");
        out.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return out,
        }
    }
}

/// Opens the store after the kill and checks what the module's doc says.
async fn check_after_kill(url: &str, run: &str, acked: &Acked) {
    let store = keygate_sqlx::connect_any(url)
        .await
        .expect("the store opens after a SIGKILL");
    let keys = all_keys(&store).await;
    let by_id: HashMap<String, &KeyRecord> = keys.iter().map(|k| (k.id.to_string(), k)).collect();
    let burst: Vec<&KeyRecord> = keys
        .iter()
        .filter(|k| k.name.starts_with(&format!("{run}-")))
        .collect();

    // Acknowledged changes are durable.
    for (id, _) in &acked.created {
        assert!(by_id.contains_key(id), "acknowledged key {id} is missing");
    }
    for (old, new, _) in &acked.rotated {
        let old_row = by_id.get(old).expect("acknowledged rotation's old key");
        let link = old_row.rotation.as_ref().map(|r| r.replaced_by.to_string());
        assert_eq!(link.as_deref(), Some(new.as_str()), "rotation of {old}");
        assert!(
            by_id.contains_key(new),
            "acknowledged successor {new} missing"
        );
    }

    // Both rows or neither, per name.
    let mut by_name: HashMap<&str, Vec<&KeyRecord>> = HashMap::new();
    for key in &burst {
        by_name.entry(key.name.as_str()).or_default().push(key);
    }
    let mut successors = HashSet::new();
    for (name, rows) in &by_name {
        match rows.as_slice() {
            [one] => assert!(
                one.rotation.is_none(),
                "{name}: rotated, but its successor is missing"
            ),
            [a, b] => {
                let (old, new) = if a.rotation.is_some() { (a, b) } else { (b, a) };
                let link = old.rotation.as_ref().map(|r| &r.replaced_by);
                assert_eq!(link, Some(&new.id), "{name}: two rows, not linked");
                assert!(new.rotation.is_none(), "{name}: both rows rotated");
                assert_eq!(
                    (&new.tenant, &new.scopes, new.env.as_str()),
                    (&old.tenant, &old.scopes, old.env.as_str()),
                    "{name}: the successor is not a copy"
                );
                successors.insert(new.id.clone());
            }
            more => panic!("{name}: {} rows", more.len()),
        }
    }

    // The audit log against the keys.
    let events = all_events(&store).await;
    let succeeded = |action: &str| -> HashSet<KeyId> {
        events
            .iter()
            .filter(|e| e.action == action && e.outcome == Outcome::Success)
            .filter_map(|e| e.target.clone())
            .collect()
    };
    let created_events = succeeded("key.create");
    let rotated_events = succeeded("key.rotate");
    for target in &created_events {
        assert!(
            by_id.contains_key(&target.to_string()),
            "a key.create event for {target}, which does not exist"
        );
    }
    for target in &rotated_events {
        let row = by_id
            .get(&target.to_string())
            .unwrap_or_else(|| panic!("a key.rotate event for {target}, which does not exist"));
        assert!(
            row.rotation.is_some(),
            "a key.rotate event for {target}, not rotated"
        );
    }
    for (id, _) in &acked.created {
        let id = KeyId::parse(id).expect("an id");
        assert!(
            created_events.contains(&id),
            "acknowledged create {id} has no event"
        );
    }
    for (old, _, _) in &acked.rotated {
        let id = KeyId::parse(old).expect("an id");
        assert!(
            rotated_events.contains(&id),
            "acknowledged rotation {id} has no event"
        );
    }
    let created_without_event = burst
        .iter()
        .filter(|k| !successors.contains(&k.id) && !created_events.contains(&k.id))
        .count();
    let rotated_without_event = burst
        .iter()
        .filter(|k| k.rotation.is_some() && !rotated_events.contains(&k.id))
        .count();
    assert_eq!(
        (created_without_event, rotated_without_event),
        (0, 0),
        "creations and rotations committed without their event (a change and its event \
         are one transaction)"
    );
    println!(
        "{run}: {} burst rows, {} acknowledged creations and {} rotations, every change with \
         its event",
        burst.len(),
        acked.created.len(),
        acked.rotated.len(),
    );
}

/// Restarts the server on the same store: every acknowledged key verifies.
async fn check_after_restart(url: &str, acked: &Acked) {
    let server = Serve::start(url);
    let http = reqwest::Client::new();
    let verify = |key: String| {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            http.get(format!("{base}/v1/auth/verify"))
                .bearer_auth(key)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .expect("verify after restart")
        }
    };
    let rotated: HashSet<&str> = acked
        .rotated
        .iter()
        .map(|(old, _, _)| old.as_str())
        .collect();
    for (id, key) in &acked.created {
        // An old key within its rotation grace still verifies, like a fresh one.
        assert_eq!(
            verify(key.clone()).await,
            200,
            "key {id} (rotated: {})",
            rotated.contains(id.as_str())
        );
    }
    for (_, new, key) in &acked.rotated {
        assert_eq!(verify(key.clone()).await, 200, "successor {new}");
    }
    server.kill();
}

async fn sigkill_during_burst(url: &str, run: &str) {
    let admin = admin_key(url).await;
    let acked = burst_then_kill(Serve::start(url), &admin, run).await;
    check_after_kill(url, run, &acked).await;
    check_after_restart(url, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_during_a_burst_of_creations_and_rotations() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
    sigkill_during_burst(&url, "sqlite-burst").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_during_a_burst_of_creations_and_rotations() {
    let Ok(base) = std::env::var("KEYGATE_TEST_POSTGRES_URL") else {
        assert!(
            !in_ci(),
            "KEYGATE_TEST_POSTGRES_URL is required when CI=true"
        );
        eprintln!("skipping: KEYGATE_TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = match sqlx::PgPool::connect(&base).await {
        Ok(pool) => pool,
        Err(e) if !in_ci() => {
            eprintln!("skipping: PostgreSQL unreachable: {e}");
            return;
        }
        Err(e) => panic!("PostgreSQL is required when CI=true: {e}"),
    };
    // A database of its own: `keygate serve` uses the URL's default schema.
    let db = format!("kg_faults_kill_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute(&admin)
        .await
        .expect("drop an old database");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .expect("create the test database");
    let mut url = reqwest::Url::parse(&base).expect("a PostgreSQL URL");
    url.set_path(&format!("/{db}"));
    let outcome = tokio::spawn({
        let url = url.to_string();
        async move { sigkill_during_burst(&url, "postgres-burst").await }
    })
    .await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await;
    admin.close().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// SIGINT: the server stops gracefully and flushes the last-used time of a key used
/// just before (the flush task's 5 s interval has not come round: only the shutdown
/// writes it).
#[tokio::test]
async fn sigint_flushes_pending_last_used_times() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
    let admin = admin_key(&url).await;
    let server = Serve::start(&url);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let status = reqwest::Client::new()
        .get(format!("{}/v1/auth/verify", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .expect("verify");
    assert_eq!(status, 200);
    let exit = server.interrupt();
    assert!(exit.success(), "keygate serve exited with {exit}");
    let store = keygate_sqlx::connect_any(&url)
        .await
        .expect("open the store");
    let keys = all_keys(&store).await;
    let used = keys
        .iter()
        .find(|k| k.name == "admin")
        .and_then(|k| k.last_used_at)
        .expect("the admin key's last-used time was flushed at shutdown");
    assert!(used >= before, "last used {used}");
}

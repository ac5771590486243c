//! `keygate serve` as a process: the admin REST API over a SQLite file, with a key
//! made by the CLI.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts `keygate serve` on a free port with `args` over the store at `url`; the child
/// and its base URL.
fn start_serve(url: &str, args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("KEYGATE_DATABASE_URL", url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(base) => (child, base),
        Err(_) => {
            let _ = child.kill();
            panic!("keygate serve did not start");
        }
    }
}

#[tokio::test]
async fn serve_exposes_the_admin_api_over_the_store() {
    let dir = std::env::temp_dir().join(format!("keygate-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .env("KEYGATE_DATABASE_URL", &url)
            .env_remove("KEYGATE_PEPPER")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let created = cli(&[
        "keys", "create", "--name", "ops", "--scopes", "*", "--tenant", "acme", "--json",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("a JSON body");
    let key = created["key"].as_str().expect("a string field").to_owned();
    let reader = cli(&[
        "keys",
        "create",
        "--name",
        "reader",
        "--scopes",
        "read:api-keys,write:api-keys",
        "--tenant",
        "acme",
        "--json",
    ]);
    let reader: serde_json::Value = serde_json::from_slice(&reader.stdout).expect("a JSON body");
    let reader_key = reader["key"].as_str().expect("a key").to_owned();
    let reader_id = reader["id"].as_str().expect("an id").to_owned();

    let (mut child, base) = start_serve(&url, &[]);

    let client = reqwest::Client::new();
    let me = client
        .get(format!("{base}/v1/auth/me"))
        .bearer_auth(&key)
        .send()
        .await;
    let me: serde_json::Value = match me {
        Ok(r) => r.json().await.expect("a JSON body"),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(me["key"]["name"], "ops");
    let made = client
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "from http", "scopes": ["read:scans"]}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(made, 201);
    let denied = client
        .get(format!("{base}/v1/api-keys"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(denied, 401);
    // The reader lists keys (read:api-keys) and never writes.
    let listed = client
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(&reader_key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(listed, 200);
    // Ctrl-C: the server stops and flushes what it counted.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !interrupted {
        let _ = child.kill();
    }
    let stopped = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(stopped.success(), "keygate serve stops cleanly on Ctrl-C");

    // Its two verified requests are the key's usage.
    let id = created["id"].as_str().expect("an id");
    let usage = cli(&[
        "usage",
        id,
        "--granularity",
        "minute",
        "--last",
        "1h",
        "--json",
    ]);
    assert!(
        usage.status.success(),
        "{}",
        String::from_utf8_lossy(&usage.stderr)
    );
    let usage: serde_json::Value = serde_json::from_slice(&usage.stdout).expect("a JSON body");
    let valid: u64 = usage
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["outcome"] == "valid")
        .filter_map(|c| c["count"].as_u64())
        .sum();
    assert_eq!(valid, 2, "{usage}");
    let text = cli(&["usage", id]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("valid"));
    // Bad input: a clear error, exit 1.
    let bad = cli(&["usage", id, "--last", "forever"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--last"));
    let unknown = cli(&["usage", "key_doesnotexist"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no key key_doesnotexist"));

    // The key made over HTTP is in the same store the CLI reads.
    let listed = cli(&["keys", "list", "--tenant", "acme", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("a JSON body");
    let names: Vec<&str> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(names.contains(&"from http"), "{names:?}");

    // What the reader used, and a narrowed replacement holding only that.
    let scopes = cli(&["keys", "scopes", &reader_id, "--json"]);
    assert!(
        scopes.status.success(),
        "{}",
        String::from_utf8_lossy(&scopes.stderr)
    );
    let scopes: serde_json::Value = serde_json::from_slice(&scopes.stdout).expect("a JSON body");
    assert_eq!(scopes["used"][0]["scope"], "read:api-keys", "{scopes}");
    assert_eq!(
        scopes["unused"],
        serde_json::json!(["write:api-keys"]),
        "{scopes}"
    );
    let text = cli(&["keys", "scopes", &reader_id]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("unused"));
    let narrowed = cli(&["keys", "narrow", &reader_id, "--grace", "0s", "--json"]);
    assert!(
        narrowed.status.success(),
        "{}",
        String::from_utf8_lossy(&narrowed.stderr)
    );
    let narrowed: serde_json::Value =
        serde_json::from_slice(&narrowed.stdout).expect("a JSON body");
    assert_eq!(
        narrowed["scopes"],
        serde_json::json!(["read:api-keys"]),
        "{narrowed}"
    );
    assert!(narrowed["key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sk_live_")));
    let idle = cli(&[
        "keys", "create", "--name", "idle", "--scopes", "read", "--tenant", "acme", "--json",
    ]);
    let idle: serde_json::Value = serde_json::from_slice(&idle.stdout).expect("a JSON body");
    let idle_id = idle["id"].as_str().expect("an id");
    for (args, needle) in [
        (vec!["keys", "narrow", idle_id], "revoke it instead"),
        (
            vec!["keys", "scopes", idle_id, "--since", "forever"],
            "--since",
        ),
        (
            vec!["keys", "narrow", "key_doesnotexist"],
            "key_doesnotexist",
        ),
    ] {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `keygate serve --secret-scanning-keys FILE`: a report signed by a key of the file
/// revokes the key it names; a file that is not GitHub's document stops the server
/// from starting, saying why.
#[tokio::test]
async fn serve_answers_secret_scanning_reports_signed_by_a_trusted_key() {
    use base64ct::{Base64, Encoding};
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    let dir = std::env::temp_dir().join(format!("keygate-leak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .env("KEYGATE_DATABASE_URL", &url)
            .env_remove("KEYGATE_PEPPER")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let signer = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("{e}"));
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
            break key;
        }
    };
    let pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("{e}"));
    let keys = dir.join("github-keys.json");
    let document = serde_json::json!({"public_keys": [{"key_identifier": "k1", "key": pem, "is_current": true}]});
    std::fs::write(&keys, document.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.join("not-keys.json");
    std::fs::write(&bad, "{\"keys\": []}").unwrap_or_else(|e| panic!("{e}"));

    let refused = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--secret-scanning-keys"])
        .arg(&bad)
        .env("KEYGATE_DATABASE_URL", &url)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--secret-scanning-keys"));

    let created = cli(&[
        "keys", "create", "--name", "leaky", "--tenant", "acme", "--json",
    ]);
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("a JSON body");
    let key = created["key"].as_str().expect("a key").to_owned();

    let (mut child, base) = start_serve(
        &url,
        &[
            "--leak-policy".as_ref(),
            "quarantine".as_ref(),
            "--secret-scanning-keys".as_ref(),
            keys.as_os_str(),
        ],
    );
    let report = serde_json::to_vec(&serde_json::json!([
        {"token": key, "type": "acme_api_key", "url": "https://github.com/acme/app/blob/main/.env", "source": "content"}
    ]))
    .expect("JSON");
    let signature: p256::ecdsa::Signature = signer.sign(&report);
    let client = reqwest::Client::new();
    let post = |signature: String| {
        client
            .post(format!("{base}/v1/secret-scanning/github"))
            .header("content-type", "application/json")
            .header("Github-Public-Key-Identifier", "k1")
            .header("Github-Public-Key-Signature", signature)
            .body(report.clone())
            .send()
    };
    let forged = post(Base64::encode_string(b"forged"))
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(forged.ok(), Some(401));
    let answered = post(Base64::encode_string(signature.to_der().as_bytes()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answered.status().as_u16(), 200);
    let feedback: serde_json::Value = answered.json().await.expect("a JSON body");
    assert_eq!(feedback[0]["label"], "true_positive", "{feedback}");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    // Quarantined: disabled, not revoked.
    let shown = cli(&[
        "keys",
        "show",
        created["id"].as_str().expect("an id"),
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("a JSON body");
    assert_eq!(shown["status"], "disabled", "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

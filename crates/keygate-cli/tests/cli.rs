//! The real `keygate` binary against a temporary SQLite file:
//! create -> verify -> rotate -> old key still verifies -> revoke -> verify fails.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Db {
    dir: PathBuf,
}

impl Db {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("keygate-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Self { dir }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join("keys.db").display())
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .env("KEYGATE_DATABASE_URL", self.url())
            .env_remove("KEYGATE_PEPPER")
            .output()
            .unwrap_or_else(|e| panic!("run keygate: {e}"))
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "keygate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("keygate {args:?}: not JSON ({e})"))
    }

    fn code(&self, args: &[&str]) -> i32 {
        self.run(args).status.code().unwrap_or(-1)
    }

    /// `keygate verify <args>` with `key` and a newline on standard input.
    fn verify(&self, key: &str, args: &[&str]) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .arg("verify")
            .args(args)
            .env("KEYGATE_DATABASE_URL", self.url())
            .env_remove("KEYGATE_PEPPER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run keygate: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{key}").unwrap_or_else(|e| panic!("write stdin: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait keygate: {e}"))
    }

    /// The exit code of `keygate verify` with `key` on standard input.
    fn verify_code(&self, key: &str) -> i32 {
        self.verify(key, &[]).status.code().unwrap_or(-1)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The id of a created or rotated key.
fn new_key_id(v: &Value) -> String {
    text(v, "id")
}

fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_owned()
}

#[test]
fn key_lifecycle() {
    let db = Db::new("lifecycle");
    let created = db.json(&[
        "keys",
        "create",
        "--name",
        "ci",
        "--scopes",
        "read:scans,write:scans",
        "--tenant",
        "acme",
    ]);
    let key = text(&created, "key");
    let id = text(&created, "id");
    assert!(key.starts_with("sk_live_"), "{key}");
    assert_eq!(
        created["scopes"],
        serde_json::json!(["read:scans", "write:scans"])
    );
    assert_eq!(db.verify_code(&key), 0);

    let rotated = db.json(&["keys", "rotate", &id, "--grace", "24h"]);
    let new_key = text(&rotated, "key");
    assert_ne!(new_key, key);
    assert_eq!(
        db.verify_code(&key),
        0,
        "the old key works during the grace period"
    );
    assert_eq!(db.verify_code(&new_key), 0);
    // The old key's page says whether callers still send it (rotation telemetry).
    let shown = db.run(&["keys", "show", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("rotation_grace") && shown.contains("uses in the last 24 h"),
        "{shown}"
    );

    // Disabled: refused with its own code, and working again once enabled.
    let disabled = db.json(&["keys", "disable", &new_key_id(&rotated)]);
    assert_eq!(text(&disabled, "status"), "disabled");
    let refused = db.verify(&new_key, &["--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let refused: Value = serde_json::from_slice(&refused.stdout).expect("a JSON body");
    assert_eq!(
        refused,
        serde_json::json!({"valid": false, "code": "key_disabled"})
    );
    let enabled = db.json(&["keys", "enable", &new_key_id(&rotated)]);
    assert_eq!(text(&enabled, "status"), "active");
    assert_eq!(db.verify_code(&new_key), 0, "enabled again");

    let revoked = db.json(&["keys", "revoke", &id]);
    assert_eq!(text(&revoked, "status"), "revoked");
    let refused = db.verify(&key, &["--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let refused: Value = serde_json::from_slice(&refused.stdout).expect("a JSON body");
    assert_eq!(
        refused,
        serde_json::json!({"valid": false, "code": "invalid_api_key"})
    );
    assert_eq!(db.verify_code(&new_key), 0, "the replacement is untouched");

    let listed = db.json(&["keys", "list", "--tenant", "acme", "--include-revoked"]);
    let listed = listed.as_array().cloned().expect("an array field");
    assert_eq!(listed.len(), 2);
    let text_out = String::from_utf8_lossy(
        &db.run(&[
            "keys",
            "list",
            "--tenant",
            "acme",
            "--include-revoked",
            "--json",
        ])
        .stdout,
    )
    .into_owned();
    assert!(
        !text_out.contains(&key) && !text_out.contains(&new_key),
        "listings never show keys"
    );
    assert!(
        listed.iter().all(|k| k.get("lastUsedAt").is_some()),
        "listings carry lastUsedAt"
    );

    let audit = db.json(&["audit", "--key", &id]);
    let actions: Vec<&str> = audit
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    // The refused `verify` of the revoked key is audited too.
    assert_eq!(
        actions,
        vec!["key.create", "key.rotate", "key.revoke", "key.verify"]
    );
    let refused = db.json(&["audit", "--key", &id, "--outcome", "failure"]);
    let refused: Vec<&str> = refused
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(refused, vec!["key.verify"], "only the refusal");
}

#[test]
fn human_output_shows_the_key_once_with_a_warning() {
    let db = Db::new("human");
    let out = db.run(&[
        "keys", "create", "--name", "demo", "--prefix", "neo_sk", "--env", "prod",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("neo_sk_prod_")),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only once"));
    let listed = String::from_utf8_lossy(&db.run(&["keys", "list"]).stdout).into_owned();
    assert!(
        listed.starts_with("ID") && listed.contains("demo") && listed.contains("LAST USED"),
        "{listed}"
    );
}

#[test]
fn roles_expiry_and_updates() {
    let db = Db::new("roles");
    db.json(&[
        "roles",
        "create",
        "radiologist",
        "--scopes",
        "read:scans,read:reports",
    ]);
    let roles = db.json(&["roles", "list"]);
    assert_eq!(roles[0]["name"], "radiologist");
    let created = db.json(&[
        "keys",
        "create",
        "--name",
        "doc",
        "--role",
        "radiologist",
        "--expires-in",
        "30d",
        "--rate-limit",
        "1000/h",
    ]);
    assert_eq!(created["role"], "radiologist");
    assert_eq!(created["rateLimit"], 1000);
    assert!(created["expiresAt"].is_string());
    let verified = db.verify(&text(&created, "key"), &["--json"]);
    assert!(verified.status.success());
    let verified: Value = serde_json::from_slice(&verified.stdout).expect("a JSON body");
    assert_eq!(
        verified["scopes"],
        serde_json::json!(["read:scans", "read:reports"])
    );
    let updated = db.json(&[
        "keys",
        "update",
        &text(&created, "id"),
        "--name",
        "renamed",
        "--no-expiry",
    ]);
    assert_eq!(
        (updated["name"].as_str(), updated["expiresAt"].is_null()),
        (Some("renamed"), true)
    );
}

#[test]
fn exit_codes() {
    let db = Db::new("codes");
    assert_eq!(db.code(&["keys", "frobnicate"]), 2, "usage error");
    assert_eq!(db.code(&["keys", "create"]), 2, "missing --name");
    assert_eq!(
        db.code(&["keys", "create", "--name", "x", "--kind", "robot"]),
        1,
        "invalid value"
    );
    assert_eq!(
        db.code(&["keys", "create", "--name", "x", "--scopes", "read scans"]),
        1,
        "bad scope"
    );
    assert_eq!(
        db.code(&["keys", "create", "--name", "x", "--expires-in", "soon"]),
        1,
        "bad duration"
    );
    assert_eq!(db.code(&["keys", "show", "key_missing"]), 1, "not found");
    assert_eq!(db.code(&["keys", "show", "not-an-id"]), 1, "not an id");
    assert_eq!(db.verify_code("garbage"), 1, "refused");
    assert_eq!(
        db.code(&["keys", "update", "key_missing"]),
        1,
        "nothing to update"
    );
    let bad_store = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["keys", "list"])
        .env("KEYGATE_DATABASE_URL", "mysql://nowhere/x")
        .output()
        .map(|o| o.status.code())
        .ok()
        .flatten();
    assert_eq!(bad_store, Some(1), "unsupported store URL");
}

#[test]
fn metadata_entries_are_stored_and_shown() {
    let db = Db::new("metadata");
    let created = db.json(&[
        "keys",
        "create",
        "--name",
        "doc",
        "--owner",
        "usr_001",
        "--kind",
        "personal",
        "--metadata",
        "email=radiologist@example.com",
        "--metadata",
        "team=imaging=core",
    ]);
    let expected = serde_json::json!({"email": "radiologist@example.com", "team": "imaging=core"});
    assert_eq!(created["metadata"], expected);
    let shown = db.json(&["keys", "show", &text(&created, "id")]);
    assert_eq!(shown["metadata"], expected, "stored, not only echoed");
    assert_eq!(
        db.code(&["keys", "create", "--name", "x", "--metadata", "no-equals"]),
        2,
        "KEY=VALUE is required"
    );
    assert_eq!(
        db.code(&["keys", "create", "--name", "x", "--metadata", "=value"]),
        2,
        "the key must not be empty"
    );
}

#[test]
fn rate_limits_outside_the_bounds_are_refused() {
    let db = Db::new("rate-bounds");
    for (limit, says) in [
        ("10/h,quota=0", "quota must be at least 1"),
        ("10/h,burst=0", "burst must be 1 to 1000000"),
        ("1/day,burst=1000", "refill within a year"),
    ] {
        let out = db.run(&[
            "keys",
            "create",
            "--name",
            "ci",
            "--tenant",
            "acme",
            "--rate-limit",
            limit,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{limit}: {stderr}");
        assert!(stderr.contains(says), "{limit}: {stderr}");
    }
    let listed = db.json(&["keys", "list", "--tenant", "acme"]);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
}

#[test]
fn verify_takes_the_key_from_stdin_or_an_env_var_never_an_argument() {
    let db = Db::new("verify-input");
    let created = db.json(&["keys", "create", "--name", "ci", "--tenant", "acme"]);
    let key = text(&created, "key");

    // On the command line: a usage error (exit 2) that says how to pass it, and does
    // not print the key back.
    let out = db.run(&["verify", &key]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard input"), "{stderr}");
    assert!(stderr.contains("--key-env VAR"), "{stderr}");
    assert!(!stderr.contains(&key), "the key is echoed: {stderr}");
    assert!(out.stdout.is_empty());

    // Standard input: one line, the newline trimmed (CRLF too); `-` says the same.
    assert_eq!(db.verify_code(&key), 0);
    assert_eq!(db.verify_code(&format!("{key}\r")), 0);
    assert_eq!(db.verify(&key, &["-"]).status.code(), Some(0));
    assert_eq!(db.verify_code("sk_live_garbage"), 1);
    let empty = db.verify("", &[]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no key on standard input"));

    // An environment variable, by name.
    let by_env = |value: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
        cmd.args(["verify", "--key-env", "MY_API_KEY"])
            .env("KEYGATE_DATABASE_URL", db.url())
            .env_remove("KEYGATE_PEPPER")
            .env_remove("MY_API_KEY")
            .stdin(Stdio::null());
        if let Some(value) = value {
            cmd.env("MY_API_KEY", value);
        }
        cmd.output().unwrap_or_else(|e| panic!("run keygate: {e}"))
    };
    assert_eq!(by_env(Some(&key)).status.code(), Some(0));
    assert_eq!(by_env(Some("sk_live_garbage")).status.code(), Some(1));
    let unset = by_env(None);
    assert_eq!(unset.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("MY_API_KEY is not set"));
}

#[test]
fn every_command_help_shows_an_example() {
    let db = Db::new("help-examples");
    for command in [
        &["keys", "create"][..],
        &["keys", "list"],
        &["keys", "show"],
        &["keys", "update"],
        &["keys", "rotate"],
        &["keys", "revoke"],
        &["keys", "disable"],
        &["keys", "enable"],
        &["keys", "deactivate-owner"],
        &["keys", "reactivate-owner"],
        &["roles", "create"],
        &["roles", "list"],
        &["roles", "show"],
        &["roles", "update"],
        &["roles", "delete"],
        &["verify"],
        &["audit"],
        &["usage"],
        &["migrate"],
        &["serve"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = db.run(&args);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command:?}: {help}");
        let example = help
            .split_once("Example")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("keygate {command:?} --help has no example:\n{help}"));
        assert!(
            example.contains(&format!("keygate {}", command.join(" "))),
            "keygate {command:?}: the example is of another command:\n{help}"
        );
    }
}

#[test]
fn keys_list_shows_every_tenant_and_says_what_it_searched() {
    let db = Db::new("all-tenants");
    let empty = db.run(&["keys", "list"]);
    let said = String::from_utf8_lossy(&empty.stdout);
    assert!(empty.status.success());
    assert!(
        said.contains("no keys found in all tenants") && said.contains("--include-revoked"),
        "{said}"
    );
    let acme = db.json(&["keys", "create", "--name", "a", "--tenant", "acme"]);
    db.json(&["keys", "create", "--name", "b", "--tenant", "globex"]);
    let all = db.json(&["keys", "list"]);
    let tenants: Vec<&str> = all
        .as_array()
        .expect("a JSON array, as before")
        .iter()
        .filter_map(|k| k["tenant"].as_str())
        .collect();
    assert_eq!(tenants.len(), 2, "{all}");
    assert!(tenants.contains(&"acme") && tenants.contains(&"globex"));
    let table = db.run(&["keys", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("TENANT") && table.contains("globex"),
        "{table}"
    );
    let only = db.json(&["keys", "list", "--tenant", "globex"]);
    assert_eq!(only.as_array().map(Vec::len), Some(1), "{only}");
    let none = db.run(&["keys", "list", "--tenant", "initech"]);
    assert!(String::from_utf8_lossy(&none.stdout).contains("tenant \"initech\""));
    // An id of any tenant works with show, rotate and revoke.
    let id = text(&acme, "id");
    assert_eq!(db.json(&["keys", "show", &id])["tenant"], "acme");
    assert_eq!(
        db.json(&["keys", "rotate", &id, "--grace", "0s"])["tenant"],
        "acme"
    );
    assert_eq!(db.json(&["keys", "revoke", &id])["status"], "revoked");
    // Errors say what to do next.
    let again = db.run(&["keys", "rotate", &id]);
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(why.contains(&format!("keygate keys show {id}")), "{why}");
    let missing = db.run(&["keys", "show", "key_nothing"]);
    let why = String::from_utf8_lossy(&missing.stderr);
    assert!(why.contains("keygate keys list"), "{why}");
}

#[test]
fn roles_have_the_rest_apis_operations() {
    let db = Db::new("roles-parity");
    let global = db.json(&["roles", "create", "viewer", "--scopes", "read"]);
    assert_eq!(global["tenant"], Value::Null);
    let acme = db.json(&[
        "roles",
        "create",
        "viewer",
        "--scopes",
        "read:items",
        "--tenant",
        "acme",
        "--env",
        "live",
    ]);
    assert_eq!(
        (&acme["tenant"], &acme["env"]),
        (&Value::from("acme"), &Value::from("live"))
    );
    assert_eq!(
        db.code(&["roles", "create", "viewer", "--scopes", "read"]),
        1,
        "exists"
    );
    let shown = db.json(&[
        "roles", "show", "viewer", "--tenant", "acme", "--env", "live",
    ]);
    assert_eq!(shown["scopes"], serde_json::json!(["read:items"]));
    let updated = db.json(&[
        "roles",
        "update",
        "viewer",
        "--scopes",
        "read:items,read:reports",
        "--tenant",
        "acme",
        "--env",
        "live",
    ]);
    assert_eq!(
        updated["scopes"],
        serde_json::json!(["read:items", "read:reports"])
    );
    assert_eq!(
        db.json(&["roles", "list"]).as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        db.json(&["roles", "list", "--tenant", "globex"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    db.json(&[
        "keys", "create", "--name", "k", "--tenant", "acme", "--role", "viewer",
    ]);
    let held = db.run(&[
        "roles", "delete", "viewer", "--tenant", "acme", "--env", "live",
    ]);
    let why = String::from_utf8_lossy(&held.stderr);
    assert_eq!(held.status.code(), Some(1));
    assert!(why.contains("--force"), "{why}");
    db.json(&[
        "roles", "delete", "viewer", "--tenant", "acme", "--env", "live", "--force",
    ]);
    let gone = db.run(&["roles", "show", "nobody"]);
    let why = String::from_utf8_lossy(&gone.stderr);
    assert!(why.contains("roles list"), "{why}");
    let half = db.run(&["roles", "show", "viewer", "--tenant", "acme"]);
    assert_eq!(half.status.code(), Some(2), "--tenant needs --env");
}

#[test]
fn named_limits_are_set_shown_replaced_and_refused_when_bad() {
    let db = Db::new("limits");
    let created = db.json(&[
        "keys",
        "create",
        "--name",
        "metered",
        "--rate-limit",
        "100/h",
        "--limit",
        "burst=10/s",
        "--limit",
        "daily=1000/day,quota=1000",
    ]);
    assert_eq!(
        created["limits"],
        serde_json::json!({"burst": "10/s", "daily": "1000/day,quota=1000"})
    );
    let id = new_key_id(&created);
    let shown = db.run(&["keys", "show", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("burst=10/s daily=1000/day,quota=1000"),
        "{shown}"
    );
    let replaced = db.json(&["keys", "update", &id, "--limit", "burst=5/s"]);
    assert_eq!(replaced["limits"], serde_json::json!({"burst": "5/s"}));
    let cleared = db.json(&["keys", "update", &id, "--no-limits"]);
    assert_eq!(cleared["limits"], serde_json::json!({}));
    for (bad, needle) in [
        ("burst", "expected NAME=SPEC"),
        ("Burst=1/s", "Burst"),
        ("default=1/s", "default"),
        ("burst=0/s", "limit burst"),
    ] {
        let out = db.run(&["keys", "update", &id, "--limit", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{bad}: {err}");
    }
    let unchanged = db.json(&["keys", "show", &id]);
    assert_eq!(
        unchanged["limits"],
        serde_json::json!({}),
        "nothing written"
    );
}

#[test]
fn credits_are_set_shown_replaced_removed_and_refused_when_bad() {
    let db = Db::new("credits");
    let created = db.json(&[
        "keys",
        "create",
        "--name",
        "metered",
        "--credits",
        "250",
        "--refill",
        "monthly:1000@15",
    ]);
    assert_eq!(created["credits"]["remaining"], 250);
    assert_eq!(created["credits"]["refill"], "monthly:1000@15");
    assert!(created["credits"]["refillsAt"].is_string(), "{created}");
    let id = new_key_id(&created);
    let key = created["key"].as_str().unwrap_or_default().to_owned();
    let shown = db.run(&["keys", "show", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("250 left, refill monthly:1000@15 (next "),
        "{shown}"
    );
    // An operator's check spends nothing.
    for _ in 0..3 {
        assert_eq!(db.verify_code(&key), 0);
    }
    assert_eq!(db.json(&["keys", "show", &id])["credits"]["remaining"], 250);
    let replaced = db.json(&["keys", "update", &id, "--credits", "10"]);
    assert_eq!(replaced["credits"]["remaining"], 10);
    assert!(replaced["credits"]["refill"].is_null(), "{replaced}");
    for (args, needle) in [
        (vec!["--credits", "5", "--refill", "weekly:5"], "--refill"),
        (vec!["--credits", "5", "--refill", "monthly:5@32"], "day"),
        (vec!["--credits", "9007199254740993"], "at most"),
        (vec!["--credits", "-1"], "-1"),
        (vec!["--refill", "daily:5"], "--credits"),
        (
            vec!["--credits", "5", "--no-credits"],
            "cannot be used with",
        ),
    ] {
        let mut full = vec!["keys", "update", id.as_str()];
        full.extend(&args);
        let out = db.run(&full);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        db.json(&["keys", "show", &id])["credits"]["remaining"],
        10,
        "nothing written"
    );
    let removed = db.json(&["keys", "update", &id, "--no-credits"]);
    assert!(removed["credits"].is_null(), "{removed}");
}

#[test]
fn shared_limits_are_set_shown_replaced_removed_and_refused_when_bad() {
    let db = Db::new("shared-limits");
    let set = db.json(&[
        "limits",
        "set",
        "--tenant",
        "acme",
        "--limit",
        "org=600/m",
        "--limit",
        "daily=1000/day,quota=1000",
    ]);
    assert_eq!(
        set["limits"],
        serde_json::json!({"org": "600/m", "daily": "1000/day,quota=1000"})
    );
    assert_eq!(
        (set["tenant"].as_str(), set["env"].as_str()),
        (Some("acme"), Some("live"))
    );
    let owner = db.json(&[
        "limits",
        "set",
        "--tenant",
        "acme",
        "--owner",
        "usr_42",
        "--limit",
        "user=60/m",
    ]);
    assert_eq!(owner["limits"], serde_json::json!({"user": "60/m"}));
    let shown = db.run(&["limits", "show", "--tenant", "acme"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("org") && text.contains("600/m") && !text.contains("user"),
        "{text}"
    );
    assert_eq!(
        db.json(&["limits", "show", "--tenant", "acme", "--env", "test"])["limits"],
        serde_json::json!({}),
        "per environment"
    );
    for (args, needle) in [
        (
            vec!["limits", "set", "--tenant", "acme", "--limit", "org=0/m"],
            "limit org",
        ),
        (
            vec!["limits", "set", "--tenant", "acme", "--limit", "Org=1/m"],
            "Org",
        ),
        (vec!["limits", "set", "--tenant", "acme"], "--limit"),
        (
            vec![
                "limits", "set", "--tenant", "acme", "--limit", "org=1/m", "--none",
            ],
            "cannot be used with",
        ),
        (vec!["limits", "set", "--limit", "org=1/m"], "--tenant"),
        (
            vec![
                "limits", "set", "--tenant", "acme", "--owner", " ", "--limit", "org=1/m",
            ],
            "owner",
        ),
    ] {
        let out = db.run(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        db.json(&["limits", "show", "--tenant", "acme"])["limits"]["org"],
        "600/m",
        "nothing written"
    );
    let removed = db.json(&["limits", "set", "--tenant", "acme", "--none"]);
    assert_eq!(removed["limits"], serde_json::json!({}));
    assert_eq!(
        db.json(&["limits", "show", "--tenant", "acme", "--owner", "usr_42"])["limits"],
        serde_json::json!({"user": "60/m"}),
        "the owner's stay"
    );
}

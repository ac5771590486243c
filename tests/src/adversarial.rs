//! The adversarial management table (issue 11): each finding of the security review as a
//! row — who calls, what request, the status expected, and the state of the store
//! afterwards — run over HTTP against the admin API on axum and on actix-web.
//!
//! The fixture serves one tenant with keys in two environments (`live`, `test`); the
//! gate accepts both, as a service with test and live keys does.

use std::fmt::Write;
use std::sync::Arc;

use keygate::record::KeyKind;
use keygate::role::Role;
use keygate::{
    Actor, KeyGate, KeyId, KeyManager, KeyRecord, KeyStore, MemoryStore, NewKey, RateLimitSpec,
    ScopeSet,
};
use keygate_admin::Admin;
use serde_json::{json, Value};

/// Who calls a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// `*`, live.
    LiveAdmin,
    /// `*`, test.
    TestAdmin,
    /// The `api_manager` role: read/write/delete:api-keys, read:audit-logs, read:items; live.
    Manager,
    /// A service key with `write:api-keys` and `read:items`; live.
    Service,
    /// `read:api-keys`, `write:api-keys`, `read:items`, expiring in 1 day; live.
    Expiring,
    /// `read:api-keys`, `write:api-keys`; expiry in 30 days, IPs 127.0.0.0/8, 100/h; live.
    Restricted,
    /// An `administrator` (role `*`) personal key of `ada`; live.
    Ada,
}

/// A key the rows act on or check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A caller's own key.
    Caller(Who),
    /// A `read:items` service key, live.
    Plain,
    /// A `read:items` service key, test.
    TestPlain,
}

/// What must be true of the store after a row.
#[derive(Debug, Clone)]
pub enum After {
    /// The key still verifies over HTTP (or no longer does).
    Verifies(Target, bool),
    /// A JSON pointer into the key's admin view, read by the system.
    Field(Target, &'static str, Value),
    /// The pointer is set (not null).
    Present(Target, &'static str),
    /// How many keys of the tenant exist (all environments, revoked included).
    KeyCount(usize),
}

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    /// What the review found, and how it is tried.
    pub name: &'static str,
    /// Caller.
    pub who: Who,
    /// Method.
    pub method: &'static str,
    /// Path; `{Target}` names are replaced by ids: `{LiveAdmin}`, `{Plain}`, `{TestPlain}`,
    /// `{Manager}`, `{Restricted}`, `{Ada}`.
    pub path: &'static str,
    /// JSON body, if any.
    pub body: Option<&'static str>,
    /// Expected status.
    pub status: u16,
    /// JSON pointer checks on the answer.
    pub checks: Vec<(&'static str, Value)>,
    /// The state afterwards.
    pub after: Vec<After>,
}

fn row(
    name: &'static str,
    who: Who,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: u16,
) -> Row {
    Row {
        name,
        who,
        method,
        path,
        body,
        status,
        checks: Vec::new(),
        after: Vec::new(),
    }
}

impl Row {
    fn check(mut self, pointer: &'static str, value: Value) -> Self {
        self.checks.push((pointer, value));
        self
    }

    fn after(mut self, after: After) -> Self {
        self.after.push(after);
        self
    }
}

/// The rows, in order (later rows see earlier changes).
#[allow(
    clippy::enum_glob_use,
    reason = "a table reads best with bare variant names"
)]
pub fn rows() -> Vec<Row> {
    use After::*;
    use Target::*;
    use Who::*;
    let admin = Caller(LiveAdmin);
    vec![
        // 1. Rotation escaped the privilege ceiling.
        row(
            "1: a manager key rotates the admin key",
            Manager,
            "POST",
            "/v1/api-keys/{LiveAdmin}/rotate",
            Some(r#"{"gracePeriod":"0s"}"#),
            403,
        )
        .check("/error/code", json!("forbidden"))
        .after(Verifies(admin, true))
        .after(Field(admin, "/replacedBy", Value::Null)),
        row(
            "1: a manager key rotates the administrator's personal key",
            Manager,
            "POST",
            "/v1/api-keys/{Ada}/rotate",
            None,
            403,
        )
        .after(Verifies(Caller(Ada), true)),
        row(
            "1: a manager key rotates a key it covers",
            Manager,
            "POST",
            "/v1/api-keys/{Plain}/rotate",
            Some(r#"{"gracePeriod":"1h"}"#),
            201,
        )
        .check("/scopes", json!(["read:items"])),
        // 3. The environment boundary.
        row(
            "3: a test admin mints a live admin",
            TestAdmin,
            "POST",
            "/v1/api-keys",
            Some(r#"{"name":"escalate","env":"live","scopes":["*"]}"#),
            403,
        )
        .after(KeyCount(10)),
        row(
            "3: a test admin's key without env is a test key",
            TestAdmin,
            "POST",
            "/v1/api-keys",
            Some(r#"{"name":"no env","scopes":["read:items"]}"#),
            201,
        )
        .check("/env", json!("test"))
        .after(KeyCount(11)),
        row(
            "3: a test admin rotates the live admin",
            TestAdmin,
            "POST",
            "/v1/api-keys/{LiveAdmin}/rotate",
            Some(r#"{"gracePeriod":"0s"}"#),
            404,
        )
        .after(Verifies(admin, true)),
        row(
            "3: a test admin reads a live key",
            TestAdmin,
            "GET",
            "/v1/api-keys/{Plain}",
            None,
            404,
        ),
        row(
            "3: a test admin revokes a live key",
            TestAdmin,
            "DELETE",
            "/v1/api-keys/{Plain}",
            None,
            404,
        )
        .after(Verifies(Plain, true)),
        row(
            "3: a test admin lists only test keys",
            TestAdmin,
            "GET",
            "/v1/api-keys?limit=100",
            None,
            200,
        )
        .check("/data/0/env", json!("test"))
        .check("/data/2/env", json!("test"))
        .check("/data/3", Value::Null),
        row(
            "3: a live admin mints a test key",
            LiveAdmin,
            "POST",
            "/v1/api-keys",
            Some(r#"{"name":"t","env":"test"}"#),
            403,
        ),
        row(
            "3: a test admin manages a test key",
            TestAdmin,
            "PATCH",
            "/v1/api-keys/{TestPlain}",
            Some(r#"{"name":"renamed in test"}"#),
            200,
        )
        .after(Field(TestPlain, "/name", json!("renamed in test"))),
        // 4. The ceiling covered scopes only.
        row(
            "4: a manager key demotes the admin",
            Manager,
            "PATCH",
            "/v1/api-keys/{LiveAdmin}",
            Some(r#"{"scopes":["read:items"]}"#),
            403,
        )
        .after(Field(admin, "/scopes", json!(["*"]))),
        row(
            "4: a manager key locks the admin to another IP",
            Manager,
            "PATCH",
            "/v1/api-keys/{LiveAdmin}",
            Some(r#"{"allowedIps":["192.0.2.1"]}"#),
            403,
        )
        .after(Field(admin, "/allowedIps", json!([]))),
        row(
            "4: a manager key shortens the admin's expiry",
            Manager,
            "PATCH",
            "/v1/api-keys/{LiveAdmin}",
            Some(r#"{"expiresAt":"2099-01-01T00:00:00Z"}"#),
            403,
        )
        .after(Field(admin, "/expiresAt", Value::Null)),
        row(
            "4: a manager key revokes the admin",
            Manager,
            "DELETE",
            "/v1/api-keys/{LiveAdmin}",
            None,
            403,
        )
        .after(Verifies(admin, true)),
        row(
            "4: a key removes its own expiry",
            Restricted,
            "PATCH",
            "/v1/api-keys/{Restricted}",
            Some(r#"{"expiresAt":null}"#),
            403,
        )
        .after(Present(Caller(Restricted), "/expiresAt")),
        row(
            "4: a key removes its own rate limit",
            Restricted,
            "PATCH",
            "/v1/api-keys/{Restricted}",
            Some(r#"{"rateLimit":null}"#),
            403,
        )
        .after(Field(Caller(Restricted), "/rateLimit", json!(100))),
        row(
            "4: a key removes its own IP allow-list",
            Restricted,
            "PATCH",
            "/v1/api-keys/{Restricted}",
            Some(r#"{"allowedIps":[]}"#),
            403,
        )
        .after(Field(
            Caller(Restricted),
            "/allowedIps",
            json!(["127.0.0.0/8"]),
        )),
        row(
            "4: a key widens its own IP allow-list",
            Restricted,
            "PATCH",
            "/v1/api-keys/{Restricted}",
            Some(r#"{"allowedIps":["0.0.0.0/0"]}"#),
            403,
        ),
        row(
            "4: a key tightens its own rate limit",
            Restricted,
            "PATCH",
            "/v1/api-keys/{Restricted}",
            Some(r#"{"rateLimit":"10/h"}"#),
            200,
        )
        .after(Field(Caller(Restricted), "/rateLimit", json!(10))),
        // Lifetime: an expiring key cannot mint a key that outlives it.
        row(
            "4: an expiring key mints a key that never expires",
            Expiring,
            "POST",
            "/v1/api-keys",
            Some(r#"{"name":"forever","scopes":["read:items"]}"#),
            403,
        ),
        // 6. Low: personal keys for other owners.
        row(
            "6: a service key mints a personal key for another owner",
            Service,
            "POST",
            "/v1/api-keys",
            Some(r#"{"name":"for ada","kind":"personal","owner":"ada","scopes":["read:items"]}"#),
            403,
        ),
        // 2. A key revoked stays revoked: revoke, then the thief's PATCH loses.
        row(
            "2: the admin revokes a stolen manager key",
            LiveAdmin,
            "DELETE",
            "/v1/api-keys/{Manager}",
            None,
            200,
        )
        .after(Verifies(Caller(Manager), false)),
        row(
            "2: the revoked key patches itself",
            Manager,
            "PATCH",
            "/v1/api-keys/{Manager}",
            Some(r#"{"name":"alive"}"#),
            401,
        )
        .after(Verifies(Caller(Manager), false))
        .after(Field(Caller(Manager), "/status", json!("revoked"))),
        row(
            "2: an admin's PATCH of the revoked key cannot revive it (it is gone: 404)",
            LiveAdmin,
            "PATCH",
            "/v1/api-keys/{Manager}",
            Some(r#"{"name":"revived"}"#),
            404,
        )
        .after(Field(Caller(Manager), "/status", json!("revoked"))),
    ]
}

/// The store, gate, admin API and keys the rows use.
#[derive(Debug, Clone)]
pub struct AdversarialFixture {
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The gate to put in front of the admin routes.
    pub gate: KeyGate,
    /// The admin API.
    pub admin: Admin,
    /// The manager (for state checks, as the system).
    pub manager: KeyManager,
    keys: Vec<(Target, String, KeyId)>,
}

impl AdversarialFixture {
    /// Builds the store and keys.
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let manager = KeyManager::builder(store.clone()).build();
        let sys = Actor::system();
        let scopes = |s: &[&str]| ScopeSet::parse(s).expect("valid scopes");
        for (name, list) in [
            ("administrator", &["*"][..]),
            (
                "api_manager",
                &[
                    "read:api-keys",
                    "write:api-keys",
                    "delete:api-keys",
                    "read:audit-logs",
                    "read:items",
                ][..],
            ),
        ] {
            let role = Role::new(name, scopes(list)).unwrap_or_else(|e| panic!("{e}"));
            manager
                .put_role(&sys, role)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let now = chrono::Utc::now();
        let base = |name: &str, env: &str| NewKey::named(name).tenant("acme").env(env);
        let mut restricted = base("restricted", "live")
            .scopes(scopes(&["read:api-keys", "write:api-keys"]))
            .expires_at(now + chrono::Duration::days(30));
        restricted.allowed_ips = vec!["127.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        restricted.rate_limit = Some(RateLimitSpec::per_hour(100));
        let made: Vec<(Target, NewKey)> = vec![
            (
                Target::Caller(Who::LiveAdmin),
                base("live admin", "live").scopes(scopes(&["*"])),
            ),
            (
                Target::Caller(Who::TestAdmin),
                base("test admin", "test").scopes(scopes(&["*"])),
            ),
            (
                Target::Caller(Who::Manager),
                base("manager", "live").role("api_manager"),
            ),
            (
                Target::Caller(Who::Service),
                base("service", "live")
                    .kind(KeyKind::Service)
                    .scopes(scopes(&["write:api-keys", "read:items"])),
            ),
            (
                Target::Caller(Who::Expiring),
                base("expiring", "live")
                    .scopes(scopes(&["read:api-keys", "write:api-keys", "read:items"]))
                    .expires_at(now + chrono::Duration::days(1)),
            ),
            (Target::Caller(Who::Restricted), restricted),
            (
                Target::Caller(Who::Ada),
                base("ada", "live")
                    .kind(KeyKind::Personal)
                    .owner("ada")
                    .role("administrator"),
            ),
            (
                Target::Plain,
                base("plain", "live").scopes(scopes(&["read:items"])),
            ),
            (
                Target::TestPlain,
                base("test plain", "test").scopes(scopes(&["read:items"])),
            ),
        ];
        let mut keys = Vec::new();
        for (target, new) in made {
            let created = manager
                .create(&sys, new)
                .await
                .unwrap_or_else(|e| panic!("adversarial fixture: {e}"));
            keys.push((target, created.key.expose().to_owned(), created.record.id));
        }
        Self {
            gate: KeyGate::builder(store.clone()).build(),
            admin: Admin::new(manager.clone()),
            manager,
            store,
            keys,
        }
    }

    fn key_of(&self, target: Target) -> (&str, &KeyId) {
        self.keys
            .iter()
            .find(|(t, _, _)| *t == target)
            .map(|(_, k, id)| (k.as_str(), id))
            .unwrap_or_else(|| panic!("no key for {target:?}"))
    }

    fn path(&self, path: &str) -> String {
        let mut out = path.to_owned();
        for (target, _, id) in &self.keys {
            let name = match target {
                Target::Caller(who) => format!("{{{who:?}}}"),
                other => format!("{{{other:?}}}"),
            };
            out = out.replace(&name, id.as_str());
        }
        out
    }

    async fn record(&self, target: Target) -> KeyRecord {
        let (_, id) = self.key_of(target);
        self.store
            .get(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{target:?} is gone"))
    }
}

/// Runs every row against `base_url`; panics listing every failure.
pub async fn run_adversarial_table(framework: &str, base_url: &str, fixture: &AdversarialFixture) {
    let client = reqwest::Client::new();
    let mut failures = String::new();
    for row in rows() {
        if let Err(why) = run_row(&client, base_url, fixture, &row).await {
            let _ = writeln!(failures, "  [{framework}] {}: {why}", row.name);
        }
    }
    assert!(
        failures.is_empty(),
        "adversarial table failures:\n{failures}"
    );
}

async fn run_row(
    client: &reqwest::Client,
    base_url: &str,
    fixture: &AdversarialFixture,
    row: &Row,
) -> Result<(), String> {
    let (key, _) = fixture.key_of(Target::Caller(row.who));
    let url = format!("{base_url}{}", fixture.path(row.path));
    let method = reqwest::Method::from_bytes(row.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, &url).bearer_auth(key);
    if let Some(body) = row.body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let text = res.text().await.expect("a text body");
    if status != row.status {
        return Err(format!("status {status}, want {}: {text}", row.status));
    }
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    for (pointer, want) in &row.checks {
        let got = body.pointer(pointer).cloned().unwrap_or(Value::Null);
        if &got != want {
            return Err(format!("{pointer} = {got}, want {want}"));
        }
    }
    for after in &row.after {
        check_after(client, base_url, fixture, after).await?;
    }
    Ok(())
}

async fn check_after(
    client: &reqwest::Client,
    base_url: &str,
    fixture: &AdversarialFixture,
    after: &After,
) -> Result<(), String> {
    match after {
        After::Verifies(target, want) => {
            let (key, _) = fixture.key_of(*target);
            let status = client
                .get(format!("{base_url}/v1/auth/verify"))
                .bearer_auth(key)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())?;
            if (status == 200) != *want {
                return Err(format!("afterwards {target:?} verifies: {status}"));
            }
        }
        After::Field(target, pointer, want) => {
            let record = fixture.record(*target).await;
            let view = serde_json::to_value(keygate_admin::dto::KeyView::new(
                &record,
                chrono::Utc::now(),
            ))
            .unwrap_or(Value::Null);
            let got = view.pointer(pointer).cloned().unwrap_or(Value::Null);
            if &got != want {
                return Err(format!(
                    "afterwards {target:?}{pointer} = {got}, want {want}"
                ));
            }
        }
        After::Present(target, pointer) => {
            let record = fixture.record(*target).await;
            let view = serde_json::to_value(keygate_admin::dto::KeyView::new(
                &record,
                chrono::Utc::now(),
            ))
            .unwrap_or(Value::Null);
            if view.pointer(pointer).is_none_or(Value::is_null) {
                return Err(format!("afterwards {target:?}{pointer} is not set"));
            }
        }
        After::KeyCount(want) => {
            let got = fixture
                .manager
                .list(
                    &Actor::system(),
                    Some("acme"),
                    None,
                    true,
                    &keygate::store::PageRequest::first(1000),
                )
                .await
                .map(|p| p.items.len())
                .map_err(|e| e.to_string())?;
            if got != *want {
                return Err(format!("afterwards {got} keys, want {want}"));
            }
        }
    }
    Ok(())
}

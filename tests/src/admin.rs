//! The admin API table: one list of requests (status + JSON checks) run against the
//! axum router and the actix configuration of `keygate-admin`.

use std::fmt::Write;
use std::sync::Arc;

use keygate::role::Role;
use keygate::{Actor, KeyGate, KeyManager, MemoryStore, NewKey, ScopeSet};
use keygate_admin::Admin;
use serde_json::{json, Value};

/// The store, the gate and admin API to serve, and the keys the table uses.
#[derive(Debug, Clone)]
pub struct AdminFixture {
    /// Shared store.
    pub store: Arc<MemoryStore>,
    /// Put this in front of the admin routes.
    pub gate: KeyGate,
    /// The admin API.
    pub admin: Admin,
    /// `*` in tenant `acme`, owner `usr_admin`, metadata email.
    pub admin_key: String,
    /// `read:api-keys` only.
    pub reader_key: String,
    /// `write:api-keys`, `read:items`.
    pub limited_key: String,
    /// Ids: a key to get/patch, one to rotate, one to revoke, one in another tenant.
    pub target: String,
    /// Rotated by the table.
    pub rotate_target: String,
    /// Its plaintext, to check it still works during the grace period.
    pub rotate_target_key: String,
    /// Revoked by the table.
    pub revoke_target: String,
    /// A key of tenant `globex`.
    pub foreign: String,
    /// `read:roles`, `write:roles`, `delete:roles`, `read:items` in `acme`.
    pub role_editor_key: String,
}

impl AdminFixture {
    /// Builds everything.
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let manager = KeyManager::builder(store.clone()).build();
        let sys = Actor::system();
        let make = |name: &str, tenant: &str, scopes: &[&str]| {
            NewKey::named(name)
                .tenant(tenant)
                .scopes(ScopeSet::parse(scopes).expect("valid scopes"))
        };
        let mut admin_new = make("admin", "acme", &["*"]).owner("usr_admin");
        admin_new
            .metadata
            .insert("email".into(), json!("admin@example.com"));
        let mut keys = Vec::new();
        for new in [
            admin_new,
            make("reader", "acme", &["read:api-keys"]),
            make("limited", "acme", &["write:api-keys", "read:items"]),
            make("target", "acme", &["read:items"]),
            make("rotate me", "acme", &["read:items"]),
            make("revoke me", "acme", &["read:items"]),
            make("foreign", "globex", &["read:items"]),
            make(
                "role editor",
                "acme",
                &["read:roles", "write:roles", "delete:roles", "read:items"],
            ),
        ] {
            keys.push(
                manager
                    .create(&sys, new)
                    .await
                    .unwrap_or_else(|e| panic!("admin fixture: {e}")),
            );
        }
        let key = |i: usize| keys[i].key.expose().to_owned();
        let id = |i: usize| keys[i].record.id.to_string();
        // A global role (the operator's), and one of another tenant, which acme's keys
        // must never see or change.
        let role = |name: &str, scopes: &[&str]| {
            Role::new(name, ScopeSet::parse(scopes).expect("scopes")).expect("role")
        };
        manager
            .put_role(&sys, role("viewer", &["read"]))
            .await
            .expect("global role");
        manager
            .put_role(
                &sys,
                role("auditor", &["read:items"])
                    .in_namespace("globex", "live")
                    .expect("namespace"),
            )
            .await
            .expect("globex role");
        // Verification counts of acme's target key and of globex's key (analytics).
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:15:00Z")
            .expect("a time")
            .with_timezone(&chrono::Utc);
        let counted = |i: usize, outcome, count| keygate::analytics::VerificationCount {
            key_id: Some(keys[i].record.id.clone()),
            tenant: Some(keys[i].record.tenant.clone()),
            env: Some(keys[i].record.env.clone()),
            at,
            outcome,
            count,
        };
        keygate::KeyStore::record_verifications(
            &store,
            &[
                counted(3, keygate::analytics::VerificationOutcome::Valid, 5),
                counted(6, keygate::analytics::VerificationOutcome::Valid, 7),
            ],
        )
        .await
        .expect("seed counts");
        // One configuration for both: the gate's nested renderer answers the admin
        // API's 401/403 too, so the table reads one error shape.
        let gate = KeyGate::builder(store.clone())
            .renderer(keygate::render::NestedRenderer::new())
            .build();
        Self {
            admin: Admin::for_gate(&gate),
            gate,
            store,
            admin_key: key(0),
            reader_key: key(1),
            limited_key: key(2),
            target: id(3),
            rotate_target: id(4),
            rotate_target_key: key(4),
            revoke_target: id(5),
            foreign: id(6),
            role_editor_key: key(7),
        }
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    /// No key.
    Nobody,
    /// `*`.
    Admin,
    /// `read:api-keys`.
    Reader,
    /// `write:api-keys`, `read:items`.
    Limited,
    /// `read:roles`, `write:roles`, `delete:roles`, `read:items`.
    RoleEditor,
}

/// A body to send.
#[derive(Debug, Clone)]
pub enum Send {
    /// No body.
    Empty,
    /// JSON text with `Content-Type: application/json`.
    Json(&'static str),
    /// Bytes with a given content type (`None`: no header).
    Raw(Option<&'static str>, Vec<u8>),
}

/// One row.
#[derive(Debug, Clone)]
pub struct AdminCase {
    /// Name for reports.
    pub name: &'static str,
    /// Method.
    pub method: &'static str,
    /// Path; `{target}`, `{rotate}`, `{revoke}`, `{foreign}` are replaced by ids.
    pub path: &'static str,
    /// Caller.
    pub caller: Caller,
    /// Body.
    pub body: Send,
    /// Expected status.
    pub status: u16,
    /// JSON pointer -> expected value.
    pub checks: Vec<(&'static str, Value)>,
    /// Strings the body must not contain (e.g. `hash`).
    pub absent: Vec<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    caller: Caller,
    body: Send,
    status: u16,
) -> AdminCase {
    AdminCase {
        name,
        method,
        path,
        caller,
        body,
        status,
        checks: Vec::new(),
        absent: Vec::new(),
    }
}

impl AdminCase {
    fn check(mut self, pointer: &'static str, value: Value) -> Self {
        self.checks.push((pointer, value));
        self
    }

    fn code(self, code: &'static str) -> Self {
        self.check("/error/code", json!(code))
    }

    fn absent(mut self, text: &'static str) -> Self {
        self.absent.push(text);
        self
    }
}

/// Every admin case, in order (later cases see earlier changes).
#[allow(
    clippy::enum_glob_use,
    reason = "a table reads best with bare variant names"
)]
pub fn admin_cases() -> Vec<AdminCase> {
    use Caller::*;
    let big = format!(
        r#"{{"name":"big","description":"{}"}}"#,
        "x".repeat(70 * 1024)
    )
    .into_bytes();
    vec![
        case("create", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"ci","scopes":["read:items"],"description":"pipeline"}"#), 201)
            .check("/name", json!("ci"))
            .check("/scopes", json!(["read:items"]))
            .check("/tenant", json!("acme"))
            .check("/status", json!("active"))
            .absent("\"hash\""),
        case("create with per-resource scopes", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"crm","scopes":{"opportunities":["read","write"],"accounts":["read"]},"rateLimit":1000,"expiresAt":null}"#), 201)
            .check("/scopes", json!(["read:accounts", "read:opportunities", "write:opportunities"]))
            .check("/rateLimit", json!(1000))
            .check("/expiresAt", Value::Null),
        case("create with rate-limit spec", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"fast","rateLimit":"50/s,burst=100","allowedIps":["10.0.0.0/8","203.0.113.7"],"kind":"team"}"#), 201)
            .check("/rateLimit", json!("50/s,burst=100"))
            .check("/allowedIps", json!(["10.0.0.0/8", "203.0.113.7/32"]))
            .check("/kind", json!("team")),
        case("create: unknown field", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","colour":"red"}"#), 422).code("invalid_request"),
        case("create: wrong type", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":5}"#), 422).code("invalid_request"),
        case("create: missing name", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"scopes":["read"]}"#), 422).code("invalid_request"),
        case("create: invalid JSON", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x""#), 400).code("bad_request"),
        case("create: bad scope syntax", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","scopes":["read scans"]}"#), 422).code("invalid_request"),
        case("create: past expiry", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","expiresAt":"2001-01-01T00:00:00Z"}"#), 422).code("invalid_request"),
        case("create: bad IP", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","allowedIps":["10.0.0.0/33"]}"#), 422).code("invalid_request"),
        case("create: bad kind", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","kind":"robot"}"#), 422).code("invalid_request"),
        case("create: unknown role", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"x","role":"ghost"}"#), 422).code("invalid_request"),
        case("create: body over 64 KB", "POST", "/v1/api-keys", Admin, Send::Raw(Some("application/json"), big), 413).code("payload_too_large"),
        case("create: not JSON content type", "POST", "/v1/api-keys", Admin, Send::Raw(Some("text/plain"), br#"{"name":"x"}"#.to_vec()), 415).code("unsupported_media_type"),
        case("create: empty body", "POST", "/v1/api-keys", Admin, Send::Empty, 400).code("bad_request"),
        case("create: scopes beyond the caller", "POST", "/v1/api-keys", Limited, Send::Json(r#"{"name":"x","scopes":["write:scans"]}"#), 403).code("forbidden"),
        case("create: within the caller's scopes", "POST", "/v1/api-keys", Limited, Send::Json(r#"{"name":"ok","scopes":["read:items"]}"#), 201),
        case("create: caller lacks write:api-keys", "POST", "/v1/api-keys", Reader, Send::Json(r#"{"name":"x"}"#), 403).code("forbidden"),
        case("create: no key", "POST", "/v1/api-keys", Nobody, Send::Json(r#"{"name":"x"}"#), 401),
        case("list", "GET", "/v1/api-keys?limit=2", Reader, Send::Empty, 200)
            .check("/data/0/tenant", json!("acme"))
            .absent("\"hash\"")
            .absent("\"key\""),
        case("list: limit out of range", "GET", "/v1/api-keys?limit=0", Reader, Send::Empty, 400).code("bad_request"),
        case("list: unknown parameter", "GET", "/v1/api-keys?limt=5", Reader, Send::Empty, 400).code("bad_request"),
        case("list: bad cursor", "GET", "/v1/api-keys?cursor=garbage", Reader, Send::Empty, 400).code("bad_request"),
        case("get", "GET", "/v1/api-keys/{target}", Reader, Send::Empty, 200).check("/name", json!("target")).absent("\"hash\""),
        case("get: unknown id", "GET", "/v1/api-keys/key_doesnotexist", Reader, Send::Empty, 404).code("not_found"),
        case("get: not an id", "GET", "/v1/api-keys/notanid", Reader, Send::Empty, 404).code("not_found"),
        case("get: another tenant's key", "GET", "/v1/api-keys/{foreign}", Admin, Send::Empty, 404).code("not_found"),
        case("update", "PATCH", "/v1/api-keys/{target}", Admin, Send::Json(r#"{"name":"renamed","description":null,"rateLimit":"100/m"}"#), 200)
            .check("/name", json!("renamed"))
            .check("/description", Value::Null)
            .check("/rateLimit", json!("100/m")),
        case("update: nothing to change", "PATCH", "/v1/api-keys/{target}", Admin, Send::Json("{}"), 200).check("/status", json!("active")),
        case("update: a JSON array is not a body", "PATCH", "/v1/api-keys/{target}", Admin, Send::Json("[null, null]"), 422).code("invalid_request"),
        case("update: unknown field", "PATCH", "/v1/api-keys/{target}", Admin, Send::Json(r#"{"nmae":"x"}"#), 422).code("invalid_request"),
        case("update: escalation refused", "PATCH", "/v1/api-keys/{target}", Limited, Send::Json(r#"{"scopes":["*"]}"#), 403).code("forbidden"),
        case("update: another tenant's key", "PATCH", "/v1/api-keys/{foreign}", Admin, Send::Json(r#"{"name":"mine"}"#), 404).code("not_found"),
        case("rotate: bad grace", "POST", "/v1/api-keys/{rotate}/rotate", Admin, Send::Json(r#"{"gracePeriod":"forever"}"#), 422).code("invalid_request"),
        case("rotate", "POST", "/v1/api-keys/{rotate}/rotate", Admin, Send::Json(r#"{"gracePeriod":"1h"}"#), 201).check("/name", json!("rotate me")),
        case("rotate: twice", "POST", "/v1/api-keys/{rotate}/rotate", Admin, Send::Empty, 409).code("conflict"),
        case("rotated key shows its grace", "GET", "/v1/api-keys/{rotate}", Admin, Send::Empty, 200).check("/status", json!("rotation_grace")),
        case("disable: reader lacks write:api-keys", "POST", "/v1/api-keys/{target}/disable", Reader, Send::Empty, 403).code("forbidden"),
        case("disable: another tenant's key", "POST", "/v1/api-keys/{foreign}/disable", Admin, Send::Empty, 404).code("not_found"),
        case("disable: unknown id", "POST", "/v1/api-keys/key_doesnotexist/disable", Admin, Send::Empty, 404).code("not_found"),
        case("disable", "POST", "/v1/api-keys/{target}/disable", Limited, Send::Empty, 200)
            .check("/status", json!("disabled"))
            .check("/name", json!("renamed")),
        case("disable: twice changes nothing", "POST", "/v1/api-keys/{target}/disable", Limited, Send::Empty, 200).check("/status", json!("disabled")),
        case("disabled key shows it", "GET", "/v1/api-keys/{target}", Reader, Send::Empty, 200).check("/status", json!("disabled")),
        case("enable", "POST", "/v1/api-keys/{target}/enable", Limited, Send::Empty, 200)
            .check("/status", json!("active"))
            .check("/disabledAt", Value::Null),
        case("audit log: disable and enable recorded", "GET", "/v1/audit-logs?action=key.enable", Admin, Send::Empty, 200)
            .check("/data/0/action", json!("key.enable"))
            .check("/data/0/outcome", json!("success")),
        case("revoke: reader lacks delete:api-keys", "DELETE", "/v1/api-keys/{revoke}", Reader, Send::Empty, 403).code("forbidden"),
        case("revoke", "DELETE", "/v1/api-keys/{revoke}", Admin, Send::Empty, 200).check("/status", json!("revoked")),
        case("revoke: another tenant's key", "DELETE", "/v1/api-keys/{foreign}", Admin, Send::Empty, 404).code("not_found"),
        case("me", "GET", "/v1/auth/me", Admin, Send::Empty, 200)
            .check("/user/id", json!("usr_admin"))
            .check("/user/email", json!("admin@example.com"))
            .check("/user/scopes", json!(["*"]))
            .check("/key/name", json!("admin")),
        case("verify", "GET", "/v1/auth/verify", Reader, Send::Empty, 200)
            .check("/valid", json!(true))
            .check("/scopes", json!(["read:api-keys"]))
            .check("/tenant", json!("acme")),
        case("verify: no key", "GET", "/v1/auth/verify", Nobody, Send::Empty, 401),
        case("audit log", "GET", "/v1/audit-logs?action=key.revoke", Admin, Send::Empty, 200)
            .check("/data/0/action", json!("key.revoke"))
            .check("/data/0/outcome", json!("success")),
        case("audit log: successes only", "GET", "/v1/audit-logs?action=key.revoke&outcome=success", Admin, Send::Empty, 200)
            .check("/data/0/outcome", json!("success")),
        case("audit log: refusals only, of an action that had none", "GET", "/v1/audit-logs?action=key.revoke&outcome=failure", Admin, Send::Empty, 200)
            .check("/data", json!([])),
        case("audit log: bad outcome", "GET", "/v1/audit-logs?outcome=maybe", Admin, Send::Empty, 400).code("bad_request"),
        case("audit log: bad time", "GET", "/v1/audit-logs?since=yesterday", Admin, Send::Empty, 400).code("bad_request"),
        case("audit log: reader lacks read:audit-logs", "GET", "/v1/audit-logs", Reader, Send::Empty, 403).code("forbidden"),
        case("analytics: reader lacks read:analytics", "GET", "/v1/analytics/verifications", Reader, Send::Empty, 403).code("forbidden"),
        case("analytics: its tenant's keys by hour", "GET", "/v1/analytics/verifications?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z", Admin, Send::Empty, 200)
            .check("/granularity", json!("hour"))
            .check("/data/0/at", json!("2026-11-30T10:00:00Z"))
            .check("/data/0/outcome", json!("valid"))
            .check("/data/0/count", json!(5))
            .check("/data/0/tenant", json!("acme"))
            .absent("globex"),
        case("analytics: one key by day", "GET", "/v1/analytics/verifications?keyId={target}&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&granularity=day", Admin, Send::Empty, 200)
            .check("/data/0/at", json!("2026-11-30T00:00:00Z"))
            .check("/data/0/count", json!(5)),
        case("analytics: naming another tenant reads one's own", "GET", "/v1/analytics/verifications?tenant=globex&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z", Admin, Send::Empty, 200)
            .check("/data/0/tenant", json!("acme"))
            .absent("globex"),
        case("analytics: another tenant's key", "GET", "/v1/analytics/verifications?keyId={foreign}", Admin, Send::Empty, 404).code("not_found"),
        case("analytics: bad granularity", "GET", "/v1/analytics/verifications?granularity=week", Admin, Send::Empty, 400).code("bad_request"),
        case("analytics: bad time", "GET", "/v1/analytics/verifications?from=yesterday", Admin, Send::Empty, 400).code("bad_request"),
        case("analytics: a month of minutes is cut to its last day", "GET", "/v1/analytics/verifications?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&granularity=minute", Admin, Send::Empty, 200)
            .check("/from", json!("2026-11-30T00:00:00Z"))
            .check("/data/0/at", json!("2026-11-30T10:15:00Z")),
        case("analytics: an empty range", "GET", "/v1/analytics/verifications?from=2026-11-30T00:00:00Z&to=2026-11-30T00:00:00Z", Admin, Send::Empty, 200)
            .check("/data", json!([])),
        case("openapi document is public", "GET", "/v1/openapi.json", Nobody, Send::Empty, 200).check("/info/title", json!("keygate admin API")),
        case("revoked key is gone from the by-id routes", "GET", "/v1/api-keys/{revoke}", Admin, Send::Empty, 404).code("not_found"),
        // Roles: a key defines roles of its own tenant and environment, within its scopes.
        case("roles: the global ones, not another tenant's", "GET", "/v1/roles", RoleEditor, Send::Empty, 200)
            .check("/data/0/name", json!("viewer"))
            .check("/data/0/tenant", json!(null))
            .absent("auditor"),
        case("roles: reader lacks read:roles", "GET", "/v1/roles", Reader, Send::Empty, 403).code("forbidden"),
        case("roles: create", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"support","scopes":["read:items"],"description":"Reads items"}"#), 201)
            .check("/name", json!("support"))
            .check("/tenant", json!("acme"))
            .check("/env", json!("live"))
            .check("/scopes", json!(["read:items"])),
        case("roles: create twice", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"support","scopes":["read:items"]}"#), 409).code("conflict"),
        case("roles: a scope the caller lacks", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"wide","scopes":["write:items"]}"#), 403).code("forbidden"),
        case("roles: shadowing a global role the caller does not cover", "PUT", "/v1/roles/viewer", RoleEditor, Send::Json(r#"{"scopes":["read:items"]}"#), 403).code("forbidden"),
        case("roles: bad name", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"Bad Name","scopes":[]}"#), 422).code("invalid_request"),
        case("roles: bad scope", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"odd","scopes":["read items"]}"#), 422).code("invalid_request"),
        case("roles: hidden characters in the description", "POST", "/v1/roles", RoleEditor, Send::Json(r#"{"name":"odd","scopes":[],"description":"a\u202Eb"}"#), 422).code("invalid_request"),
        case("roles: get", "GET", "/v1/roles/support", RoleEditor, Send::Empty, 200).check("/description", json!("Reads items")),
        case("roles: another tenant's is not found", "GET", "/v1/roles/auditor", Admin, Send::Empty, 404).code("not_found"),
        case("roles: a name that cannot exist", "GET", "/v1/roles/Bad%20Name", Admin, Send::Empty, 404).code("not_found"),
        case("roles: replace", "PUT", "/v1/roles/support", RoleEditor, Send::Json(r#"{"scopes":["read:items"],"description":"Support desk"}"#), 200)
            .check("/description", json!("Support desk")),
        case("roles: put creates", "PUT", "/v1/roles/fresh", RoleEditor, Send::Json(r#"{"scopes":[]}"#), 201).check("/name", json!("fresh")),
        case("roles: a key holding the role", "POST", "/v1/api-keys", Admin, Send::Json(r#"{"name":"agent","role":"support"}"#), 201).check("/role", json!("support")),
        case("roles: delete while held", "DELETE", "/v1/roles/support", RoleEditor, Send::Empty, 409).code("conflict"),
        case("roles: delete with force", "DELETE", "/v1/roles/support?force=true", RoleEditor, Send::Empty, 200).check("/name", json!("support")),
        case("roles: gone after delete", "GET", "/v1/roles/support", RoleEditor, Send::Empty, 404).code("not_found"),
        case("roles: the audit log names them", "GET", "/v1/audit-logs?action=role.delete", Admin, Send::Empty, 200)
            .check("/data/0/outcome", json!("failure"))
            .check("/data/0/role", json!("support"))
            .check("/data/1/outcome", json!("success"))
            .check("/data/1/role", json!("support")),
    ]
}

/// Runs the table against `base_url`, then checks the rotated key still works and the
/// revoked one does not. Panics with every failure.
pub async fn run_admin_table(framework: &str, base_url: &str, fixture: &AdminFixture) {
    let client = reqwest::Client::new();
    let mut failures = String::new();
    let cases = admin_cases();
    for case in &cases {
        if let Err(why) = run_case(&client, base_url, fixture, case).await {
            let _ = writeln!(failures, "  [{framework}] {}: {why}", case.name);
        }
    }
    // Side effects seen through the auth layer.
    let verify = |key: String| {
        let client = client.clone();
        let url = format!("{base_url}/v1/auth/verify");
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    if verify(fixture.rotate_target_key.clone()).await != 200 {
        let _ = writeln!(
            failures,
            "  [{framework}] the rotated key must keep working during its grace period"
        );
    }
    assert!(
        failures.is_empty(),
        "{framework}: admin API failures:\n{failures}"
    );
    println!("{framework}: {} admin cases passed", cases.len());
}

async fn run_case(
    client: &reqwest::Client,
    base: &str,
    f: &AdminFixture,
    case: &AdminCase,
) -> Result<(), String> {
    let path = case
        .path
        .replace("{target}", &f.target)
        .replace("{rotate}", &f.rotate_target)
        .replace("{revoke}", &f.revoke_target)
        .replace("{foreign}", &f.foreign);
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, format!("{base}{path}"));
    let key = match case.caller {
        Caller::Nobody => None,
        Caller::Admin => Some(&f.admin_key),
        Caller::Reader => Some(&f.reader_key),
        Caller::Limited => Some(&f.limited_key),
        Caller::RoleEditor => Some(&f.role_editor_key),
    };
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req = match &case.body {
        Send::Empty => req,
        Send::Json(text) => req.header("content-type", "application/json").body(*text),
        Send::Raw(content_type, bytes) => {
            let req = match content_type {
                Some(ct) => req.header("content-type", *ct),
                None => req,
            };
            req.body(bytes.clone())
        }
    };
    let res = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    if status != case.status {
        problems.push(format!("status {status}, expected {}", case.status));
    }
    if !case.checks.is_empty() {
        match serde_json::from_str::<Value>(&text) {
            Ok(json) => {
                for (pointer, expected) in &case.checks {
                    let actual = json.pointer(pointer);
                    if actual != Some(expected) {
                        problems.push(format!("{pointer} = {actual:?}, expected {expected}"));
                    }
                }
            }
            Err(_) => problems.push("body is not JSON".into()),
        }
    }
    for needle in &case.absent {
        if text.contains(needle) {
            problems.push(format!("body contains {needle}"));
        }
    }
    if case.status == 201 && case.method == "POST" && path.starts_with("/v1/api-keys") {
        let key = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["key"].as_str().map(str::to_owned));
        if !key.is_some_and(|k| k.starts_with("sk_live_")) {
            problems.push("a created key must come back once, as `key`".into());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; body: {}",
            problems.join("; "),
            text.chars().take(300).collect::<String>()
        ))
    }
}

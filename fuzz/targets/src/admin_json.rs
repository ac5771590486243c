//! Target `admin_json`: the admin API's JSON request bodies
//! ([`keygate_admin::Admin::handle`] for `POST /v1/api-keys`,
//! `PATCH /v1/api-keys/{id}` and `POST /v1/api-keys/{id}/rotate`) over a healthy
//! [`keygate::MemoryStore`], as an admin key holding `*`.
//!
//! Input: one byte choosing the operation (its two low bits: 1 update, 2 rotate, else
//! create) and, for update and rotate, the key acted on (bit 2: the caller's own key,
//! else another key of its tenant); the rest is the body.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keygate::clock::ManualClock;
use keygate::key_format::ParsedKey;
use keygate::manager::parse_ip_rule;
use keygate::role::Role;
use keygate::{
    Actor, Authenticated, KeyManager, MemoryStore, NewKey, Principal, RateLimitSpec, Scope,
    ScopeSet,
};
use keygate_admin::{Admin, AdminRequest, AdminResponse, Operation};
use serde_json::Value;

/// The admin API over a fresh store, with the caller and one other key.
struct World {
    admin: Admin,
    caller: Authenticated,
    own_id: String,
    other_id: String,
    secrets: Vec<String>,
}

/// The fixed time of every run (expiry checks compare with it).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a valid timestamp")
}

fn scopes(list: &[&str]) -> ScopeSet {
    ScopeSet::parse(list).expect("valid scopes")
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let manager = KeyManager::builder(store)
        .clock(ManualClock::new(now()))
        .build();
    let system = Actor::system();
    let role = Role::new("reader", scopes(&["read"])).unwrap_or_else(|e| panic!("{e}"));
    manager
        .put_role(&system, role)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let own = manager
        .create(
            &system,
            NewKey::named("ops").tenant("acme").scopes(scopes(&["*"])),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut other = NewKey::named("scanner")
        .tenant("acme")
        .scopes(scopes(&["read:scans", "write:scans"]))
        .role("reader");
    other.rate_limit = Some(RateLimitSpec::per_minute(100).with_burst(10));
    other.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))];
    other.metadata.insert("team".into(), "blue".into());
    let other = manager
        .create(&system, other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let principal = Principal::from_record(&own.record, own.record.scopes.clone());
    World {
        admin: Admin::new(manager),
        caller: Authenticated::new(principal),
        own_id: own.record.id.to_string(),
        other_id: other.record.id.to_string(),
        secrets: vec![
            own.key.expose().to_owned(),
            other.key.expose().to_owned(),
            own.record.hash.to_string(),
            other.record.hash.to_string(),
        ],
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"));
}

/// Sends the body to the chosen operation on a fresh store and checks the answer:
/// never 5xx; always a JSON body; an error is `{"error": {"code", "message"}}`, leaves
/// the store as it was and quotes no key or hash; a 2xx body is the key as stored,
/// every field of which passes its own validation: sent back as a `PATCH` it is
/// accepted and changes nothing; a created key parses, matches its hint and appears
/// once.
pub fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    RUNTIME.with(|rt| rt.block_on(check(selector, body)));
}

async fn check(selector: u8, body: &[u8]) {
    let w = world().await;
    let (operation, id) = match selector & 3 {
        1 => (Operation::UpdateKey, Some(target(&w, selector))),
        2 => (Operation::RotateKey, Some(target(&w, selector))),
        _ => (Operation::CreateKey, None),
    };
    let response = send(&w, operation, id, body).await;
    let shown = String::from_utf8_lossy(&response.body).into_owned();
    let context = format!(
        "{operation:?} {:?} -> {} {shown}",
        String::from_utf8_lossy(body),
        response.status
    );
    assert!(response.status < 500, "{context}");
    let json: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {context}"));
    let known = &w.secrets;
    if !(200..300).contains(&response.status) {
        assert!(json["error"]["code"].is_string(), "{context}");
        assert!(json["error"]["message"].is_string(), "{context}");
        for secret in known {
            assert!(!shown.contains(secret.as_str()), "a secret in {context}");
        }
        assert_eq!(key_count(&w).await, 2, "an error wrote: {context}");
        return;
    }
    let expected = if operation == Operation::UpdateKey {
        200
    } else {
        201
    };
    assert_eq!(response.status, expected, "{context}");
    if operation == Operation::UpdateKey {
        assert_eq!(json["id"], id.expect("an update has an id"), "{context}");
    } else {
        let key = json["key"].as_str().expect("a string field");
        let parsed = ParsedKey::parse(key).unwrap_or_else(|e| panic!("{e}: {context}"));
        assert_eq!(json["hint"], parsed.hint(), "{context}");
        assert_eq!(shown.matches(key).count(), 1, "{context}");
        assert_eq!(key_count(&w).await, 3, "{context}");
    }
    for secret in known {
        assert!(!shown.contains(secret.as_str()), "a secret in {context}");
    }
    check_fields(&json, &context);
    check_patch_back(&w, &json, &context).await;
}

fn target(w: &World, selector: u8) -> &str {
    if selector & 4 != 0 {
        &w.own_id
    } else {
        &w.other_id
    }
}

async fn send(w: &World, operation: Operation, id: Option<&str>, body: &[u8]) -> AdminResponse {
    w.admin
        .handle(
            operation,
            AdminRequest {
                authenticated: Some(&w.caller),
                path_param: id,
                content_type: Some("application/json"),
                body,
                ..AdminRequest::default()
            },
        )
        .await
}

async fn key_count(w: &World) -> usize {
    let listed = w
        .admin
        .handle(
            Operation::ListKeys,
            AdminRequest {
                authenticated: Some(&w.caller),
                query: Some("includeRevoked=true&limit=100"),
                ..AdminRequest::default()
            },
        )
        .await;
    assert_eq!(
        listed.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&listed.body)
    );
    let json: Value = serde_json::from_slice(&listed.body).expect("a JSON body");
    json["data"].as_array().map_or(0, Vec::len)
}

/// Every field of a key as shown passes the parser it came through.
fn check_fields(view: &Value, context: &str) {
    let strings = |field: &str| -> Vec<String> {
        view[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} is not a list: {context}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_else(|| panic!("{context}")).to_owned())
            .collect()
    };
    let listed = strings("scopes");
    let set = ScopeSet::parse(&listed).unwrap_or_else(|e| panic!("{e}: {context}"));
    assert_eq!(set.len(), listed.len(), "duplicate scopes: {context}");
    for scope in &listed {
        assert_eq!(
            Scope::parse(scope).map(|s| s.to_string()).as_deref(),
            Ok(scope.as_str())
        );
    }
    for ip in strings("allowedIps") {
        let net = parse_ip_rule(&ip).unwrap_or_else(|e| panic!("{e}: {context}"));
        assert_eq!(net.to_string(), ip, "{context}");
    }
    strings("allowedReferrers");
    match &view["rateLimit"] {
        Value::Null => {}
        Value::Number(n) => {
            let per_hour = n.as_u64().and_then(|n| u32::try_from(n).ok());
            let spec = RateLimitSpec::per_hour(per_hour.unwrap_or(0));
            assert!(spec.validate().is_ok(), "{context}");
        }
        Value::String(s) => {
            let spec: Result<RateLimitSpec, _> = s.parse();
            assert!(spec.is_ok_and(|spec| spec.to_string() == *s), "{context}");
        }
        other => panic!("rateLimit {other}: {context}"),
    }
    if let Some(expires) = view["expiresAt"].as_str() {
        let at: DateTime<Utc> = expires.parse().unwrap_or_else(|e| panic!("{e}: {context}"));
        assert!(at > now(), "{context}");
    }
    assert!(view["metadata"].is_object(), "{context}");
    assert!(view["name"].is_string(), "{context}");
    assert_eq!(view["status"], "active", "{context}");
}

/// The view's own fields sent back as a `PATCH` of the same key: accepted, and the key
/// is shown as before.
async fn check_patch_back(w: &World, view: &Value, context: &str) {
    let fields = [
        "name",
        "description",
        "role",
        "scopes",
        "rateLimit",
        "expiresAt",
        "allowedIps",
        "allowedReferrers",
        "metadata",
    ];
    let patch: serde_json::Map<String, Value> = fields
        .iter()
        .map(|&f| (f.to_owned(), view[f].clone()))
        .collect();
    let body = serde_json::to_vec(&patch).expect("serialises");
    let id = view["id"].as_str().expect("a string field");
    let response = send(w, Operation::UpdateKey, Some(id), &body).await;
    let shown = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 200, "sent back: {shown}; first: {context}");
    let again: Value = serde_json::from_slice(&response.body).expect("a JSON body");
    let mut before = view.clone();
    if let Some(object) = before.as_object_mut() {
        object.remove("key");
    }
    assert_eq!(again, before, "sent back: {shown}; first: {context}");
}

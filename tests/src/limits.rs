//! Named and shared limits end to end, the same for both frameworks: keys made over the
//! admin API with named limits, a limit shared by an owner's keys, the IETF
//! `RateLimit-Policy` / `RateLimit` fields (parsed as Structured Fields) beside
//! `X-RateLimit-*`, problem+json 429s naming the violated policies, and shadow mode
//! for a limit and for a scope requirement ([`BETA_SCOPE`] on `GET /beta`).

use std::sync::Arc;

use keygate::rate_limit::RateLimitHeaders;
use keygate::render::ProblemRenderer;
use keygate::{Actor, KeyGate, MemoryStore, NewKey, RateLimitSpec, RateLimits, ScopeSet};
use keygate_admin::Admin;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// What `GET /beta` requires, in shadow mode (each framework's test serves it).
pub const BETA_SCOPE: &str = "write:beta";

/// A gate with the IETF fields and `X-RateLimit-*` both, problem+json errors, a
/// fallback limit and a limit shared by each owner's keys; its admin API and an admin
/// key.
#[derive(Debug, Clone)]
pub struct LimitsFixture {
    /// The gate.
    pub gate: KeyGate,
    /// The admin API over it.
    pub admin: Admin,
    /// `*` in acme (no owner: the owner limit does not apply to it).
    pub admin_key: String,
}

impl LimitsFixture {
    /// Builds everything.
    pub async fn new() -> Self {
        let gate = KeyGate::builder(Arc::new(MemoryStore::new()))
            .flush_interval(None)
            .renderer(ProblemRenderer::new())
            .rate_limit_headers(RateLimitHeaders::Both)
            .rate_limits(
                RateLimits::in_memory()
                    .fallback(RateLimitSpec::per_hour(1000))
                    .per_owner("user".parse().expect("a name"), RateLimitSpec::per_hour(3)),
            )
            .build();
        let admin = gate
            .manager()
            .create(
                &Actor::system(),
                NewKey::named("admin")
                    .tenant("acme")
                    .scopes(ScopeSet::parse(["*"]).expect("scopes")),
            )
            .await
            .expect("a key");
        Self {
            admin: Admin::for_gate(&gate),
            gate,
            admin_key: admin.key.expose().to_owned(),
        }
    }
}

/// A Structured Field list: each member's string and integer parameters, or a panic
/// naming the field that does not parse.
fn sf_list(headers: &HeaderMap, name: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let text = headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} field"))
        .as_bytes();
    let list: sfv::List = sfv::Parser::new(text)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {:?}: {e}", String::from_utf8_lossy(text)));
    list.into_iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(item) => (
                item.bare_item
                    .as_string()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| panic!("{name}: a member is no string")),
                item.params
                    .iter()
                    .map(|(k, v)| {
                        let n = v.as_integer().unwrap_or_else(|| panic!("{name}: {k:?}"));
                        (k.as_str().to_owned(), i64::from(n))
                    })
                    .collect(),
            ),
            sfv::ListEntry::InnerList(_) => panic!("{name}: an inner list"),
        })
        .collect()
}

/// The value of parameter `param` of member `member`.
fn param(list: &[(String, Vec<(String, i64)>)], member: &str, param: &str) -> Option<i64> {
    list.iter()
        .find(|(m, _)| m == member)
        .and_then(|(_, params)| params.iter().find(|(p, _)| p == param))
        .map(|(_, v)| *v)
}

/// Runs the scenario against `base` (the admin API and `GET /v1/auth/verify` behind
/// the gate).
///
/// # Panics
/// On any difference, naming the framework.
pub async fn run_limits(framework: &str, base: &str, f: &LimitsFixture) {
    let http = reqwest::Client::new();
    // One admin call: method, path and JSON body in; status and JSON body out.
    let admin = |method: reqwest::Method, path: String, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        let admin = f.admin_key.clone();
        async move {
            let res = http
                .request(method, url)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .expect("a response");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("a JSON body"))
        }
    };
    let create = |body: Value| admin(reqwest::Method::POST, "/v1/api-keys".to_owned(), body);

    // Bad input is refused, naming what is wrong; nothing is made.
    for (limits, needle) in [
        (json!({"Bad Name": "1/s"}), "Bad Name"),
        (json!({"default": "1/s"}), "default"),
        (json!({"burst": "0/s"}), "limit burst"),
        (json!({"burst": "ten per second"}), "limit burst"),
        (
            Value::Object((0..17).map(|i| (format!("l{i}"), json!("1/s"))).collect()),
            "at most 16",
        ),
    ] {
        let (status, body) = create(json!({"name": "bad", "limits": limits})).await;
        assert_eq!(status, 422, "{framework}: {limits} -> {body}");
        assert!(body.to_string().contains(needle), "{framework}: {body}");
    }

    // A key with its own limit and a named one, made over HTTP.
    let (status, made) = create(json!({
        "name": "metered",
        "scopes": ["read:items"],
        "rateLimit": "100/h",
        "limits": {"tiny": "2/h"},
    }))
    .await;
    assert_eq!(status, 201, "{framework}: {made}");
    assert_eq!(
        made["limits"],
        json!({"tiny": "2/h"}),
        "{framework}: {made}"
    );
    let key = made["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    let id = made["id"].as_str().expect("an id").to_owned();

    let call = |key: String| {
        let http = http.clone();
        let url = format!("{base}/v1/auth/verify");
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("a response")
        }
    };
    let first = call(key.clone()).await;
    assert_eq!(first.status().as_u16(), 200, "{framework}");
    let headers = first.headers().clone();
    let policy = sf_list(&headers, "ratelimit-policy");
    let names: Vec<&str> = policy.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["default", "tiny"], "{framework}: {policy:?}");
    assert_eq!(param(&policy, "default", "q"), Some(100), "{framework}");
    assert_eq!(param(&policy, "default", "w"), Some(3600), "{framework}");
    assert_eq!(param(&policy, "tiny", "q"), Some(2), "{framework}");
    let state = sf_list(&headers, "ratelimit");
    assert_eq!(param(&state, "default", "r"), Some(99), "{framework}");
    assert_eq!(param(&state, "tiny", "r"), Some(1), "{framework}");
    assert!(
        param(&state, "tiny", "t").is_some_and(|t| t > 0),
        "{framework}"
    );
    // X-RateLimit-* name the tightest limit.
    let x = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(x("x-ratelimit-limit").as_deref(), Some("2"), "{framework}");
    assert_eq!(
        x("x-ratelimit-remaining").as_deref(),
        Some("1"),
        "{framework}"
    );

    assert_eq!(
        call(key.clone()).await.status().as_u16(),
        200,
        "{framework}"
    );
    for _ in 0..3 {
        let refused = call(key.clone()).await;
        assert_eq!(refused.status().as_u16(), 429, "{framework}");
        let headers = refused.headers().clone();
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..]),
            "{framework}"
        );
        assert!(headers.get("retry-after").is_some(), "{framework}");
        let state = sf_list(&headers, "ratelimit");
        assert_eq!(param(&state, "tiny", "r"), Some(0), "{framework}");
        assert_eq!(
            param(&state, "default", "r"),
            Some(98),
            "{framework}: a refusal spends nothing of the other limits"
        );
        let body: Value = refused.json().await.expect("a problem body");
        assert_eq!(
            body["type"], "https://iana.org/assignments/http-problem-types#quota-exceeded",
            "{framework}: {body}"
        );
        assert_eq!(
            body["violated-policies"],
            json!(["tiny"]),
            "{framework}: {body}"
        );
        assert_eq!(body["status"], 429, "{framework}");
    }

    // Raising the named limit over PATCH lets the key through again; `{}` removes it.
    let patch = |body: Value| admin(reqwest::Method::PATCH, format!("/v1/api-keys/{id}"), body);
    let (status, view) = patch(json!({"limits": {"tiny": "1000/h"}})).await;
    assert_eq!(
        (status, &view["limits"]),
        (200, &json!({"tiny": "1000/h"})),
        "{framework}"
    );
    let again = call(key.clone()).await;
    assert_eq!(again.status().as_u16(), 200, "{framework}");
    let (status, body) = patch(json!({"limits": {"tiny": "1/x"}})).await;
    assert_eq!(status, 422, "{framework}: {body}");
    let (status, view) = patch(json!({"limits": {}})).await;
    assert_eq!((status, &view["limits"]), (200, &json!({})), "{framework}");
    let headers = call(key.clone()).await.headers().clone();
    let names: Vec<String> = sf_list(&headers, "ratelimit-policy")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["default"], "{framework}");

    // A limit in shadow mode: never a 429, never advertised; what it would have refused
    // is audited (one event per key and limit at the flush, with the count).
    let (status, made) = create(json!({
        "name": "shadowed",
        "limits": {"probe": "1/h,shadow"},
    }))
    .await;
    assert_eq!(status, 201, "{framework}: {made}");
    assert_eq!(
        made["limits"],
        json!({"probe": "1/h,shadow"}),
        "{framework}"
    );
    let shadowed = made["key"].as_str().expect("a key").to_owned();
    for _ in 0..3 {
        let res = call(shadowed.clone()).await;
        assert_eq!(res.status().as_u16(), 200, "{framework}");
        let names: Vec<String> = sf_list(res.headers(), "ratelimit-policy")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["default"],
            "{framework}: the shadow limit is not advertised"
        );
    }
    // A scope requirement in shadow mode: a key without the scope goes through (and
    // the refusal it would have had is audited); no key is still a 401.
    for _ in 0..2 {
        let beta = http
            .get(format!("{base}/beta"))
            .bearer_auth(&shadowed)
            .send()
            .await
            .expect("a response");
        assert_eq!(beta.status().as_u16(), 200, "{framework}");
    }
    let anonymous = http
        .get(format!("{base}/beta"))
        .send()
        .await
        .expect("a response");
    assert_eq!(anonymous.status().as_u16(), 401, "{framework}");
    f.gate.verifier().flush_usage().await.expect("a flush");
    // The audit events of one action, and the whole answer for failure messages.
    let audit_events = |action: &'static str| {
        let http = http.clone();
        let url = format!("{base}/v1/audit-logs?action={action}");
        let admin = f.admin_key.clone();
        async move {
            let body: Value = http
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .expect("a response")
                .json()
                .await
                .expect("a JSON body");
            (body["data"].as_array().cloned().unwrap_or_default(), body)
        }
    };
    let (events, scope_audit) = audit_events("key.shadow_scope").await;
    assert_eq!(events.len(), 1, "{framework}: {scope_audit}");
    assert_eq!(events[0]["count"], 2, "{framework}: {scope_audit}");
    assert_eq!(
        events[0]["reason"],
        format!("would lack {BETA_SCOPE}"),
        "{framework}: {scope_audit}"
    );
    let (events, audit) = audit_events("key.shadow_limit").await;
    assert_eq!(events.len(), 1, "{framework}: {audit}");
    // Five requests (three here, two to /beta) against one an hour: four over.
    assert_eq!(events[0]["count"], 4, "{framework}: {audit}");
    assert_eq!(events[0]["target"], made["id"], "{framework}: {audit}");

    // Two keys of one owner share `user` (3 an hour between them).
    let mut owned = Vec::new();
    for name in ["ann's ci", "ann's laptop"] {
        let (status, made) = create(json!({"name": name, "owner": "ann"})).await;
        assert_eq!(status, 201, "{framework}: {made}");
        owned.push(made["key"].as_str().expect("a key").to_owned());
    }
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(call(owned[i % 2].clone()).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429], "{framework}");
    let refused = call(owned[1].clone()).await;
    let body: Value = refused.json().await.expect("a problem body");
    assert_eq!(
        body["violated-policies"],
        json!(["user"]),
        "{framework}: {body}"
    );

    // Limits set for an owner over the admin API: shared by the owner's keys, named in
    // the fields, changed at once; bad input refused, and only admin:limits sets them.
    let put = |body: Value| admin(reqwest::Method::PUT, "/v1/shared-limits".to_owned(), body);
    for (body, needle) in [
        (
            json!({"owner": "bo", "limits": {"Bad Name": "1/s"}}),
            "Bad Name",
        ),
        (
            json!({"owner": "bo", "limits": {"team": "0/s"}}),
            "limit team",
        ),
        (json!({"owner": " ", "limits": {"team": "1/s"}}), "owner"),
        (json!({"owner": "bo"}), "limits"),
        (json!({"owner": "bo", "limits": {}, "extra": 1}), "extra"),
    ] {
        let (status, answer) = put(body.clone()).await;
        assert_eq!(status, 422, "{framework}: {body} -> {answer}");
        assert!(answer.to_string().contains(needle), "{framework}: {answer}");
    }
    let (status, view) = put(json!({"owner": "bo", "limits": {"team": "2/h"}})).await;
    assert_eq!(status, 200, "{framework}: {view}");
    assert_eq!(
        view["limits"],
        json!({"team": "2/h"}),
        "{framework}: {view}"
    );
    assert_eq!(
        (view["tenant"].as_str(), view["owner"].as_str()),
        (Some("acme"), Some("bo"))
    );
    let (status, got) = admin(
        reqwest::Method::GET,
        "/v1/shared-limits?owner=bo".to_owned(),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, &got["limits"]),
        (200, &json!({"team": "2/h"})),
        "{framework}: {got}"
    );
    let mut bos = Vec::new();
    for name in ["bo's ci", "bo's laptop"] {
        let (status, made) = create(json!({"name": name, "owner": "bo", "scopes": ["read"]})).await;
        assert_eq!(status, 201, "{framework}: {made}");
        bos.push(made["key"].as_str().expect("a key").to_owned());
    }
    let first = call(bos[0].clone()).await;
    assert_eq!(first.status().as_u16(), 200, "{framework}");
    let policy = sf_list(first.headers(), "ratelimit-policy");
    assert_eq!(
        param(&policy, "team", "q"),
        Some(2),
        "{framework}: {policy:?}"
    );
    assert_eq!(
        call(bos[1].clone()).await.status().as_u16(),
        200,
        "{framework}"
    );
    let refused = call(bos[0].clone()).await;
    assert_eq!(
        refused.status().as_u16(),
        429,
        "{framework}: bo's keys share 2"
    );
    let body: Value = refused.json().await.expect("a problem body");
    assert_eq!(
        body["violated-policies"],
        json!(["team"]),
        "{framework}: {body}"
    );
    // A key of the tenant without admin:limits may read them, not raise them.
    let (status, made) = create(json!({"name": "reader", "scopes": ["read:limits"]})).await;
    assert_eq!(status, 201, "{framework}: {made}");
    let reader = made["key"].as_str().expect("a key").to_owned();
    let raise = http
        .put(format!("{base}/v1/shared-limits"))
        .bearer_auth(&reader)
        .json(&json!({"owner": "bo", "limits": {"team": "1000/h"}}))
        .send()
        .await
        .expect("a response");
    assert_eq!(raise.status().as_u16(), 403, "{framework}");
    // Raised by the admin: bo's keys go through again at once.
    let (status, _) = put(json!({"owner": "bo", "limits": {"team": "1000/h"}})).await;
    assert_eq!(status, 200, "{framework}");
    assert_eq!(
        call(bos[1].clone()).await.status().as_u16(),
        200,
        "{framework}: raised"
    );
    let (status, view) = put(json!({"owner": "bo", "limits": {}})).await;
    assert_eq!(
        (status, &view["limits"]),
        (200, &json!({})),
        "{framework}: removed"
    );
}

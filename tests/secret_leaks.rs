//! The secret-leak audit (issue 16, item 4): a plaintext key appears in exactly the
//! answers that hand it out (create, rotate), and nowhere else.
//!
//! One service over a SQLite file (cached, following its change feed, with in-process
//! rate limits and the failure throttle) is served by axum and by actix-web over the same
//! gate. Each walks every path a key takes: created and rotated over the admin API, used
//! in each credential place, refused for each reason (unknown, bad checksum, malformed,
//! revoked, expired, wrong IP, rate limited, missing scope), admin errors with a key
//! pasted into the request, `/v1/auth/verify`, the audit log, the dashboard (sign-in with
//! a right and a wrong key, a key created and shown once, a key pasted into a form), and
//! a handler that panics with the request's headers and `Authenticated` in its message;
//! then a graceful shutdown.
//!
//! Everything is then searched for any plaintext key, and for any 12 characters in a row
//! of a key's secret body outside its last four (which the hint shows by design): every
//! line `tracing` wrote at TRACE from every crate (keygate, sqlx, hyper, actix, reqwest,
//! and `log` records through it), the panic messages, every response's status, headers
//! and body but the create and rotate answers, the `Debug` output of every value a user
//! can print, the audit events, and the bytes of the SQLite database and its WAL.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};
use axum::extract::Request;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use keygate::audit::AuditFilter;
use keygate::clock::ManualClock;
use keygate::rate_limit::FailureThrottle;
use keygate::store::PageRequest;
use keygate::{
    Actor, Authenticated, KeyGate, KeyStore, NewKey, RateLimitSpec, RateLimits, ScopeSet,
};
use keygate_admin::Admin;
use keygate_tower::{ApiKeyLayer, RequireScope};
use serde_json::{json, Value};

/// Every place that must hold no key, and every key that must not be there.
#[derive(Default)]
struct Evidence {
    places: Vec<(String, String)>,
    keys: Vec<String>,
}

impl Evidence {
    fn place(&mut self, label: impl Into<String>, text: impl Into<String>) {
        self.places.push((label.into(), text.into()));
    }
}

/// Where every `tracing` event (and `log` record, and panic message) of this test
/// binary goes.
fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(Mutex::default)
}

/// `Debug` strings the handlers wrote of what they were handed.
fn seen() -> &'static Mutex<Vec<String>> {
    static SEEN: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log().lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// TRACE for every crate; panic messages into the same log.
fn capture_everything() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .init();
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(LogWriter, "PANIC: {info}");
        print(info);
    }));
}

/// Where `text` holds `key`: the whole of it, or 12 characters in a row of its secret
/// body that are not among the last four.
fn leak_of(text: &str, key: &str) -> Option<String> {
    if text.contains(key) {
        return Some("the whole key".to_owned());
    }
    let body = key.rsplit('_').next().expect("a key has a body");
    let hidden = &body[..body.len().saturating_sub(4)];
    (0..=hidden.len().saturating_sub(12))
        .map(|i| &hidden[i..i + 12])
        .find(|window| text.contains(window))
        .map(|window| format!("12 characters of its secret ({window})"))
}

/// A response's status, headers and body, kept as evidence; its body as JSON.
async fn answer(label: &str, response: reqwest::Response, evidence: &mut Evidence) -> (u16, Value) {
    let (status, body) = read(response).await;
    evidence.place(format!("{label}: status and headers"), body.0);
    evidence.place(format!("{label}: body"), body.1.clone());
    (status, serde_json::from_str(&body.1).unwrap_or(Value::Null))
}

/// A response that hands a key out: it must hold that key (or the test proves
/// nothing), and is not searched.
async fn handed_out(label: &str, response: reqwest::Response, evidence: &mut Evidence) -> Value {
    let (status, (headers, body)) = read(response).await;
    assert!(status == 201 || status == 200, "{label}: {status} {body}");
    let json: Value = serde_json::from_str(&body).expect("a JSON body");
    let key = json["key"].as_str().expect("the key, once").to_owned();
    assert!(body.contains(&key));
    evidence.place(format!("{label}: status and headers"), headers);
    evidence.keys.push(key);
    json
}

async fn read(response: reqwest::Response) -> (u16, (String, String)) {
    let status = response.status().as_u16();
    let head = format!("{:?} {:?}", response.status(), response.headers());
    let body = response.text().await.expect("a text body");
    (status, (head, body))
}

/// The handlers both frameworks serve: `/hello` notes the `Debug` of what it was
/// handed; `/panic` panics with it in the message.
fn noted(headers: String, authenticated: Option<&Authenticated>) -> String {
    let text = format!("headers {headers}; authenticated {authenticated:?}");
    seen().lock().expect("seen lock").push(text.clone());
    text
}

fn axum_app(gate: KeyGate, admin: Admin) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|request: Request| async move {
                noted(
                    format!("{:?}", request.headers()),
                    request.extensions().get::<Authenticated>(),
                );
                Json(json!({"hello": true}))
            }),
        )
        .route(
            "/items",
            post(|| async { "created" }).route_layer(RequireScope::new("write:items")),
        )
        .route(
            "/panic",
            get(|request: Request| async move {
                let text = noted(
                    format!("{:?}", request.headers()),
                    request.extensions().get::<Authenticated>(),
                );
                panic!("handler failed: {text}");
                #[allow(unreachable_code)]
                ""
            }),
        )
        .merge(keygate_admin::axum::router(admin.clone()))
        .layer(ApiKeyLayer::new(gate.clone()))
        .merge(keygate_admin::dashboard::axum::router(
            keygate_admin::dashboard::Dashboard::new(admin, gate.verifier().clone()),
        ))
}

async fn actix_hello(request: HttpRequest) -> web::Json<Value> {
    noted(
        format!("{:?}", request.headers()),
        request.extensions().get::<Authenticated>(),
    );
    web::Json(json!({"hello": true}))
}

async fn actix_panic(request: HttpRequest) -> &'static str {
    let text = noted(
        format!("{:?}", request.headers()),
        request.extensions().get::<Authenticated>(),
    );
    panic!("handler failed: {text}");
}

/// Serves the same routes with actix-web; returns the base URL and the server's handle.
fn serve_actix(gate: KeyGate, admin: Admin) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("")
                .wrap(keygate_actix::ApiKeyAuth::new(gate.clone()))
                .route("/hello", web::get().to(actix_hello))
                .service(
                    web::resource("/items")
                        .wrap(keygate_actix::RequireScope::new("write:items"))
                        .route(web::post().to(|| async { "created" })),
                )
                .route("/panic", web::get().to(actix_panic))
                .configure(keygate_admin::actix::configure(admin.clone())),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), handle)
}

/// Every path a key takes, against one running service; `admin_key` may do anything.
async fn walk(framework: &str, base: &str, admin_key: &str, clock: &ManualClock, e: &mut Evidence) {
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(admin_key);
    let label = |what: &str| format!("{framework} {what}");

    // Created over the admin API: each answer hands out its key once.
    let create = |name: &str, extra: Value| {
        let mut body = json!({"name": format!("{framework}-{name}"), "scopes": ["read:items"]});
        body.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        admin(http.post(url("/v1/api-keys"))).json(&body).send()
    };
    let user = handed_out(
        &label("create user"),
        create("user", json!({})).await.expect("create"),
        e,
    )
    .await;
    let user_key = user["key"].as_str().expect("key").to_owned();
    let user_id = user["id"].as_str().expect("id").to_owned();
    let revoked = handed_out(
        &label("create revoked"),
        create("revoked", json!({})).await.expect("create"),
        e,
    )
    .await;
    let expiring = handed_out(
        &label("create expiring"),
        create(
            "expiring",
            json!({"expiresAt": (keygate::clock::Clock::now(clock) + Duration::hours(1)).to_rfc3339()}),
        )
        .await
        .expect("create"),
        e,
    )
    .await;
    let fenced = handed_out(
        &label("create fenced"),
        create("fenced", json!({"allowedIps": ["10.0.0.0/8"]}))
            .await
            .expect("create"),
        e,
    )
    .await;
    let limited = handed_out(
        &label("create limited"),
        create("limited", json!({"rateLimit": "1/m"}))
            .await
            .expect("create"),
        e,
    )
    .await;

    // Used in every credential place, and refused for every reason.
    let get_with = |key: &str, place: &str| {
        let request = http.get(url("/hello"));
        match place {
            "bearer" => request.bearer_auth(key),
            "header" => request.header("X-API-KEY", key),
            _ => request.query(&[("api_key", key)]),
        }
    };
    for place in ["bearer", "header", "query"] {
        let (status, _) = answer(
            &label(&format!("ok {place}")),
            get_with(&user_key, place).send().await.expect("send"),
            e,
        )
        .await;
        assert_eq!(status, 200, "{framework} {place}");
    }
    let (status, _) = answer(
        &label("missing scope"),
        http.post(url("/items"))
            .bearer_auth(&user_key)
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 403);
    let never_issued = keygate::key_format::generate("sk", "live").expect("a generated key");
    let never_issued = never_issued.expose().to_owned();
    let mut bad_checksum = never_issued.clone();
    let last = bad_checksum.pop().expect("a character");
    bad_checksum.push(if last == 'a' { 'b' } else { 'a' });
    let malformed = format!("{}!", &user_key[..user_key.len() - 3]);
    let test_env = keygate::key_format::generate("sk", "test").expect("a generated key");
    let test_env = test_env.expose().to_owned();
    for (what, key) in [
        ("unknown", &never_issued),
        ("bad checksum", &bad_checksum),
        ("malformed", &malformed),
        ("foreign environment", &test_env),
    ] {
        e.keys.push(key.clone());
        for place in ["bearer", "header", "query"] {
            let (status, _) = answer(
                &label(&format!("{what} {place}")),
                get_with(key, place).send().await.expect("send"),
                e,
            )
            .await;
            assert_eq!(status, 401, "{framework} {what} {place}");
        }
    }
    let revoked_id = revoked["id"].as_str().expect("id");
    let (status, _) = answer(
        &label("revoke"),
        admin(http.delete(url(&format!("/v1/api-keys/{revoked_id}"))))
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert!(status == 200 || status == 204, "revoke: {status}");
    let (status, _) = answer(
        &label("revoked"),
        get_with(revoked["key"].as_str().expect("key"), "bearer")
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = answer(
        &label("fenced"),
        get_with(fenced["key"].as_str().expect("key"), "header")
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 403);
    let limited_key = limited["key"].as_str().expect("key");
    let (first, _) = answer(
        &label("limited 1"),
        get_with(limited_key, "bearer").send().await.expect("send"),
        e,
    )
    .await;
    let (second, _) = answer(
        &label("limited 2"),
        get_with(limited_key, "bearer").send().await.expect("send"),
        e,
    )
    .await;
    assert_eq!((first, second), (200, 429));

    // Admin errors with a key pasted where it does not belong.
    for (what, request) in [
        (
            "truncated JSON",
            admin(http.post(url("/v1/api-keys")))
                .header("content-type", "application/json")
                .body(format!(r#"{{"name":"{user_key}"#)),
        ),
        (
            "key as a name",
            admin(http.post(url("/v1/api-keys"))).json(&json!({"name": user_key})),
        ),
        (
            "key in metadata",
            admin(http.post(url("/v1/api-keys")))
                .json(&json!({"name": "x", "metadata": {"note": format!("key: {user_key}")}})),
        ),
        (
            "key in an edit",
            admin(http.patch(url(&format!("/v1/api-keys/{user_id}"))))
                .json(&json!({"description": format!("was {user_key}")})),
        ),
        (
            "key in a role",
            admin(http.post(url("/v1/roles")))
                .json(&json!({"name": "leaky", "scopes": [user_key]})),
        ),
        (
            "key as a scope",
            admin(http.post(url("/v1/api-keys"))).json(&json!({"name": "x", "scopes": [user_key]})),
        ),
        (
            "key as an IP",
            admin(http.post(url("/v1/api-keys")))
                .json(&json!({"name": "x", "allowedIps": [user_key]})),
        ),
        (
            "key as a role",
            admin(http.post(url("/v1/api-keys"))).json(&json!({"name": "x", "role": user_key})),
        ),
        (
            "key as an id",
            admin(http.get(url(&format!("/v1/api-keys/{user_key}")))),
        ),
        (
            "key as a cursor",
            admin(http.get(url(&format!("/v1/api-keys?cursor={user_key}")))),
        ),
        (
            "key in a rotate body",
            admin(http.post(url(&format!("/v1/api-keys/{user_id}/rotate"))))
                .json(&json!({"gracePeriod": user_key})),
        ),
    ] {
        let (status, _) = answer(&label(what), request.send().await.expect("send"), e).await;
        assert!((400..500).contains(&status), "{framework} {what}: {status}");
    }
    let (status, verified) = answer(
        &label("auth verify"),
        http.get(url("/v1/auth/verify"))
            .bearer_auth(&user_key)
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    let (status, _) = answer(
        &label("auth me"),
        http.get(url("/v1/auth/me"))
            .header("X-API-KEY", &user_key)
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 200);

    // Rotated: the answer hands out the new key; the old one works through its grace.
    let rotated = handed_out(
        &label("rotate"),
        admin(http.post(url(&format!("/v1/api-keys/{user_id}/rotate"))))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    let (old, _) = answer(
        &label("old in grace"),
        get_with(&user_key, "bearer").send().await.expect("send"),
        e,
    )
    .await;
    let (new, _) = answer(
        &label("new"),
        get_with(rotated["key"].as_str().expect("key"), "query")
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!((old, new), (200, 200));

    // Expired: an hour and a bit later (the clock is the gate's, so no wall-clock wait).
    clock.advance(Duration::minutes(61));
    let (status, _) = answer(
        &label("expired"),
        get_with(expiring["key"].as_str().expect("key"), "bearer")
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 401);

    let (status, listed) = answer(
        &label("list"),
        admin(http.get(url("/v1/api-keys?limit=100")))
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let (status, audit) = answer(
        &label("audit log"),
        admin(http.get(url("/v1/audit-logs?limit=100")))
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 200, "{audit}");

    // A handler that panics with what it was handed: the connection dies, the message
    // is in the log.
    let panicked = http.get(url("/panic")).bearer_auth(&user_key).send().await;
    if let Ok(response) = panicked {
        answer(&label("panic"), response, e).await;
    }
}

/// The dashboard's part: a key typed into the sign-in form (right and wrong), a key
/// created through its form and shown once (the one page that may hold it), a key
/// pasted into a form field, and a rotation; then sign-out.
async fn walk_dashboard(base: &str, admin_key: &str, e: &mut Evidence) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let post = |path: &str, body: String, cookie: Option<&str>| {
        let request = http
            .post(format!("{base}/dashboard{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        match cookie {
            Some(cookie) => request.header("cookie", cookie.to_owned()),
            None => request,
        }
    };
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();

    let wrong = keygate::key_format::generate("sk", "live").expect("a generated key");
    let wrong = wrong.expose().to_owned();
    e.keys.push(wrong.clone());
    let (status, _) = answer(
        "dashboard wrong key",
        post("/sign-in", format!("key={}", encode(&wrong)), None)
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 401, "a wrong key is refused");

    let signed = post("/sign-in", format!("key={}", encode(admin_key)), None)
        .send()
        .await
        .expect("send");
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("a cookie")
        .to_owned();
    answer("dashboard sign-in", signed, e).await;
    let get = |path: String| {
        http.get(format!("{base}/dashboard{path}"))
            .header("cookie", cookie.clone())
            .send()
    };
    let page = get("/keys".to_owned()).await.expect("send");
    let html = page.text().await.expect("html");
    e.place("dashboard keys page", html.clone());
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token")
        .to_owned();

    // A key pasted into a form field: refused, not echoed (the form keeps other input).
    let (status, _) = answer(
        "dashboard key pasted as a name",
        post(
            "/keys",
            format!("csrf={csrf}&name={}&scopes=read%3Aitems", encode(admin_key)),
            Some(&cookie),
        )
        .send()
        .await
        .expect("send"),
        e,
    )
    .await;
    assert!(status >= 400, "{status}");

    // Created through the form: the reveal page hands the key out once.
    let made = post(
        "/keys",
        format!("csrf={csrf}&name=dash-made&scopes=read%3Aitems"),
        Some(&cookie),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(made.status(), 303);
    let shown_at = made.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    answer("dashboard create", made, e).await;
    let shown_at = shown_at.trim_start_matches("/dashboard").to_owned();
    let reveal = get(shown_at.clone())
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    let key = reveal
        .split("id=\"new-key\"")
        .nth(1)
        .and_then(|s| s.split("value=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .expect("the new key on the page, once")
        .to_owned();
    assert!(keygate::key_format::ParsedKey::parse(&key).is_ok(), "{key}");
    e.keys.push(key);
    let again = get(shown_at.clone())
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    e.place("dashboard reveal page, reloaded", again);
    let id = shown_at
        .trim_start_matches("/keys/")
        .trim_end_matches("/created")
        .to_owned();
    let detail = get(format!("/keys/{id}"))
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    e.place("dashboard key detail", detail);
    let audit = get("/audit".to_owned())
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    e.place("dashboard audit page", audit);
    let (status, _) = answer(
        "dashboard sign-out",
        post("/sign-out", format!("csrf={csrf}"), Some(&cookie))
            .send()
            .await
            .expect("send"),
        e,
    )
    .await;
    assert_eq!(status, 303);
}

/// A request with one `Authorization` header.
struct Bearer(String);

impl keygate::request::RequestParts for Bearer {
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        (name == "authorization")
            .then_some(self.0.as_bytes())
            .into_iter()
    }
    fn query(&self) -> Option<&str> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_key_appears_outside_the_answer_that_hands_it_out() {
    capture_everything();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("leaks.db");
    let store = keygate_sqlx::connect_cached(&format!("sqlite://{}", file.display()))
        .await
        .expect("the SQLite store");
    let clock = ManualClock::new(Utc::now());
    let gate = KeyGate::builder(store.clone())
        .prefix("sk")
        .envs(["live"])
        .bearer()
        .header("X-API-KEY")
        .query("api_key")
        .clock(clock.clone())
        .rate_limits(RateLimits::in_memory())
        .failure_throttle(FailureThrottle::new(RateLimitSpec::per_minute(1000)))
        .build();
    let manager = gate.manager();
    let root = manager
        .create(
            &Actor::system(),
            NewKey::named("root")
                .tenant("leaks")
                .scopes(ScopeSet::parse(["*"]).expect("valid scopes")),
        )
        .await
        .expect("the admin key");
    let admin_key = root.key.expose().to_owned();
    let mut evidence = Evidence::default();
    evidence.keys.push(admin_key.clone());
    evidence.place("Debug of the created key", format!("{root:?}"));
    evidence.place("Display of the secret", root.key.to_string());

    let admin = Admin::for_gate(&gate);
    let axum_base = keygate_http_tests::serve::axum(axum_app(gate.clone(), admin.clone())).await;
    walk("axum", &axum_base, &admin_key, &clock, &mut evidence).await;
    walk_dashboard(&axum_base, &admin_key, &mut evidence).await;
    let (actix_base, actix) = serve_actix(gate.clone(), admin.clone());
    walk("actix", &actix_base, &admin_key, &clock, &mut evidence).await;
    actix.stop(true).await;

    // Debug of what a user can hold.
    evidence.place("Debug of the gate", format!("{gate:?}"));
    evidence.place("Debug of the store", format!("{store:?}"));
    evidence.place("Debug of the manager", format!("{manager:?}"));
    for key in &evidence.keys.clone() {
        let parsed = keygate::key_format::ParsedKey::parse(key);
        evidence.place("Debug of a parsed key", format!("{parsed:?}"));
        let checked = gate.check(&Bearer(format!("Bearer {key}")));
        evidence.place("Debug of a check", format!("{checked:?}"));
    }
    let records = store
        .list(&keygate::store::KeyFilter::all(), &PageRequest::first(1000))
        .await
        .expect("keys listed");
    evidence.place("Debug of the records", format!("{records:?}"));
    let handled = std::mem::take(&mut *seen().lock().expect("seen lock"));
    assert!(handled.len() >= 4, "the handlers ran: {handled:?}");
    evidence.place("what handlers saw", handled.join("\n"));

    // The audit log, as stored.
    let events = store
        .list_audit(&AuditFilter::default(), &PageRequest::first(1000))
        .await
        .expect("the audit log");
    assert!(
        events.items.len() > 10,
        "{} audit events",
        events.items.len()
    );
    evidence.place("audit events", format!("{:?}", events.items));

    // A graceful shutdown writes last-used times, then the files are read.
    gate.shutdown().await.expect("shutdown flushes");
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        if let Ok(bytes) = std::fs::read(&path) {
            evidence.place(
                format!("the file {path}"),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
    }

    // The log saw the run at TRACE from every layer, panics included.
    let log_text = String::from_utf8_lossy(&log().lock().expect("log lock")).into_owned();
    for witness in ["TRACE", "sqlx", "keygate", "PANIC: ", "handler failed"] {
        assert!(
            log_text.contains(witness),
            "the log has no {witness:?}: capture is broken"
        );
    }
    // The store's file holds what it should (so the search reads real bytes).
    let stored = evidence
        .places
        .iter()
        .find(|(label, _)| label.ends_with("leaks.db"))
        .map(|(_, text)| text.clone())
        .unwrap_or_default()
        + &evidence
            .places
            .iter()
            .filter(|(label, _)| label.ends_with("-wal"))
            .map(|(_, text)| text.as_str())
            .collect::<String>();
    assert!(
        stored.contains("axum-user"),
        "the database holds the key names"
    );
    evidence.place("the log", log_text);

    let mut leaks = Vec::new();
    for key in &evidence.keys {
        for (label, text) in &evidence.places {
            if let Some(how) = leak_of(text, key) {
                leaks.push(format!("{label}: {how} of {}…", &key[..10]));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "plaintext key material found:\n{}",
        leaks.join("\n")
    );
    assert!(
        evidence.keys.len() >= 20,
        "{} keys searched",
        evidence.keys.len()
    );
}

#[test]
fn the_search_finds_a_key_and_a_run_of_its_secret() {
    let key = "sk_live_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij";
    assert!(leak_of(&format!("x {key} y"), key).is_some());
    assert!(leak_of("…EFGHIJKLMNOP…", key).is_some());
    assert!(
        leak_of("sk_live_…ghij", key).is_none(),
        "the hint is allowed"
    );
    assert!(
        leak_of("ABCDEFGHIJK", key).is_none(),
        "11 characters are not a leak"
    );
}

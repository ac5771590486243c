//! The web dashboard in headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver by fantoccini, against a real server on 127.0.0.1:0: the admin
//! REST API and a protected route behind keygate's layer, the dashboard beside them,
//! one store and one manual clock.
//!
//! Without chromium/chromedriver the test prints why and passes, unless `CI=true`.
//! Screenshots of each main page go to `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Extension;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use keygate::clock::ManualClock;
use keygate::{Actor, Authenticated, KeyGate, MemoryStore, NewKey, ScopeSet};
use keygate_admin::dashboard::Dashboard;
use keygate_admin::Admin;
use keygate_tower::ApiKeyLayer;

/// Kills chromedriver (and so its browsers) when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

async fn source(browser: &Client) -> String {
    browser.source().await.expect("page source")
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// Clicks what `css` finds and waits for the page it leads to (a link or a form's
/// submit button): the old page is marked, and the new one has no mark.
async fn click(browser: &Client, css: &str) {
    browser
        .execute("window.__keygateOldPage = true", vec![])
        .await
        .expect("mark the page");
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
    for _ in 0..100 {
        let loaded = browser
            .execute(
                "return !window.__keygateOldPage && document.readyState === 'complete'",
                vec![],
            )
            .await
            .unwrap_or(serde_json::Value::Bool(false));
        if loaded == serde_json::Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} led to no new page");
}

/// Clicks a button that changes the page in place (no navigation).
async fn press(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

async fn path(browser: &Client) -> String {
    let url = browser.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn sign_in(browser: &Client, base: &str, key: &str) {
    browser
        .goto(&format!("{base}/dashboard/sign-in"))
        .await
        .expect("goto");
    fill(browser, "#key", key).await;
    click(browser, "form button[type=submit]").await;
}

async fn protected_status(base: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/v1/scans"))
        .bearer_auth(key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .expect("protected route")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let (Some(chromium), Some(chromedriver)) = (
        find_binary(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        ),
        find_binary("CHROMEDRIVER", &["chromedriver"]),
    ) else {
        let why = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)";
        assert!(!ci, "CI=true: the browser suite must run: {why}");
        eprintln!("skipping the dashboard browser suite: {why}");
        return;
    };

    // The service: admin API and a protected route behind the key layer, the dashboard
    // beside them, over one store with a clock the test moves.
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(chrono::Utc::now());
    let gate = KeyGate::builder(store.clone()).clock(clock.clone()).build();
    let admin = Admin::for_gate(&gate);
    let manager = gate.manager();
    let system = Actor::system();
    let make = |name: &str, tenant: &str, scopes: &[&str]| {
        let manager = manager.clone();
        let new = NewKey::named(name)
            .tenant(tenant)
            .scopes(ScopeSet::parse(scopes).expect("scopes"));
        let system = system.clone();
        async move {
            manager
                .create(&system, new)
                .await
                .expect("seed key")
                .key
                .expose()
                .to_owned()
        }
    };
    let admin_key = make("ops", "acme", &["*"]).await;
    let viewer_key = make(
        "viewer",
        "acme",
        &["read:api-keys", "read:roles", "read:audit-logs"],
    )
    .await;
    let doomed_key = make("doomed-admin", "acme", &["*"]).await;
    make("globex-prod", "globex", &["*"]).await;

    let scans = axum::Router::new().route(
        "/v1/scans",
        get(|Extension(auth): Extension<Authenticated>| async move {
            if auth.principal.has_scope("read:scans") {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::FORBIDDEN
            }
        }),
    );
    let app = keygate_admin::axum::router(admin.clone())
        .merge(scans)
        .layer(ApiKeyLayer::new(gate.clone()))
        .merge(keygate_admin::dashboard::axum::router(Dashboard::new(
            admin,
            gate.verifier().clone(),
        )));
    let base = keygate_http_tests::serve::axum(app).await;

    // chromedriver on a free port, headless Chromium through it.
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--hide-scrollbars"]
        }),
    );
    let mut browser = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => {
                browser = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let b = browser.expect("a WebDriver session with chromedriver");

    // Not signed in: the sign-in page.
    b.goto(&format!("{base}/dashboard/keys"))
        .await
        .expect("goto");
    assert_eq!(path(&b).await, "/dashboard/sign-in");
    shot(&b, "01-sign-in").await;

    // A wrong key is refused, and not echoed back.
    sign_in(&b, &base, "sk_live_thisisnotakey").await;
    let html = source(&b).await;
    assert!(html.contains("That key was not accepted"), "{html}");
    assert!(!html.contains("sk_live_thisisnotakey"));

    // The admin key: the keys of its tenant, not another tenant's, and no secret.
    sign_in(&b, &base, &admin_key).await;
    assert_eq!(path(&b).await, "/dashboard/keys");
    let html = source(&b).await;
    assert!(
        html.contains(">ops<") && html.contains(">viewer<"),
        "{html}"
    );
    assert!(
        !html.contains("globex-prod"),
        "another tenant's key is visible"
    );
    assert!(!html.contains(&admin_key));
    // The cookie is HttpOnly: page script cannot read it.
    let visible = b
        .execute("return document.cookie", vec![])
        .await
        .expect("js");
    assert_eq!(visible, serde_json::json!(""));
    shot(&b, "02-keys-list").await;

    // Garbage input: a clear error, and the form keeps what was typed.
    click(&b, "a.button.primary").await;
    fill(&b, "#name", "ci-bot").await;
    fill(&b, "#rate_limit", "lots").await;
    click(&b, "form.card button[type=submit]").await;
    let html = source(&b).await;
    assert!(html.contains("rateLimit"), "no clear error: {html}");
    assert_eq!(
        b.find(Locator::Css("#name"))
            .await
            .expect("name")
            .prop("value")
            .await
            .expect("value"),
        Some("ci-bot".into())
    );

    // Create a key; it is shown once.
    fill(&b, "#description", "CI pipeline").await;
    fill(&b, "#scopes", "read:scans").await;
    fill(&b, "#rate_limit", "1000/h,burst=50").await;
    click(&b, "form.card button[type=submit]").await;
    let shown_at = path(&b).await;
    assert!(shown_at.ends_with("/created"), "{shown_at}");
    let new_key = b
        .find(Locator::Css("#new-key"))
        .await
        .expect("the new key on the page")
        .prop("value")
        .await
        .expect("value")
        .expect("a key");
    press(&b, "button[data-copy]").await;
    shot(&b, "03-create-key-shown-once").await;
    b.refresh().await.expect("reload");
    let html = source(&b).await;
    assert!(html.contains("already shown once"), "{html}");
    assert!(!html.contains(&new_key), "a reload showed the key again");

    // The new key works against a protected route.
    assert_eq!(protected_status(&base, &new_key).await, 200);

    // Its use is counted and flushed; earlier hours are seeded, so its page draws a day.
    for _ in 0..4 {
        assert_eq!(protected_status(&base, &new_key).await, 200);
    }
    gate.verifier().flush_usage().await.expect("flush");
    let new_id = keygate::KeyId::parse(
        shown_at
            .rsplit('/')
            .nth(1)
            .expect("the key's id in the reveal URL"),
    )
    .expect("a key id");
    let now = keygate::clock::Clock::now(&clock);
    let earlier: Vec<keygate::analytics::VerificationCount> = (1..20)
        .flat_map(|hours_ago: i64| {
            let at = now - chrono::Duration::hours(hours_ago);
            let count = |outcome, count| keygate::analytics::VerificationCount {
                key_id: Some(new_id.clone()),
                tenant: Some("acme".into()),
                env: Some("live".into()),
                at,
                outcome,
                count,
            };
            let busy = u64::try_from(40 + (hours_ago * 37) % 90).expect("positive");
            [
                count(keygate::analytics::VerificationOutcome::Valid, busy),
                count(
                    keygate::analytics::VerificationOutcome::RateLimited,
                    u64::try_from(hours_ago % 4).expect("positive"),
                ),
            ]
        })
        .collect();
    keygate::KeyStore::record_verifications(&*store, &earlier)
        .await
        .expect("seed counts");

    // Its detail page: everything but the secret.
    click(&b, "main a.button").await;
    let html = source(&b).await;
    assert!(
        html.contains("CI pipeline") && html.contains("1000/h,burst=50"),
        "{html}"
    );
    assert!(!html.contains(&new_key));
    assert!(
        html.contains("Verifications, last 24 hours") && html.contains("role=\"img\""),
        "a usage chart: {html}"
    );
    assert!(html.contains("Valid: "), "{html}");
    shot(&b, "04-key-detail").await;

    // Edit: a new name is saved through PATCH.
    fill(&b, "#name", "ci-bot-2").await;
    click(&b, "section[aria-labelledby=edit-h] button[type=submit]").await;
    assert!(source(&b).await.contains("Changes saved."));

    // Rotate with no grace: the old key stops, the new one works.
    fill(&b, "#grace_period", "0").await;
    click(&b, "section[aria-labelledby=rotate-h] button[type=submit]").await;
    let rotated = b
        .find(Locator::Css("#new-key"))
        .await
        .expect("the rotated key")
        .prop("value")
        .await
        .expect("value")
        .expect("a key");
    assert_ne!(rotated, new_key);
    assert_eq!(protected_status(&base, &new_key).await, 401);
    assert_eq!(protected_status(&base, &rotated).await, 200);

    // Revoke, behind a confirmation naming the key.
    click(&b, "main a.button").await;
    click(&b, "a.button.danger").await;
    let confirm = b
        .find(Locator::Css("p.confirm"))
        .await
        .expect("confirmation")
        .text()
        .await
        .expect("text");
    assert!(confirm.contains("ci-bot-2"), "{confirm}");
    shot(&b, "05-revoke-confirm").await;
    click(&b, "button.danger").await;
    assert!(source(&b).await.contains("The key was revoked."));
    assert_eq!(protected_status(&base, &rotated).await, 401);

    // The audit log has all of it.
    b.goto(&format!("{base}/dashboard/audit"))
        .await
        .expect("goto");
    let html = source(&b).await;
    for action in ["key.create", "key.update", "key.rotate", "key.revoke"] {
        assert!(
            html.contains(action),
            "{action} missing from the audit page"
        );
    }
    shot(&b, "06-audit").await;
    b.goto(&format!("{base}/dashboard/audit?action=key.revoke"))
        .await
        .expect("goto");
    let html = source(&b).await;
    assert!(html.contains("key.revoke") && !html.contains("<code>key.create</code>"));

    // Roles: create one within the key's scopes.
    b.goto(&format!("{base}/dashboard/roles"))
        .await
        .expect("goto");
    fill(&b, "#name", "scan-reader").await;
    fill(&b, "#resource_scopes", "scans: read").await;
    click(
        &b,
        "section[aria-labelledby=new-role-h] button[type=submit]",
    )
    .await;
    let html = source(&b).await;
    assert!(
        html.contains("Role created.") && html.contains("read:scans"),
        "{html}"
    );
    shot(&b, "07-roles").await;

    // CSRF: the create form without its token is refused and creates nothing.
    b.goto(&format!("{base}/dashboard/keys/new"))
        .await
        .expect("goto");
    fill(&b, "#name", "forged").await;
    b.execute(
        "document.querySelector('form.card input[name=csrf]').remove()",
        vec![],
    )
    .await
    .expect("remove the token");
    click(&b, "form.card button[type=submit]").await;
    assert!(source(&b)
        .await
        .contains("security token is missing or wrong"));
    let listed = manager
        .list_matching(
            &system,
            keygate::store::KeyFilter::all(),
            &keygate::store::PageRequest::first(100),
        )
        .await
        .expect("list");
    assert!(!listed.items.iter().any(|k| k.name == "forged"));

    // Phone width.
    b.set_window_size(390, 844).await.expect("resize");
    b.goto(&format!("{base}/dashboard/keys?status=all"))
        .await
        .expect("goto");
    shot(&b, "08-keys-list-phone").await;
    b.goto(&format!("{base}/dashboard/keys/new"))
        .await
        .expect("goto");
    shot(&b, "09-create-phone").await;
    b.set_window_size(1280, 1000).await.expect("resize");

    // Sign out: the session is gone.
    click(&b, ".who button").await;
    assert!(source(&b).await.contains("You are signed out."));
    b.goto(&format!("{base}/dashboard/keys"))
        .await
        .expect("goto");
    assert_eq!(path(&b).await, "/dashboard/sign-in");

    // An expired session is refused: 31 minutes idle.
    sign_in(&b, &base, &admin_key).await;
    assert_eq!(path(&b).await, "/dashboard/keys");
    clock.advance(chrono::Duration::minutes(31));
    b.goto(&format!("{base}/dashboard/keys"))
        .await
        .expect("goto");
    assert_eq!(path(&b).await, "/dashboard/sign-in?reason=expired");
    assert!(source(&b).await.contains("Your session expired"));

    // A signed-in key that is revoked: its session stops at the next request.
    sign_in(&b, &base, &doomed_key).await;
    assert_eq!(path(&b).await, "/dashboard/keys");
    let doomed = gate
        .verify(keygate::VerifyRequest::key(&doomed_key))
        .await
        .expect("verify")
        .principal;
    manager
        .revoke(&system, doomed.key_id())
        .await
        .expect("revoke");
    b.goto(&format!("{base}/dashboard/roles"))
        .await
        .expect("goto");
    assert_eq!(path(&b).await, "/dashboard/sign-in?reason=key");

    // A viewer key sees the keys but cannot create one.
    sign_in(&b, &base, &viewer_key).await;
    assert_eq!(path(&b).await, "/dashboard/keys");
    b.goto(&format!("{base}/dashboard/keys/new"))
        .await
        .expect("goto");
    fill(&b, "#name", "escalation").await;
    fill(&b, "#scopes", "*").await;
    click(&b, "form.card button[type=submit]").await;
    let alert = b
        .find(Locator::Css("[role=alert]"))
        .await
        .expect("an error on the page")
        .text()
        .await
        .expect("text");
    assert!(alert.contains("write:api-keys"), "{alert}");
    shot(&b, "10-viewer-refused").await;
    let listed = manager
        .list_matching(
            &system,
            keygate::store::KeyFilter::all(),
            &keygate::store::PageRequest::first(100),
        )
        .await
        .expect("list");
    assert!(!listed.items.iter().any(|k| k.name == "escalation"));

    b.close().await.expect("close the browser");
}

//! `keygate serve` serves the web dashboard at /dashboard over the same store and
//! policy as the admin REST API (the browser suite, in keygate-http-tests, drives the
//! pages in Chromium; this one checks the wiring, the cookie and the headers over HTTP).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn serve_has_the_dashboard_with_sessions_csrf_and_the_rest_apis_policy() {
    let dir = std::env::temp_dir().join(format!("keygate-serve-dash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .env("KEYGATE_DATABASE_URL", &url)
            .env_remove("KEYGATE_PEPPER")
            .output()
            .expect("run keygate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["key"].as_str().expect("a key").to_owned()
    };
    let admin_key = cli(&[
        "keys", "create", "--name", "ops", "--scopes", "*", "--tenant", "acme", "--json",
    ]);
    let viewer_key = cli(&[
        "keys",
        "create",
        "--name",
        "viewer",
        "--scopes",
        "read:api-keys",
        "--tenant",
        "acme",
        "--json",
    ]);
    cli(&[
        "keys",
        "create",
        "--name",
        "globex-secret",
        "--scopes",
        "*",
        "--tenant",
        "globex",
        "--json",
    ]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("KEYGATE_DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn keygate serve");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("keygate serve started");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |path: &str, cookie: Option<&str>, body: String| {
        let mut req = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            req = req.header("cookie", c.to_owned());
        }
        req.send()
    };
    let get = |path: &str, cookie: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", cookie.to_owned())
            .send()
    };

    // The sign-in page, with its security headers.
    let page = http
        .get(format!("{base}/dashboard/sign-in"))
        .send()
        .await
        .expect("sign-in page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");

    // A wrong key: refused, no cookie.
    let wrong = post("/dashboard/sign-in", None, form(&[("key", "sk_live_nope")]))
        .await
        .expect("post");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    // The admin key: a session cookie, HttpOnly, SameSite=Strict, Path=/dashboard.
    let signed = post("/dashboard/sign-in", None, form(&[("key", &admin_key)]))
        .await
        .expect("post");
    assert_eq!(signed.status(), 303);
    let set_cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    assert!(!set_cookie.contains(&admin_key));
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();

    // The keys list: the tenant's keys, not another tenant's, and never a secret.
    let list = get("/dashboard/keys", &cookie).await.expect("list");
    assert_eq!(list.status(), 200);
    assert_eq!(list.headers()["cache-control"], "no-store");
    let html = list.text().await.expect("html");
    assert!(
        html.contains(">ops<") && html.contains(">viewer<"),
        "{html}"
    );
    assert!(!html.contains("globex-secret"));
    assert!(!html.contains(&admin_key) && !html.contains(&viewer_key));
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token in the page")
        .to_owned();

    // A form without the CSRF token, or with a wrong one, changes nothing.
    for bad in ["", "0000"] {
        let refused = post(
            "/dashboard/keys",
            Some(&cookie),
            form(&[("csrf", bad), ("name", "forged"), ("scopes", "read:scans")]),
        )
        .await
        .expect("post");
        assert_eq!(refused.status(), 403, "csrf {bad:?}");
    }
    // A cross-site form is refused even with the token.
    let cross = http
        .post(format!("{base}/dashboard/keys"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie.clone())
        .header("origin", "https://evil.example")
        .body(form(&[("csrf", &token), ("name", "forged")]))
        .send()
        .await
        .expect("post");
    assert_eq!(cross.status(), 403);
    // With the token: created, through the REST API's policy, shown once.
    let made = post(
        "/dashboard/keys",
        Some(&cookie),
        form(&[
            ("csrf", &token),
            ("name", "from the dashboard"),
            ("scopes", "read:scans"),
        ]),
    )
    .await
    .expect("post");
    assert_eq!(made.status(), 303);
    let created_at = made.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let shown = get(&created_at, &cookie)
        .await
        .expect("created page")
        .text()
        .await
        .expect("html");
    assert!(shown.contains("shown only this once"), "{shown}");
    let again = get(&created_at, &cookie)
        .await
        .expect("created page")
        .text()
        .await
        .expect("html");
    assert!(again.contains("already shown once"), "{again}");
    // The REST API sees the same key (one store, one manager).
    let listed: serde_json::Value = http
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("list over REST")
        .json()
        .await
        .expect("json");
    assert!(listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .any(|k| k["name"] == "from the dashboard"
            && k["scopes"] == serde_json::json!(["read:scans"])));

    // Sign-out ends the session server-side: the old cookie is no longer accepted.
    let out = post(
        "/dashboard/sign-out",
        Some(&cookie),
        form(&[("csrf", &token)]),
    )
    .await
    .expect("post");
    assert_eq!(out.status(), 303);
    let after = get("/dashboard/keys", &cookie).await.expect("get");
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/dashboard/sign-in");

    // A viewer key signs in but cannot create: the REST API's scope check answers.
    let signed = post("/dashboard/sign-in", None, form(&[("key", &viewer_key)]))
        .await
        .expect("post");
    let viewer_cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let page = get("/dashboard/keys/new", &viewer_cookie)
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    let viewer_token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("token")
        .to_owned();
    let denied = post(
        "/dashboard/keys",
        Some(&viewer_cookie),
        form(&[
            ("csrf", &viewer_token),
            ("name", "escalate"),
            ("scopes", "*"),
        ]),
    )
    .await
    .expect("post");
    assert_eq!(denied.status(), 403);
    let body = denied.text().await.expect("html");
    assert!(body.contains("write"), "{body}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

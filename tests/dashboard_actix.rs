//! The dashboard mounted in an actix-web app (beside the admin API behind
//! `ApiKeyAuth`), over HTTP on 127.0.0.1:0: sign-in, the tenant boundary, CSRF, a key
//! created and shown once, then disabled and enabled again. The browser suite
//! (`dashboard_browser.rs`) covers the pages in depth on axum; both mounts call the same
//! framework-free `Dashboard::handle`.

use actix_web::{web, App, HttpServer};
use keygate::{Actor, KeyGate, MemoryStore, NewKey, ScopeSet};
use keygate_actix::ApiKeyAuth;
use keygate_admin::dashboard::Dashboard;

fn token_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token in the page")
        .to_owned()
}

#[tokio::test]
async fn the_dashboard_mounts_in_actix() {
    let gate = KeyGate::builder(MemoryStore::new()).build();
    let manager = gate.manager();
    let make = |name: &'static str, tenant: &'static str| {
        let manager = manager.clone();
        async move {
            let new = NewKey::named(name)
                .tenant(tenant)
                .scopes(ScopeSet::parse(["*"]).expect("scopes"));
            let made = manager.create(&Actor::system(), new).await.expect("seed");
            (made.key.expose().to_owned(), made.record.id.to_string())
        }
    };
    let (admin_key, _) = make("ops", "acme").await;
    let (_, globex_id) = make("globex-prod", "globex").await;

    let dashboard = Dashboard::for_gate(&gate);
    let admin = dashboard.admin().clone();
    let server = HttpServer::new(move || {
        App::new()
            .configure(keygate_admin::dashboard::actix::configure(
                dashboard.clone(),
            ))
            .service(
                web::scope("")
                    .wrap(ApiKeyAuth::new(gate.clone()))
                    .configure(keygate_admin::actix::configure(admin.clone())),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = |body: String| {
        move |req: reqwest::RequestBuilder| {
            req.header("content-type", "application/x-www-form-urlencoded")
                .body(body)
        }
    };

    let signed = form(format!("key={admin_key}"))(http.post(format!("{base}/dashboard/sign-in")))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", cookie.clone())
            .send()
    };

    let list = get("/dashboard/keys").await.expect("list");
    assert_eq!(list.status(), 200);
    assert!(list.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("default-src 'none'"));
    let html = list.text().await.expect("html");
    assert!(
        html.contains(">ops<") && !html.contains("globex-prod"),
        "{html}"
    );
    let token = token_in(&html);

    // Another tenant's key is not found by id either.
    let other = get(&format!("/dashboard/keys/{globex_id}"))
        .await
        .expect("detail");
    assert_eq!(other.status(), 404);

    // No token: refused, nothing made. With it: made, and shown once.
    let refused = form("name=forged".to_owned())(
        http.post(format!("{base}/dashboard/keys"))
            .header("cookie", cookie.clone()),
    )
    .send()
    .await
    .expect("post");
    assert_eq!(refused.status(), 403);
    let made = form(format!("csrf={token}&name=actix-made&scopes=read%3Ascans"))(
        http.post(format!("{base}/dashboard/keys"))
            .header("cookie", cookie.clone()),
    )
    .send()
    .await
    .expect("post");
    assert_eq!(made.status(), 303);
    let shown_at = made.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let first = get(&shown_at)
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(first.contains("id=\"new-key\""), "{first}");
    let second = get(&shown_at)
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(!second.contains("id=\"new-key\"") && second.contains("already shown once"));
    let html = get("/dashboard/keys")
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(html.contains(">actix-made<") && !html.contains("forged"));

    // Disable the new key from its page: refused over HTTP until enabled again.
    let made_id = shown_at
        .split('/')
        .rev()
        .nth(1)
        .expect("the key's id in the reveal URL")
        .to_owned();
    let secret = first
        .split("sk_live_")
        .nth(1)
        .map(|rest| {
            let body: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            format!("sk_live_{body}")
        })
        .expect("the key on its reveal page");
    let verify = || {
        http.get(format!("{base}/v1/auth/verify"))
            .bearer_auth(&secret)
            .send()
    };
    assert_eq!(verify().await.expect("verify").status(), 200);
    let detail = get(&format!("/dashboard/keys/{made_id}"))
        .await
        .expect("detail")
        .text()
        .await
        .expect("html");
    assert!(detail.contains("/disable\""), "a disable form: {detail}");
    let post = |path: String, body: String| {
        form(body)(
            http.post(format!("{base}{path}"))
                .header("cookie", cookie.clone()),
        )
        .send()
    };
    let forged = post(format!("/dashboard/keys/{made_id}/disable"), String::new())
        .await
        .expect("post");
    assert_eq!(forged.status(), 403, "no CSRF token, nothing disabled");
    assert_eq!(verify().await.expect("verify").status(), 200);
    let disabled = post(
        format!("/dashboard/keys/{made_id}/disable"),
        format!("csrf={}", token_in(&detail)),
    )
    .await
    .expect("post");
    assert_eq!(disabled.status(), 303);
    let after = get(disabled.headers()["location"].to_str().expect("ascii"))
        .await
        .expect("detail")
        .text()
        .await
        .expect("html");
    assert!(
        after.contains("The key was disabled.") && after.contains("badge disabled"),
        "{after}"
    );
    assert_eq!(verify().await.expect("verify").status(), 401);
    let enabled = post(
        format!("/dashboard/keys/{made_id}/enable"),
        format!("csrf={}", token_in(&after)),
    )
    .await
    .expect("post");
    assert_eq!(enabled.status(), 303);
    assert_eq!(verify().await.expect("verify").status(), 200);

    handle.stop(false).await;
}

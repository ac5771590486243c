//! Input edges of key management over HTTP, on axum and on actix-web (issue 11, items
//! 6 and 7): every bad value is a 422 that names what is wrong and stores nothing, and
//! every value that is accepted does what it says once the key is used.

use keygate_http_tests::admin::AdminFixture;
use keygate_tower::ApiKeyLayer;
use serde_json::Value;

/// A create request that must be refused: its body, and words the 422's details must
/// contain.
const REFUSED: &[(&str, &str)] = &[
    // Rate limits outside the bounds, in each of the three forms.
    (
        r#"{"name":"q","rateLimit":{"requests":10,"dailyQuota":0}}"#,
        "quota must be at least 1",
    ),
    (
        r#"{"name":"q","rateLimit":"10/h,quota=0"}"#,
        "quota must be at least 1",
    ),
    (
        r#"{"name":"b","rateLimit":{"requests":10,"burst":0}}"#,
        "burst must be 1 to 1000000",
    ),
    (
        r#"{"name":"b","rateLimit":"10/h,burst=0"}"#,
        "burst must be 1 to 1000000",
    ),
    (
        r#"{"name":"w","rateLimit":{"requests":1,"perSeconds":4294967295,"burst":4294967295}}"#,
        "1 to 31536000 seconds",
    ),
    (
        r#"{"name":"w","rateLimit":{"requests":1,"perSeconds":86400,"burst":100000}}"#,
        "refill within a year",
    ),
    (r#"{"name":"z","rateLimit":0}"#, "at least 1 request"),
    // Names and descriptions that would make a listing show something else.
    (
        r#"{"name":"invoice\u202Efdp.exe"}"#,
        "name contains U+202E (a bidirectional control)",
    ),
    (
        r#"{"name":"admin\u2066 key"}"#,
        "name contains U+2066 (a bidirectional control)",
    ),
    (
        r#"{"name":"zero\u200Bwidth"}"#,
        "name contains U+200B (an invisible format character)",
    ),
    (
        r#"{"name":"esc\u001b[2J"}"#,
        "name contains U+001B (a control character)",
    ),
    (
        r#"{"name":"ok","description":"for \u202Dops"}"#,
        "description contains U+202D (a bidirectional control)",
    ),
    // Referrer rules no browser's referrer could ever match.
    (
        r#"{"name":"r","allowedReferrers":["ftp://files.example.com"]}"#,
        "only http:// and https://",
    ),
    (
        r#"{"name":"r","allowedReferrers":["https://app.example.com/page"]}"#,
        "a URL with a path must end in *",
    ),
    (r#"{"name":"r","allowedReferrers":["https://"]}"#, "no host"),
    (
        r#"{"name":"r","allowedReferrers":["localhost:3000"]}"#,
        "a port needs a scheme",
    ),
    (
        r#"{"name":"r","allowedReferrers":["example.com","https://app.example.com*"]}"#,
        "a URL prefix needs a path",
    ),
];

/// Every refused referrer names the forms that are accepted.
const REFERRER_FORMS: &str = "use a host (example.com), a wildcard host (*.example.com), \
     an origin (https://app.example.com) or a URL prefix ending in * \
     (https://app.example.com/embed/*)";

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let res = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn key_count(client: &reqwest::Client, base: &str, fixture: &AdminFixture) -> usize {
    let (status, body) = send(
        client
            .get(format!("{base}/v1/api-keys?limit=100"))
            .bearer_auth(&fixture.admin_key),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().map_or(0, Vec::len)
}

async fn refused_inputs_are_422_naming_the_problem(
    framework: &str,
    base: &str,
    fixture: &AdminFixture,
) {
    let client = reqwest::Client::new();
    let before = key_count(&client, base, fixture).await;
    for (body, says) in REFUSED {
        let (status, answer) = send(
            client
                .post(format!("{base}/v1/api-keys"))
                .bearer_auth(&fixture.admin_key)
                .header("content-type", "application/json")
                .body(*body),
        )
        .await;
        assert_eq!(status, 422, "[{framework}] {body}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_request",
            "[{framework}] {body}"
        );
        let details = answer["error"]["details"].as_str().expect("a string field");
        assert!(
            details.contains(says),
            "[{framework}] {body}: {details:?} lacks {says:?}"
        );
        if body.contains("allowedReferrers") {
            assert!(details.contains(REFERRER_FORMS), "[{framework}] {details}");
        }
    }
    assert_eq!(
        key_count(&client, base, fixture).await,
        before,
        "[{framework}] a refused create stored a key"
    );
}

/// Creates a key with `body` as the admin; returns the created key's JSON.
async fn create(client: &reqwest::Client, base: &str, fixture: &AdminFixture, body: &str) -> Value {
    let (status, created) = send(
        client
            .post(format!("{base}/v1/api-keys"))
            .bearer_auth(&fixture.admin_key)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await;
    assert_eq!(status, 201, "{body}: {created}");
    created
}

/// `GET /v1/auth/me` with `key` and, if given, a `Referer`: the status.
async fn me(client: &reqwest::Client, base: &str, key: &str, referrer: Option<&str>) -> u16 {
    let mut request = client.get(format!("{base}/v1/auth/me")).bearer_auth(key);
    if let Some(referrer) = referrer {
        request = request.header("referer", referrer);
    }
    send(request).await.0
}

async fn an_ipv4_mapped_rule_matches_the_ipv4_client(
    framework: &str,
    base: &str,
    fixture: &AdminFixture,
) {
    let client = reqwest::Client::new();
    let created = create(
        &client,
        base,
        fixture,
        r#"{"name":"mapped","allowedIps":["::ffff:127.0.0.1"]}"#,
    )
    .await;
    assert_eq!(
        created["allowedIps"],
        serde_json::json!(["127.0.0.1/32"]),
        "[{framework}]"
    );
    let key = created["key"].as_str().expect("a string field");
    assert_eq!(
        me(&client, base, key, None).await,
        200,
        "[{framework}] from 127.0.0.1"
    );
    let elsewhere = create(
        &client,
        base,
        fixture,
        r#"{"name":"mapped elsewhere","allowedIps":["::ffff:10.0.0.0/104"]}"#,
    )
    .await;
    assert_eq!(
        elsewhere["allowedIps"],
        serde_json::json!(["10.0.0.0/8"]),
        "[{framework}]"
    );
    let key = elsewhere["key"].as_str().expect("a string field");
    assert_eq!(
        me(&client, base, key, None).await,
        403,
        "[{framework}] not from 10/8"
    );
}

async fn an_origin_referrer_matches_its_pages(framework: &str, base: &str, fixture: &AdminFixture) {
    let client = reqwest::Client::new();
    let created = create(
        &client,
        base,
        fixture,
        r#"{"name":"web","allowedReferrers":["https://app.example.com"]}"#,
    )
    .await;
    let key = created["key"].as_str().expect("a string field");
    for (referrer, status) in [
        (Some("https://app.example.com"), 200),
        (Some("https://app.example.com/"), 200),
        (Some("https://app.example.com/settings/keys?tab=1"), 200),
        (Some("http://app.example.com/"), 403),
        (Some("https://app.example.com:8443/"), 403),
        (Some("https://app.example.com.evil.net/"), 403),
        (None, 403),
    ] {
        assert_eq!(
            me(&client, base, key, referrer).await,
            status,
            "[{framework}] Referer {referrer:?}"
        );
    }
}

async fn run_all(framework: &str, base: &str, fixture: &AdminFixture) {
    refused_inputs_are_422_naming_the_problem(framework, base, fixture).await;
    an_ipv4_mapped_rule_matches_the_ipv4_client(framework, base, fixture).await;
    an_origin_referrer_matches_its_pages(framework, base, fixture).await;
}

async fn serve_axum(fixture: &AdminFixture) -> String {
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    keygate_http_tests::serve::axum(app).await
}

#[tokio::test]
async fn axum_input_edges() {
    let fixture = AdminFixture::new().await;
    let base = serve_axum(&fixture).await;
    run_all("axum", &base, &fixture).await;
}

#[tokio::test]
async fn actix_input_edges() {
    let fixture = AdminFixture::new().await;
    let (base, server) =
        keygate_http_tests::serve::actix_admin(fixture.gate.clone(), fixture.admin.clone());
    run_all("actix", &base, &fixture).await;
    server.stop(false).await;
}

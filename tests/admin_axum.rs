//! The admin API table against a real axum server on 127.0.0.1:0.

use keygate_http_tests::admin::{run_admin_table, AdminFixture};
use keygate_tower::ApiKeyLayer;

#[tokio::test]
async fn axum_admin_api_passes_the_table() {
    let fixture = AdminFixture::new().await;
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()))
        .merge(keygate_admin::axum::openapi_router(&fixture.admin));
    let base = keygate_http_tests::serve::axum(app).await;
    run_admin_table("axum", &base, &fixture).await;
}

#[tokio::test]
async fn every_documented_route_is_served_and_nothing_else() {
    let fixture = AdminFixture::new().await;
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let doc = fixture.admin.openapi();
    let client = reqwest::Client::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .expect("an operation map")
        {
            let url = format!("http://{addr}{}", path.replace("{id}", &fixture.target));
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .unwrap_or(reqwest::Method::GET);
            // With the reader key: every documented route exists (never 404/405 from the router).
            let res = client
                .request(m, &url)
                .bearer_auth(&fixture.reader_key)
                .send()
                .await;
            let status = res.map(|r| r.status().as_u16()).unwrap_or(0);
            assert!(status != 405 && status != 0, "{method} {path}: {status}");
            checked += 1;
        }
    }
    assert_eq!(checked, keygate_admin::ROUTES.len());
    let undocumented = client
        .put(format!("http://{addr}/v1/api-keys"))
        .bearer_auth(&fixture.reader_key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(undocumented, 405, "an undocumented method is not served");
}

//! Credits on a real axum server on 127.0.0.1:0: route costs, 429 usage_exceeded,
//! balances over the admin API.

use axum::routing::get;
use keygate_http_tests::credits::{run_credits, CreditsFixture};
use keygate_tower::ApiKeyLayer;

#[tokio::test]
async fn axum_credits_over_http() {
    let fixture = CreditsFixture::new().await;
    let routes = axum::Router::new()
        .route(
            "/v1/scans",
            get(|| async { "scans" }).post(|| async { "scanned" }),
        )
        .route("/free", get(|| async { "free" }));
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .merge(routes)
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_credits("axum", &base, &fixture).await;
}

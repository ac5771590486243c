//! Named and shared limits, IETF rate-limit fields, problem 429s and shadow mode on a
//! real axum server on 127.0.0.1:0.

use axum::routing::get;
use keygate_http_tests::limits::{run_limits, LimitsFixture, BETA_SCOPE};
use keygate_tower::{ApiKeyLayer, RequireScope};

#[tokio::test]
async fn axum_named_and_shared_limits_over_http() {
    let fixture = LimitsFixture::new().await;
    let beta = axum::Router::new().route(
        "/beta",
        get(|| async { "beta" }).route_layer(RequireScope::new(BETA_SCOPE).in_shadow()),
    );
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .merge(beta)
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_limits("axum", &base, &fixture).await;
}

//! Verification analytics end to end on a real axum server on 127.0.0.1:0.

use axum::routing::get;
use keygate_http_tests::analytics::{run_analytics, run_narrowing, AnalyticsFixture, ITEMS_SCOPE};
use keygate_tower::{ApiKeyLayer, RequireScope};

#[tokio::test]
async fn axum_verifications_are_counted_flushed_and_served() {
    let fixture = AnalyticsFixture::new().await;
    let items = axum::Router::new().route(
        "/items",
        get(|| async { "items" }).route_layer(RequireScope::new(ITEMS_SCOPE)),
    );
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .merge(items)
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_analytics("axum", &base, &fixture).await;
    run_narrowing("axum", &base, &fixture).await;
}

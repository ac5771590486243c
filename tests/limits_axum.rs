//! Named and shared limits, IETF rate-limit fields and problem 429s on a real axum
//! server on 127.0.0.1:0.

use keygate_http_tests::limits::{run_limits, LimitsFixture};
use keygate_tower::ApiKeyLayer;

#[tokio::test]
async fn axum_named_and_shared_limits_over_http() {
    let fixture = LimitsFixture::new().await;
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_limits("axum", &base, &fixture).await;
}

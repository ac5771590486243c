//! Issue 11's adversarial management table against a real axum server on 127.0.0.1:0.

use keygate_http_tests::adversarial::{run_adversarial_table, AdversarialFixture};
use keygate_tower::ApiKeyLayer;

#[tokio::test]
async fn axum_admin_api_holds_the_management_invariants() {
    let fixture = AdversarialFixture::new().await;
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_adversarial_table("axum", &base, &fixture).await;
}

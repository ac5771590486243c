//! Issue 11's adversarial management table against a real axum server on 127.0.0.1:0.

use std::net::SocketAddr;

use keygate_http_tests::adversarial::{run_adversarial_table, AdversarialFixture};
use keygate_tower::ApiKeyLayer;

#[tokio::test]
async fn axum_admin_api_holds_the_management_invariants() {
    let fixture = AdversarialFixture::new().await;
    let app = keygate_admin::axum::router(fixture.admin.clone())
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    run_adversarial_table("axum", &format!("http://{addr}"), &fixture).await;
}

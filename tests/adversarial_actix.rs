//! Issue 11's adversarial management table against a real actix-web server on 127.0.0.1:0.

use keygate_http_tests::adversarial::{run_adversarial_table, AdversarialFixture};

#[tokio::test]
async fn actix_admin_api_holds_the_management_invariants() {
    let fixture = AdversarialFixture::new().await;
    let (base, server) =
        keygate_http_tests::serve::actix_admin(fixture.gate.clone(), fixture.admin.clone());
    run_adversarial_table("actix", &base, &fixture).await;
    server.stop(false).await;
}

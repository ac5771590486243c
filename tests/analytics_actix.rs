//! Verification analytics end to end on a real actix-web server on 127.0.0.1:0.

use keygate_http_tests::analytics::{run_analytics, AnalyticsFixture};

#[tokio::test]
async fn actix_verifications_are_counted_flushed_and_served() {
    let fixture = AnalyticsFixture::new().await;
    let (base, server) =
        keygate_http_tests::serve::actix_admin(fixture.gate.clone(), fixture.admin.clone());
    run_analytics("actix", &base, &fixture).await;
    server.stop(false).await;
}

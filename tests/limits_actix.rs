//! Named and shared limits, IETF rate-limit fields and problem 429s on a real
//! actix-web server on 127.0.0.1:0.

use keygate_http_tests::limits::{run_limits, LimitsFixture};

#[tokio::test]
async fn actix_named_and_shared_limits_over_http() {
    let fixture = LimitsFixture::new().await;
    let (base, server) =
        keygate_http_tests::serve::actix_admin(fixture.gate.clone(), fixture.admin.clone());
    run_limits("actix", &base, &fixture).await;
    server.stop(false).await;
}

//! Named and shared limits, IETF rate-limit fields, problem 429s and shadow mode on a
//! real actix-web server on 127.0.0.1:0.

use actix_web::{web, HttpResponse};
use keygate_actix::RequireScope;
use keygate_http_tests::limits::{run_limits, LimitsFixture, BETA_SCOPE};

#[tokio::test]
async fn actix_named_and_shared_limits_over_http() {
    let fixture = LimitsFixture::new().await;
    let (base, server) = keygate_http_tests::serve::actix_admin_with(
        fixture.gate.clone(),
        fixture.admin.clone(),
        |config| {
            config.service(
                web::resource("/beta")
                    .wrap(RequireScope::new(BETA_SCOPE).in_shadow())
                    .route(web::get().to(HttpResponse::Ok)),
            );
        },
    );
    run_limits("actix", &base, &fixture).await;
    server.stop(false).await;
}

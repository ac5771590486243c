//! Verification analytics end to end on a real actix-web server on 127.0.0.1:0.

use actix_web::{web, HttpResponse};
use keygate_actix::RequireScope;
use keygate_http_tests::analytics::{run_analytics, run_narrowing, AnalyticsFixture, ITEMS_SCOPE};

#[tokio::test]
async fn actix_verifications_are_counted_flushed_and_served() {
    let fixture = AnalyticsFixture::new().await;
    let (base, server) = keygate_http_tests::serve::actix_admin_with(
        fixture.gate.clone(),
        fixture.admin.clone(),
        |config| {
            config.service(
                web::resource("/items")
                    .wrap(RequireScope::new(ITEMS_SCOPE))
                    .route(web::get().to(HttpResponse::Ok)),
            );
        },
    );
    run_analytics("actix", &base, &fixture).await;
    run_narrowing("actix", &base, &fixture).await;
    server.stop(false).await;
}

//! Credits on a real actix-web server on 127.0.0.1:0: route costs, 429
//! usage_exceeded, balances over the admin API.

use actix_web::{web, HttpResponse};
use keygate_http_tests::credits::{run_credits, CreditsFixture};

#[tokio::test]
async fn actix_credits_over_http() {
    let fixture = CreditsFixture::new().await;
    let (base, server) = keygate_http_tests::serve::actix_admin_with(
        fixture.gate.clone(),
        fixture.admin.clone(),
        |config| {
            config
                .route("/v1/scans", web::get().to(HttpResponse::Ok))
                .route("/v1/scans", web::post().to(HttpResponse::Ok))
                .route("/free", web::get().to(HttpResponse::Ok));
        },
    );
    run_credits("actix", &base, &fixture).await;
    server.stop(false).await;
}

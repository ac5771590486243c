//! Verification analytics end to end on a real actix-web server on 127.0.0.1:0.

use actix_web::{web, App, HttpServer};
use keygate_actix::ApiKeyAuth;
use keygate_http_tests::analytics::{run_analytics, AnalyticsFixture};

#[tokio::test]
async fn actix_verifications_are_counted_flushed_and_served() {
    let fixture = AnalyticsFixture::new().await;
    let (gate, admin) = (fixture.gate.clone(), fixture.admin.clone());
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("")
                .wrap(ApiKeyAuth::new(gate.clone()))
                .configure(keygate_admin::actix::configure(admin.clone())),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    run_analytics("actix", &format!("http://{addr}"), &fixture).await;
    handle.stop(false).await;
}

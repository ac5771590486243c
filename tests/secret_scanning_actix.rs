//! The secret-scanning partner endpoint on a real actix-web server on 127.0.0.1:0.

use actix_web::{App, HttpServer};
use keygate_http_tests::secret_scanning::{run_secret_scanning, ScanningFixture};

#[tokio::test]
async fn actix_revokes_keys_a_signed_scanner_report_names() {
    let fixture = ScanningFixture::new().await;
    let scanning = fixture.scanning.clone();
    let server = HttpServer::new(move || {
        App::new().configure(keygate_admin::actix::configure_secret_scanning(
            scanning.clone(),
        ))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap_or_else(|e| panic!("bind: {e}"));
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    run_secret_scanning("actix", &base, &fixture).await;
    handle.stop(false).await;
}

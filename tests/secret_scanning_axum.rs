//! The secret-scanning partner endpoint on a real axum server on 127.0.0.1:0.

use keygate_http_tests::secret_scanning::{run_secret_scanning, ScanningFixture};

#[tokio::test]
async fn axum_revokes_keys_a_signed_scanner_report_names() {
    let fixture = ScanningFixture::new().await;
    let app = keygate_admin::axum::secret_scanning_router(fixture.scanning.clone());
    let base = keygate_http_tests::serve::axum(app).await;
    run_secret_scanning("axum", &base, &fixture).await;
}

//! Serving a router under test on `127.0.0.1:0`.

use std::net::SocketAddr;

/// Serves `app` on a free loopback port, with the peer address available to keygate
/// (`ConnectInfo`), for as long as the test runtime lives; returns its base URL.
pub async fn axum(app: axum::Router) -> String {
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
    format!("http://{addr}")
}

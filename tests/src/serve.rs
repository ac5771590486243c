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

/// The admin API behind `ApiKeyAuth` on an actix-web server on a free loopback port
/// (one worker); returns its base URL and the handle that stops it.
pub fn actix_admin(
    gate: keygate::KeyGate,
    admin: keygate_admin::Admin,
) -> (String, actix_web::dev::ServerHandle) {
    actix_admin_with(gate, admin, |_| {})
}

/// [`actix_admin`] with the routes `extra` configures beside the admin API, behind the
/// same `ApiKeyAuth`.
pub fn actix_admin_with(
    gate: keygate::KeyGate,
    admin: keygate_admin::Admin,
    extra: fn(&mut actix_web::web::ServiceConfig),
) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpServer};
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("")
                .wrap(keygate_actix::ApiKeyAuth::new(gate.clone()))
                .configure(extra)
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
    (format!("http://{addr}"), handle)
}

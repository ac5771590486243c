//! axum + tower-http `ValidateRequestHeaderLayer::bearer(<fixed token>)`:
//! the simplest auth layer that exists today (a header equality check).
use axum::{routing::get, Router};
use tower_http::validate_request::ValidateRequestHeaderLayer;

async fn hello() -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let token = bench_servers::demo_key();
    // Deprecated since tower-http 0.6.7 ("too basic to be useful in real
    // applications"), which is exactly why it is the floor to compare against.
    #[allow(deprecated)]
    let auth = ValidateRequestHeaderLayer::bearer(&token);
    let app = Router::new().route("/hello", get(hello)).layer(auth);
    bench_servers::serve_router(bench_servers::runtime(), app, port);
}

//! axum 0.8 hello world, no authentication.
use axum::{routing::get, Router};

async fn hello() -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let app = Router::new().route("/hello", get(hello));
    bench_servers::serve_router(bench_servers::runtime(), app, port);
}

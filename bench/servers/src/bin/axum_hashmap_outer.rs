//! Same middleware as `axum_hashmap`, but wrapped around the whole Router
//! instead of added with `Router::layer`: axum then does not box and clone the
//! layered route per request. This is the lowest-overhead placement on axum.
use std::sync::Arc;

use axum::{routing::get, Extension, Router};
use bench_servers::hashmap_tower::{HashMapAuthLayer, KeyTable};
use bench_servers::peer::Principal;
use tower::Layer;

// The handler takes the principal, as a keygate user's handler would.
async fn hello(Extension(_p): Extension<Arc<Principal>>) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let keys: KeyTable = Arc::new(bench_servers::peer::key_table());
    // with_state(()) turns the handlers into routes once, here, as
    // axum::serve(listener, router) would; see bench_servers::serve_service.
    let app = Router::new().route("/hello", get(hello)).with_state(());
    let svc = HashMapAuthLayer { keys }.layer(app);
    bench_servers::serve_service(bench_servers::runtime(), svc, port);
}

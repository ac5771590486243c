//! axum + the hand-written "physical limit" tower middleware
//! (`bench_servers::hashmap_tower`), placed the usual way, with `Router::layer`:
//! Bearer / X-API-KEY -> SHA-256 -> `HashMap<[u8; 32], Arc<Principal>>` ->
//! principal into the request extensions, or 401.
use std::sync::Arc;

use axum::{routing::get, Extension, Router};
use bench_servers::hashmap_tower::{HashMapAuthLayer, KeyTable};
use bench_servers::peer::Principal;

// The handler takes the principal, as a keygate user's handler would.
async fn hello(Extension(_p): Extension<Arc<Principal>>) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let keys: KeyTable = Arc::new(bench_servers::peer::key_table());
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(HashMapAuthLayer { keys });
    bench_servers::serve_router(bench_servers::runtime(), app, port);
}

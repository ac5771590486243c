//! axum + keygate's `ApiKeyLayer` over a `MemoryStore` (10,000 keys), wrapped around
//! the whole Router: the placement of `axum_hashmap_outer`. The layer answers with the
//! Router's own body type (`axum::body::Body`), as `axum::serve` wants.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal};
use tower::Layer;

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::memory_store());
    let layer = ApiKeyLayer::new(kg::gate(store).build());
    // with_state(()) turns the handlers into routes once, here (see serve_service).
    let app = Router::new().route("/hello", get(hello)).with_state(());
    bench_servers::serve_service(rt, layer.layer(app), port);
}

//! axum + keygate's `ApiKeyLayer` over a `MemoryStore` (10,000 keys), added with
//! `Router::layer`: the placement of `axum_hashmap`.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::memory_store());
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(ApiKeyLayer::new(kg::gate(store).build()));
    bench_servers::serve_router(rt, app, port);
}

//! axum + keygate's `ApiKeyLayer` over a `MemoryStore` (10,000 keys), wrapped around
//! the whole Router: the placement of `axum_hashmap_outer`. The layer's response body
//! (`Either<Body, Full<Bytes>>`) is mapped back to axum's `Body` for `axum::serve`.
use axum::body::Body;
use axum::extract::Request;
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal};
use tower::{Layer, ServiceExt};

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
    let svc = ServiceExt::<Request>::map_response(layer.layer(app), |res| res.map(Body::new));
    bench_servers::serve_service(rt, svc, port);
}

//! axum + keygate's `ApiKeyLayer` over a `CachedStore` (moka, default TTLs) in front of
//! a `SqliteStore` (a temporary file), added with `Router::layer`. Port + 1 answers the
//! cache's key-lookup counters for the bad-key flood.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::sqlite_cached());
    let counters = store.clone();
    bench_servers::stats_port(port, move || kg::stats_text(&counters));
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(ApiKeyLayer::new(kg::gate(store).build()));
    bench_servers::serve_router(rt, app, port);
}

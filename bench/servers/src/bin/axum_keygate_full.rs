//! axum + keygate with everything on: `ApiKeyLayer` via `Router::layer` over a
//! `CachedStore` in front of a `SqliteStore`, `RequireScope("read:hello")` on the
//! route, an in-process per-key rate limit (never reached) and the failure throttle.
//! Served with `ConnectInfo<SocketAddr>` so the throttle sees the client IP. Port + 1
//! answers the cache's key-lookup counters.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::sqlite_cached());
    let counters = store.clone();
    bench_servers::stats_port(port, move || kg::stats_text(&counters));
    let gate = kg::with_limits(kg::gate(store)).build();
    let app = Router::new()
        .route(
            "/hello",
            get(hello).route_layer(RequireScope::new(kg::SCOPE)),
        )
        .layer(ApiKeyLayer::new(gate));
    bench_servers::serve_router_with_connect_info(rt, app, port);
}

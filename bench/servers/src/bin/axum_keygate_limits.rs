//! `axum_keygate_full` with a metered key: the demo key carries two named limits
//! (never reached) beside its own, so each request is counted in three limits at once,
//! atomically. Compare with `axum_keygate_full`, whose key has only its own limit.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::sqlite_cached_with(kg::two_named_limits));
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

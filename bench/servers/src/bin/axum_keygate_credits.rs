//! `axum_keygate_limits` with credits: the demo key carries two named limits and a
//! balance of credits larger than any run spends, so each request pays one spend (in
//! process, `MemoryCredits`) beside three limits. Compare with `axum_keygate_limits`
//! and `axum_keygate_full`.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::sqlite_cached_with(kg::two_named_limits_and_credits));
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

//! `axum_keygate_full` with the key's limit in Redis, approximate: decided in process,
//! reconciled with Redis every 100 ms by a background task
//! (`RedisRateLimiterBuilder::build_approximate`). Needs a Redis
//! (`KEYGATE_BENCH_REDIS_URL`, else 127.0.0.1:6379). Compare with `axum_keygate_redis`.
use axum::{routing::get, Router};
use bench_servers::kg;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};

async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let rt = bench_servers::runtime();
    let store = rt.block_on(kg::sqlite_cached_with(|_| {}));
    let counters = store.clone();
    bench_servers::stats_port(port, move || kg::stats_text(&counters));
    let limiter = rt.block_on(async {
        keygate_redis::RedisRateLimiter::from_url(&kg::redis_url())
            .unwrap_or_else(|e| bench_servers::fail(&format!("redis: {e}")))
            .build_approximate(std::time::Duration::from_millis(100))
    });
    let gate = kg::with_limiter(kg::gate(store), limiter).build();
    let app = Router::new()
        .route(
            "/hello",
            get(hello).route_layer(RequireScope::new(kg::SCOPE)),
        )
        .layer(ApiKeyLayer::new(gate));
    bench_servers::serve_router_with_connect_info(rt, app, port);
}

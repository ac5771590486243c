//! actix-web + keygate with everything on: `ApiKeyAuth` over a `CachedStore` in front
//! of a `SqliteStore`, `#[require_scope("read:hello")]` on the handler, an in-process
//! per-key rate limit (never reached) and the failure throttle. Port + 1 answers the
//! cache's key-lookup counters.
use actix_web::{get, App};
use bench_servers::kg;
use keygate_actix::{require_scope, ApiKeyAuth, Principal};

#[get("/hello")]
#[require_scope("read:hello")]
async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let setup = async {
        let store = kg::sqlite_cached().await;
        let counters = store.clone();
        bench_servers::stats_port(port, move || kg::stats_text(&counters));
        kg::with_limits(kg::gate(store)).build()
    };
    bench_servers::serve_actix!(port, setup, gate => move || {
        App::new().wrap(ApiKeyAuth::new(gate.clone())).service(hello)
    });
}

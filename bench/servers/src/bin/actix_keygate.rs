//! actix-web + keygate's `ApiKeyAuth` over a `MemoryStore` (10,000 keys): the
//! placement of `actix_hashmap`.
use actix_web::{get, App};
use bench_servers::kg;
use keygate_actix::{ApiKeyAuth, Principal};

#[get("/hello")]
async fn hello(_p: Principal) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    bench_servers::serve_actix!(port, async { kg::gate(kg::memory_store().await).build() }, gate => move || {
        App::new().wrap(ApiKeyAuth::new(gate.clone())).service(hello)
    });
}

//! actix-web 4 hello world, no authentication.
use actix_web::{web, App};

async fn hello() -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    bench_servers::serve_actix!(port, || App::new().route("/hello", web::get().to(hello)));
}

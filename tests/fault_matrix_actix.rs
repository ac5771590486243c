//! The fault matrix (`keygate_http_tests::faults`) against a real actix-web server on
//! 127.0.0.1:0: one test per cell.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, App, HttpResponse, HttpServer};
use keygate::KeyGate;
use keygate_actix::{ApiKeyAuth, Principal};
use keygate_http_tests::faults::Served;
use serde_json::json;

async fn hello(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "hello": principal.name() }))
}

fn serve(gate: KeyGate) -> Pin<Box<dyn Future<Output = Served>>> {
    Box::pin(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(ApiKeyAuth::new(gate.clone()))
                .route("/hello", web::get().to(hello))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Served::new(format!("http://{addr}"), move || {
            Box::pin(async move { handle.stop(true).await })
        })
    })
}

keygate_http_tests::fault_matrix!(actix_web::test, serve);

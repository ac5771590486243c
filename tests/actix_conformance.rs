//! The conformance table against a real actix-web server on 127.0.0.1:0, twice: with
//! `#[require_scope]` guarding `POST /items`, and with the `RequireScope` middleware.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use keygate::KeyGate;
use keygate_actix::{require_scope, ApiKeyAuth, Principal, RequireScope};
use keygate_http_tests::{run_table, Fixture};
use serde_json::json;

async fn hello(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"hello": principal.name(), "tenant": principal.tenant()}))
}

#[require_scope("write:items")]
async fn create_item_guarded() -> HttpResponse {
    HttpResponse::Created().json(json!({"created": true}))
}

async fn create_item() -> HttpResponse {
    HttpResponse::Created().json(json!({"created": true}))
}

async fn echo(req: HttpRequest) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    HttpResponse::Ok().json(json!({
        "authorization": header("authorization"),
        "xApiKey": header("x-api-key"),
        "query": req.uri().query(),
    }))
}

/// How `POST /items` requires `write:items`.
#[derive(Clone, Copy)]
enum ScopeCheck {
    Macro,
    Middleware,
}

fn items_route(cfg: &mut web::ServiceConfig, check: ScopeCheck) {
    match check {
        ScopeCheck::Macro => {
            cfg.route("/items", web::post().to(create_item_guarded));
        }
        ScopeCheck::Middleware => {
            cfg.service(
                web::resource("/items")
                    .wrap(RequireScope::new("write:items"))
                    .route(web::post().to(create_item)),
            );
        }
    }
}

/// Serves the suite's routes with `gate`; returns the address and the server's handle.
fn serve(gate: KeyGate, check: ScopeCheck) -> (SocketAddr, ServerHandle) {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ApiKeyAuth::new(gate.clone()))
            .route("/hello", web::get().to(hello))
            .configure(|cfg| items_route(cfg, check))
            .route("/echo", web::get().to(echo))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

async fn run(check: ScopeCheck, name: &str) {
    let fixture = Fixture::new().await;
    let (addr, handle) = serve(fixture.gate.clone(), check);
    run_table(name, &format!("http://{addr}"), &fixture).await;
    handle.stop(true).await;
}

#[actix_web::test]
async fn actix_passes_the_conformance_table_with_the_macro() {
    run(ScopeCheck::Macro, "actix").await;
}

#[actix_web::test]
async fn actix_passes_the_conformance_table_with_require_scope() {
    run(ScopeCheck::Middleware, "actix (RequireScope)").await;
}

//! The fault matrix (`keygate_http_tests::faults`) against a real axum server on
//! 127.0.0.1:0: one test per cell.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::routing::get;
use axum::{Json, Router};
use keygate::KeyGate;
use keygate_http_tests::faults::Served;
use keygate_tower::{ApiKeyLayer, Principal};
use serde_json::{json, Value};

async fn hello(principal: Principal) -> Json<Value> {
    Json(json!({ "hello": principal.name() }))
}

fn serve(gate: KeyGate) -> Pin<Box<dyn Future<Output = Served>>> {
    Box::pin(async move {
        let app = Router::new()
            .route("/hello", get(hello))
            .layer(ApiKeyLayer::new(gate));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("the address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        Served::new(format!("http://{addr}"), move || {
            Box::pin(async move {
                let _ = stop.send(());
                let _ = server.await;
            })
        })
    })
}

keygate_http_tests::fault_matrix!(tokio::test, serve);

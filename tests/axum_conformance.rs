//! The conformance table against a real axum server on 127.0.0.1:0.

use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate_http_tests::{run_table, Fixture};
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
use serde_json::{json, Value};

async fn hello(principal: Principal) -> Json<Value> {
    Json(json!({"hello": principal.name(), "tenant": principal.tenant()}))
}

async fn create_item() -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::CREATED,
        Json(json!({"created": true})),
    )
}

async fn echo(headers: HeaderMap, uri: Uri) -> Json<Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Json(json!({
        "authorization": header("authorization"),
        "xApiKey": header("x-api-key"),
        "query": uri.query(),
    }))
}

#[tokio::test]
async fn axum_passes_the_conformance_table() {
    let fixture = Fixture::new().await;
    let app = Router::new()
        .route("/hello", get(hello))
        .route(
            "/items",
            post(create_item).route_layer(RequireScope::new("write:items")),
        )
        .route("/echo", get(echo))
        .layer(ApiKeyLayer::new(fixture.gate.clone()));
    let base = keygate_http_tests::serve::axum(app).await;
    run_table("axum", &base, &fixture).await;
}

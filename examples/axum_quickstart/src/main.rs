//! Run with `cargo run -p example-axum-quickstart`
//!
//! A protected axum API with no setup: a demo key is made at start and printed once.
//!
//! Keys live in `KEYGATE_DATABASE_URL` (default `sqlite://keygate.db` in the working
//! directory, created on first run; `postgres://…` works too), behind a cache that hears
//! about changes made by other processes (the CLI, other instances).
//!
//! ```text
//! curl -H "Authorization: Bearer <key>" http://127.0.0.1:3000/hello
//! curl -X POST -H "X-API-KEY: <key>" http://127.0.0.1:3000/items
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate::{KeyGate, KeyHasher, KeyRecord, KeyStore, ScopeSet};
use keygate_moka::CachedStore;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
use serde_json::{json, Value};

async fn hello(principal: Principal) -> Json<Value> {
    Json(json!({"hello": principal.name(), "tenant": principal.tenant()}))
}

async fn create_item() -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"created": true})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let url =
        std::env::var("KEYGATE_DATABASE_URL").unwrap_or_else(|_| "sqlite://keygate.db".to_owned());
    let db = keygate_sqlx::connect_any(&url).await?;
    println!("key store: {}", db.backend());
    let store = CachedStore::new(db.clone());
    // Revokes and edits made by other processes reach this cache: within a second on
    // SQLite (a polled change table), at once on PostgreSQL (LISTEN/NOTIFY).
    store.follow(db.invalidations());

    let (key, record) =
        KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "demo", "demo-tenant")?;
    store
        .insert(&record.with_scopes(ScopeSet::parse(["read:items", "write:items"])?))
        .await?;
    println!("demo key (shown once): {}", key.expose());
    drop(key);

    let gate = KeyGate::builder(store)
        .prefix("sk")
        .bearer()
        .header("X-API-KEY")
        .build();
    let app = Router::new()
        .route(
            "/items",
            post(create_item).route_layer(RequireScope::new("write:items")),
        )
        .route("/hello", get(hello))
        .layer(ApiKeyLayer::new(gate.clone()));

    // Last-used times are noted in memory on each request and written in batches.
    let flusher = gate.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let _ = flusher.verifier().flush_usage().await;
        }
    });

    let addr = std::env::var("KEYGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    gate.verifier().flush_usage().await?;
    Ok(())
}

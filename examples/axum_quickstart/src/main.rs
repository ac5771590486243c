//! Run with `cargo run -p example-axum-quickstart`
//!
//! A protected axum API with no setup: a demo key is made at start and printed once.
//! It expires in 24 hours, and the next start revokes it before making a new one, so
//! restarts do not pile up working keys in the database.
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

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate::manager::CreatedKey;
use keygate::store::PageRequest;
use keygate::{Actor, KeyGate, KeyManager, KeyRecord, NewKey, ScopeSet};
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
use serde_json::{json, Value};

async fn hello(principal: Principal) -> Json<Value> {
    Json(json!({"hello": principal.name(), "tenant": principal.tenant()}))
}

async fn create_item() -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({"created": true})))
}

/// The tenant of the demo key.
const DEMO_TENANT: &str = "demo-tenant";

/// Revokes the demo keys earlier starts left in the store, then makes a new one that
/// expires in 24 hours: however often the quickstart starts, one demo key works.
///
/// Demo keys carry `{"demo": true}` in their metadata. Keys named `demo` in the demo
/// tenant with no metadata and no expiry (what earlier versions of this quickstart
/// made, one per start) are revoked too; any other key is left alone.
async fn fresh_demo_key(manager: &KeyManager) -> Result<CreatedKey, Box<dyn std::error::Error>> {
    let system = Actor::system();
    let is_demo = |r: &KeyRecord| {
        r.metadata.get("demo") == Some(&json!(true))
            || (r.name == "demo" && r.metadata.is_empty() && r.expires_at.is_none())
    };
    let mut page = PageRequest::first(1000);
    let mut stale = Vec::new();
    loop {
        let listed = manager
            .list(&system, Some(DEMO_TENANT), None, false, &page)
            .await?;
        stale.extend(listed.items.into_iter().filter(is_demo).map(|r| r.id));
        match listed.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    for id in &stale {
        manager.revoke(&system, id).await?;
    }
    let mut new = NewKey::named("demo")
        .tenant(DEMO_TENANT)
        .scopes(ScopeSet::parse(["read:items", "write:items"])?)
        .expires_at(manager.clock().now() + keygate::duration::parse_duration("24h")?);
    new.metadata.insert("demo".to_owned(), json!(true));
    Ok(manager.create(&system, new).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    // KEYGATE_DATABASE_URL (default sqlite://keygate.db), behind a cache that hears about
    // revokes and edits made by other processes: within a second on SQLite (a polled
    // change table), at once on PostgreSQL (LISTEN/NOTIFY).
    let store = keygate_sqlx::from_env().await?;
    let gate = KeyGate::builder(store)
        .prefix("sk")
        .bearer()
        .header("X-API-KEY")
        .build();

    // The manager shares the gate's store, hasher and prefix: its keys are the gate's.
    let demo = fresh_demo_key(&gate.manager()).await?;
    println!("demo key (shown once): {}", demo.key.expose());
    println!(
        "it expires at {}; the next start revokes it and prints a new one",
        demo.record
            .expires_at
            .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
    );
    drop(demo);
    let app = Router::new()
        .route(
            "/items",
            post(create_item).route_layer(RequireScope::new("write:items")),
        )
        .route("/hello", get(hello))
        .layer(ApiKeyLayer::new(gate.clone()));

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
    gate.shutdown().await?;
    Ok(())
}

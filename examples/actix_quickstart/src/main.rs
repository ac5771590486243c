//! Run with `cargo run -p example-actix-quickstart`
//!
//! A protected actix-web API with no setup: a demo key is made at start and printed once.
//!
//! ```text
//! curl -H "Authorization: Bearer <key>" http://127.0.0.1:3000/hello
//! curl -X POST -H "X-API-KEY: <key>" http://127.0.0.1:3000/items
//! ```

use std::time::Duration;

use actix_web::{get, post, App, HttpResponse, HttpServer};
use keygate::{KeyGate, KeyHasher, KeyRecord, KeyStore, ScopeSet};
use keygate_actix::{require_scope, ApiKeyAuth, Principal};
use keygate_moka::CachedStore;
use serde_json::json;

/// Any valid key.
#[get("/hello")]
async fn hello(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"hello": principal.name(), "tenant": principal.tenant()}))
}

/// Keys with `write:items` only: others get 403, requests without a key 401.
#[post("/items")]
#[require_scope("write:items")]
async fn create_item() -> HttpResponse {
    HttpResponse::Created().json(json!({"created": true}))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    // The embedded default: a SQLite file, created and migrated on first use.
    let url =
        std::env::var("KEYGATE_DATABASE_URL").unwrap_or_else(|_| "sqlite://keygate.db".to_owned());
    let db = keygate_sqlx::connect_any(&url).await?;
    println!("key store: {}", db.backend());
    let store = CachedStore::new(db.clone());
    // Revokes and edits made by other processes (the keygate CLI) reach this cache.
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

    // Last-used times are noted in memory on each request and written in batches.
    let flusher = gate.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let _ = flusher.verifier().flush_usage().await;
        }
    });

    let addr = std::env::var("KEYGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app_gate = gate.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ApiKeyAuth::new(app_gate.clone()))
            .service(hello)
            .service(create_item)
    })
    .bind(&addr)?;
    if let Some(bound) = server.addrs().first() {
        println!("listening on http://{bound}");
    }
    // Stops gracefully on Ctrl-C (actix-web handles the signal).
    server.run().await?;
    gate.verifier().flush_usage().await?;
    Ok(())
}

//! Run with `cargo run -p example-actix-quickstart`
//!
//! A protected actix-web API with no setup: a demo key is made at start and printed
//! once. It expires in 24 hours, and the next start revokes it before making a new one,
//! so restarts do not pile up working keys in the database.
//!
//! ```text
//! curl -H "Authorization: Bearer <key>" http://127.0.0.1:3000/hello
//! curl -X POST -H "X-API-KEY: <key>" http://127.0.0.1:3000/items
//! ```

use actix_web::{get, post, App, HttpResponse, HttpServer};
use keygate::manager::CreatedKey;
use keygate::store::PageRequest;
use keygate::{Actor, KeyGate, KeyManager, KeyRecord, KeyStore, NewKey, ScopeSet};
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

/// The tenant of the demo key.
const DEMO_TENANT: &str = "demo-tenant";

/// Revokes the demo keys earlier starts left in the store, then makes a new one that
/// expires in 24 hours: however often the quickstart starts, one demo key works.
///
/// Demo keys carry `{"demo": true}` in their metadata. Keys named `demo` in the demo
/// tenant with no metadata and no expiry (what earlier versions of this quickstart
/// made, one per start) are revoked too; any other key is left alone.
async fn fresh_demo_key(store: impl KeyStore) -> Result<CreatedKey, Box<dyn std::error::Error>> {
    let manager = KeyManager::builder(store).prefix("sk").env("live").build();
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
    let demo = fresh_demo_key(store.clone()).await?;
    println!("demo key (shown once): {}", demo.key.expose());
    println!(
        "it expires at {}; the next start revokes it and prints a new one",
        demo.record
            .expires_at
            .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
    );
    drop(demo);

    let gate = KeyGate::builder(store)
        .prefix("sk")
        .bearer()
        .header("X-API-KEY")
        .build();

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
    gate.shutdown().await?;
    Ok(())
}

//! Run with `cargo run -p example-data-entries-api`
//!
//! The Atomscale API's documented API-key contract, end to end:
//!
//! - the key travels in the `X-API-KEY` header, and only there;
//! - keys carry permissions `read`, `write`, `delete` and `admin` (everything), checked
//!   by a method policy: `GET` needs `read`, `POST` needs `write`, `DELETE` needs
//!   `delete` (each on the `data_entries` resource, which the bare permission covers);
//! - a revoked key stops working at once, even when it was revoked by the `keygate`
//!   CLI in another process: this service does not cache known keys.
//!
//! ```text
//! keygate keys create --name notebook --prefix atomscale --env live --scopes read,write
//! curl -H "X-API-KEY: atomscale_live_…" http://127.0.0.1:3000/data_entries/
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keygate::hash::KeyHasher;
use keygate::{KeyGate, MethodPolicy};
use keygate_moka::CachedStore;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
struct DataEntry {
    id: String,
    name: String,
    /// The id of the key that created it.
    created_by: String,
}

/// Data entries by tenant (the tenant of the key that made them).
#[derive(Debug, Default)]
struct Entries {
    by_tenant: Mutex<HashMap<String, Vec<DataEntry>>>,
    next_id: AtomicU64,
}

type AppState = Arc<Entries>;

impl Entries {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<DataEntry>>> {
        // A panic while holding the lock cannot leave an entry half-written.
        self.by_tenant.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"detail": "Data entry not found"})),
    )
        .into_response()
}

/// `GET /data_entries/` (`read`)
async fn list_entries(State(entries): State<AppState>, principal: Principal) -> Response {
    let list = entries
        .lock()
        .get(principal.tenant())
        .cloned()
        .unwrap_or_default();
    Json(list).into_response()
}

#[derive(Debug, Deserialize)]
struct NewEntry {
    name: String,
}

/// `POST /data_entries/` (`write`): `{"name": "…"}`.
async fn create_entry(
    State(entries): State<AppState>,
    principal: Principal,
    Json(new): Json<NewEntry>,
) -> Response {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"detail": "name must be 1 to 200 characters"})),
        )
            .into_response();
    }
    let n = entries.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let entry = DataEntry {
        id: format!("de_{n}"),
        name: name.to_owned(),
        created_by: principal.key_id().to_string(),
    };
    entries
        .lock()
        .entry(principal.tenant().to_owned())
        .or_default()
        .push(entry.clone());
    (StatusCode::CREATED, Json(entry)).into_response()
}

/// `GET /data_entries/{id}` (`read`)
async fn get_entry(
    State(entries): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let found = entries
        .lock()
        .get(principal.tenant())
        .and_then(|list| list.iter().find(|e| e.id == id).cloned());
    found.map_or_else(not_found, |e| Json(e).into_response())
}

/// `DELETE /data_entries/{id}` (`delete`)
async fn delete_entry(
    State(entries): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let mut all = entries.lock();
    let list = all.entry(principal.tenant().to_owned()).or_default();
    match list.iter().position(|e| e.id == id) {
        Some(i) => {
            list.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(),
    }
}

fn app(gate: KeyGate, entries: AppState) -> Router {
    Router::new()
        .route("/data_entries/", get(list_entries).post(create_entry))
        .route("/data_entries/{id}", get(get_entry).delete(delete_entry))
        // GET -> read:data_entries, POST -> write:data_entries, DELETE ->
        // delete:data_entries; a key's bare `read` is `read:*` and `admin` is `*`.
        .route_layer(RequireScope::method_policy(MethodPolicy::rest()))
        .with_state(entries)
        .layer(ApiKeyLayer::new(gate))
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();

    let url =
        std::env::var("KEYGATE_DATABASE_URL").unwrap_or_else(|_| "sqlite://keygate.db".to_owned());
    let db = keygate_sqlx::connect_any(&url).await?;
    // "The key is immediately invalidated": known keys are never cached here (TTL 0),
    // so every request reads the key's row and a revoke made by the CLI in another
    // process refuses the very next request. (A cache following SQLite's change table
    // would lag by up to its poll interval, about a second.) Unknown keys are still
    // remembered for a few seconds, which shields the store from floods of bad keys.
    let store = CachedStore::builder(db.clone()).ttl(Duration::ZERO).build();
    let _feed = store.follow(db.invalidations());

    // Hash like the CLI that made the keys (KEYGATE_PEPPER, when set).
    let hasher = KeyHasher::from_env();
    let gate = KeyGate::builder(store)
        .hasher(hasher)
        .prefix("atomscale")
        .envs(["live"])
        .header("X-API-KEY")
        .build();

    let addr = std::env::var("KEYGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(gate.clone(), AppState::default()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    gate.shutdown().await?;
    Ok(())
}

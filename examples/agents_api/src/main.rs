//! Run with `cargo run -p example-agents-api`
//!
//! The Neo public API's documented API-key contract, end to end:
//!
//! - keys look like `neo_sk_prod_…` and travel as `Authorization: Bearer <key>`;
//! - a key belongs to a tenant and carries that tenant's access: there is no tenant or
//!   client header, `GET /public-api/agents` lists the key's tenant's agents only;
//! - keys are made, rotated (the old key works 24 more hours) and revoked only with
//!   the `keygate` CLI: this API has no route that mints keys;
//! - a revoke applies at once; an expiry is optional;
//! - `keygate keys list` shows when each key was last used: this service writes
//!   last-used times every second and on shutdown.
//!
//! ```text
//! keygate keys create --name "Billing export script" --prefix neo_sk --env prod --tenant contoso
//! curl -H "Authorization: Bearer neo_sk_prod_…" http://127.0.0.1:3000/public-api/agents
//! keygate keys list --tenant contoso
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use keygate::hash::KeyHasher;
use keygate::KeyGate;
use keygate_moka::CachedStore;
use keygate_tower::{ApiKeyLayer, Principal};
use serde::Serialize;
use serde_json::{json, Value};

/// How often last-used times are written to the store.
const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize)]
struct Agent {
    id: &'static str,
    name: &'static str,
    status: &'static str,
}

/// Agents by tenant. A real service reads them from its own tables; the tenant always
/// comes from the verified key.
type Agents = Arc<HashMap<&'static str, Vec<Agent>>>;

fn seed_agents() -> Agents {
    let agent = |id, name, status| Agent { id, name, status };
    Arc::new(HashMap::from([
        (
            "contoso",
            vec![
                agent("agt_contoso_triage", "Ticket triage", "active"),
                agent("agt_contoso_billing", "Billing reconciliation", "active"),
            ],
        ),
        (
            "fabrikam",
            vec![agent(
                "agt_fabrikam_onboarding",
                "User onboarding",
                "paused",
            )],
        ),
    ]))
}

fn tenant_agents<'a>(agents: &'a Agents, principal: &Principal) -> &'a [Agent] {
    agents
        .get(principal.tenant())
        .map_or(&[][..], Vec::as_slice)
}

/// `GET /public-api/agents`: the agents of the key's tenant.
async fn list_agents(State(agents): State<Agents>, principal: Principal) -> Json<Value> {
    Json(json!({ "data": tenant_agents(&agents, &principal) }))
}

/// `GET /public-api/agents/{id}`: 404 for another tenant's agent, as for none at all.
async fn get_agent(
    State(agents): State<Agents>,
    principal: Principal,
    Path(id): Path<String>,
) -> (StatusCode, Json<Value>) {
    match tenant_agents(&agents, &principal)
        .iter()
        .find(|a| a.id == id)
    {
        Some(agent) => (StatusCode::OK, Json(json!({ "data": agent }))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Not Found", "message": format!("No agent {id}.")})),
        ),
    }
}

fn app(gate: KeyGate, agents: Agents) -> Router {
    // No key-management routes: keys can't create other keys.
    Router::new()
        .route("/public-api/agents", get(list_agents))
        .route("/public-api/agents/{id}", get(get_agent))
        .with_state(agents)
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
    // "Revoke disables the key immediately": known keys are not cached (TTL 0), so a
    // revoke made with the CLI applies to the next request. The cache still collapses
    // concurrent lookups and briefly remembers unknown keys.
    let store = CachedStore::builder(db.clone()).ttl(Duration::ZERO).build();
    let _feed = store.follow(db.invalidations());

    // Hash like the CLI that made the keys (KEYGATE_PEPPER, when set).
    let hasher = KeyHasher::from_env();
    let gate = KeyGate::builder(store)
        .hasher(hasher)
        .prefix("neo_sk")
        .envs(["prod"])
        .bearer()
        // Last-used times every second, so `keygate keys list` shows them at once.
        .flush_interval(Some(USAGE_FLUSH_INTERVAL))
        .build();

    let addr = std::env::var("KEYGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(gate.clone(), seed_agents()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // And the last ones, noted since the previous tick.
    gate.shutdown().await?;
    Ok(())
}

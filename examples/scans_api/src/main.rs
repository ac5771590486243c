//! Run with `cargo run -p example-scans-api`
//!
//! The Neolens API's documented API-key contract, end to end:
//!
//! - keys look like `neolens_live_…` and travel only as `Authorization: Bearer <key>`;
//! - every key has a role: `radiologist` (`read:scans`, `read:reports`),
//!   `data_engineer` (`read:scans`, `write:exports`) or `admin` (`*`), seeded into the
//!   store at start when missing (a role an operator changed is left as it is);
//! - `GET /v1/auth/me` answers `{"user":{"id","email","role","scopes"}}`;
//! - a missing or bad key gets `401 {"error":"Unauthorized","message":"Missing or invalid API key."}`,
//!   a key without the scope `403 {"error":"Forbidden","message":"You do not have permission to perform this action."}`;
//! - a rotated key keeps working for 24 hours.
//!
//! Keys are made with the `keygate` CLI against the same `KEYGATE_DATABASE_URL`
//! (default `sqlite://keygate.db`), once this service has seeded the roles:
//!
//! ```text
//! keygate keys create --name "Dr. Ada" --prefix neolens --env live --role radiologist \
//!     --kind personal --owner usr_001 --metadata email=radiologist@example.com
//! curl -H "Authorization: Bearer neolens_live_…" http://127.0.0.1:3000/v1/auth/me
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate::hash::KeyHasher;
use keygate::role::Role;
use keygate::{Actor, KeyGate, KeyManager, ScopeSet};
use keygate_admin::dto::UserView;
use keygate_moka::CachedStore;
use keygate_tower::{ApiKeyLayer, Principal, RequireScope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The roles of the Neolens docs: name, scopes, description.
const ROLES: &[(&str, &[&str], &str)] = &[
    (
        "radiologist",
        &["read:scans", "read:reports"],
        "Clinical user with access to patient scan analysis and diagnostic reports.",
    ),
    (
        "data_engineer",
        &["read:scans", "write:exports"],
        "User managing integrations and exports.",
    ),
    ("admin", &["*"], "Full access to API and user management."),
];

/// Creates the [`ROLES`] the store does not have yet. A role that exists is left as it
/// is: an operator may have changed it with `keygate roles update` (e.g. narrowed
/// `admin`), and a restart must not undo that.
async fn seed_missing_roles(manager: &KeyManager) -> Result<(), Box<dyn std::error::Error>> {
    let existing: Vec<String> = manager
        .list_roles(&Actor::system())
        .await?
        .iter()
        .filter(|role| role.is_global())
        .map(|role| role.name().to_owned())
        .collect();
    for (name, scopes, description) in ROLES {
        if existing.iter().any(|e| e == name) {
            continue;
        }
        let role = Role::new(*name, ScopeSet::parse(*scopes)?)?.with_description(*description);
        manager.put_role(&Actor::system(), role).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Scan {
    id: String,
    patient_id: String,
    modality: String,
    finding: String,
    status: String,
}

#[derive(Debug)]
struct Data {
    scans: Mutex<Vec<Scan>>,
    exports: AtomicU64,
}

type AppState = Arc<Data>;

/// A list response: `{"data": [...]}`.
#[derive(Debug, Serialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    id: String,
    scan_id: String,
    summary: String,
}

fn seed_scans() -> Vec<Scan> {
    [
        (
            "12345",
            "pat_001",
            "CT",
            "No acute intracranial abnormality.",
        ),
        ("12346", "pat_002", "MRI", "Small meniscal tear, left knee."),
        ("12347", "pat_003", "X-ray", "Right lower lobe opacity."),
    ]
    .into_iter()
    .map(|(id, patient, modality, finding)| Scan {
        id: id.to_owned(),
        patient_id: patient.to_owned(),
        modality: modality.to_owned(),
        finding: finding.to_owned(),
        status: "pending".to_owned(),
    })
    .collect()
}

fn scans(state: &Data) -> std::sync::MutexGuard<'_, Vec<Scan>> {
    // A panic while holding the lock cannot leave a scan half-written: recover the data.
    state.scans.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET /v1/scan/results` (`read:scans`)
async fn scan_results(State(state): State<AppState>) -> Json<List<Scan>> {
    Json(List {
        data: scans(&state).clone(),
    })
}

#[derive(Debug, Deserialize)]
struct ScanUpdate {
    status: String,
}

/// `POST /v1/scans/{id}` (`write:scans`): `{"status": "reviewed"}`.
async fn update_scan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(update): Json<ScanUpdate>,
) -> Response {
    let status = update.status.trim();
    if status.is_empty() || status.len() > 32 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({"error": "Unprocessable Entity", "message": "status must be 1 to 32 characters."}),
            ),
        )
            .into_response();
    }
    let mut scans = scans(&state);
    match scans.iter_mut().find(|s| s.id == id) {
        Some(scan) => {
            status.clone_into(&mut scan.status);
            Json(scan.clone()).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Not Found", "message": format!("No scan {id}.")})),
        )
            .into_response(),
    }
}

/// `GET /v1/reports` (`read:reports`)
async fn reports(State(state): State<AppState>) -> Json<List<Report>> {
    let data = scans(&state)
        .iter()
        .map(|s| Report {
            id: format!("rep_{}", s.id),
            scan_id: s.id.clone(),
            summary: s.finding.clone(),
        })
        .collect();
    Json(List { data })
}

/// `POST /v1/exports` (`write:exports`): queues an export of the scan results.
async fn create_export(
    State(state): State<AppState>,
    principal: Principal,
) -> (StatusCode, Json<Value>) {
    let n = state.exports.fetch_add(1, Ordering::Relaxed) + 1;
    let requested_by = UserView::new(&principal).id;
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"export": {"id": format!("exp_{n:03}"), "status": "queued", "requestedBy": requested_by}}),
        ),
    )
}

/// `GET /v1/auth/me`: the seed's shape.
#[derive(Debug, Serialize)]
struct Me {
    user: UserView,
}

/// `GET /v1/auth/me` (any valid key): `{"user":{"id","email","role","scopes"}}`, the
/// id being the key's owner (or the key id), the email the key's `email` metadata.
async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        user: UserView::new(&principal),
    })
}

fn app(gate: KeyGate, state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/scan/results",
            get(scan_results).route_layer(RequireScope::new("read:scans")),
        )
        .route(
            "/v1/scans/{id}",
            post(update_scan).route_layer(RequireScope::new("write:scans")),
        )
        .route(
            "/v1/reports",
            get(reports).route_layer(RequireScope::new("read:reports")),
        )
        .route(
            "/v1/exports",
            post(create_export).route_layer(RequireScope::new("write:exports")),
        )
        .route("/v1/auth/me", get(me))
        .with_state(state)
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
    // Known keys are not cached (TTL 0): every request reads the key's row (one indexed
    // lookup), so a revoke made with the CLI applies to the very next request. The
    // cache still collapses concurrent lookups of one key and briefly remembers
    // unknown keys; the change feed drops entries other processes changed.
    let store = CachedStore::builder(db.clone()).ttl(Duration::ZERO).build();
    let _feed = store.follow(db.invalidations());

    // Hash like the CLI that made the keys (KEYGATE_PEPPER, when set).
    let hasher = KeyHasher::from_env();
    let gate = KeyGate::builder(store)
        .hasher(hasher)
        .prefix("neolens")
        .envs(["live"])
        .bearer()
        .build();
    // The manager shares the gate's store, hasher, prefix and environment.
    let manager = gate.manager();
    seed_missing_roles(&manager).await?;
    let state = Arc::new(Data {
        scans: Mutex::new(seed_scans()),
        exports: AtomicU64::new(0),
    });

    let addr = std::env::var("KEYGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(gate.clone(), state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    gate.shutdown().await?;
    Ok(())
}

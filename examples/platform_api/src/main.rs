//! Run with `cargo run -p example-platform-api`
//!
//! NeuroAI's platform API (seed 003): its documented API-key contract end to end, on
//! actix-web, with keys made by the `keygate` CLI in the store at
//! `KEYGATE_DATABASE_URL` (default `sqlite://keygate.db`), listening on `KEYGATE_ADDR`
//! (default `127.0.0.1:3000`).
//!
//! - Keys `nai_prod_…` / `nai_dev_…` (separate keys per environment), of three kinds:
//!   personal (tied to an owner), team and service.
//! - Roles `viewer`, `developer`, `administrator`, `api_manager`, created at start when
//!   missing; custom roles with `keygate roles create NAME --scopes …`.
//! - The key as `Authorization: Bearer` (recommended) or `?api_key=`; either way it is
//!   removed before the handlers see the request (`GET /v1/echo` shows what they see).
//! - `/v1/api-keys` (create, list, `GET/PATCH/DELETE {id}`, `POST {id}/rotate`),
//!   `GET /v1/auth/verify`, `GET /v1/auth/me`, `GET /v1/audit-logs` (keygate-admin).
//!   A key never gets more than its creator holds: a personal key cannot exceed its
//!   creator's role.
//! - `POST /v1/users/{id}/deactivate` (administrator only): revokes the user's personal
//!   keys; team and service keys they own keep working.
//! - IP and referrer restrictions per key (403), per-key rate limits (429), an expired
//!   key gets 401 `expired_api_key`.
//! - `/v1/agents`: read for viewers, write for developers, delete for administrators;
//!   `/v1/telemetry`: ingest with a service key.
//! - Errors as `{"error": {"code", "message", "details"}}` with specific codes
//!   (`missing_api_key`, `invalid_api_key`, `expired_api_key`, `insufficient_scope`,
//!   `ip_not_allowed`, `referrer_not_allowed`, `rate_limit_exceeded`).
//!
//! ```text
//! keygate keys create --name "Ops admin" --prefix nai --env prod --role administrator \
//!     --kind personal --owner ada --tenant neuro
//! curl -H "Authorization: Bearer nai_prod_…" http://127.0.0.1:3000/v1/auth/verify
//! ```

mod data;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use keygate::hash::KeyHasher;
use keygate::render::NestedRenderer;
use keygate::role::Role;
use keygate::{Actor, KeyGate, KeyManager, KeyStore, MethodPolicy, RateLimits, ScopeSet};
use keygate_actix::{ApiKeyAuth, Principal, RequireScope};
use keygate_admin::dto::ApiError;
use keygate_admin::Admin;
use keygate_moka::CachedStore;
use serde_json::{json, Map, Value};

use crate::data::{Kind, Platform, AGENTS, TELEMETRY};

/// The key environments this API accepts.
const ENVS: [&str; 2] = ["prod", "dev"];

/// The built-in roles: name, scopes, what it is for.
const ROLES: [(&str, &[&str], &str); 4] = [
    (
        "viewer",
        &["read:agents", "read:telemetry"],
        "Read-only access: monitoring, analytics, reporting",
    ),
    (
        "developer",
        &["read:agents", "write:agents", "read:telemetry"],
        "Create and modify agents: development, testing",
    ),
    (
        "administrator",
        &["admin"],
        "Full access including user management: production deployments",
    ),
    (
        "api_manager",
        &[
            "read:api-keys",
            "write:api-keys",
            "delete:api-keys",
            "read:audit-logs",
            "read:agents",
            "read:telemetry",
        ],
        "Manage API keys and integrations: DevOps, security",
    ),
];

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let database_url = env_or("KEYGATE_DATABASE_URL", "sqlite://keygate.db");
    let addr = env_or("KEYGATE_ADDR", "127.0.0.1:3000");
    // Hash like the CLI that made the keys (KEYGATE_PEPPER, when set).
    let hasher = KeyHasher::from_env();

    // Keys in SQL (created and migrated on first use), cached in memory. Changes made
    // by other processes (a `keygate keys revoke`) reach the cache within a second.
    let store = keygate_sqlx::connect_any(&database_url).await?;
    let cached = CachedStore::new(store.clone());
    let _changes = cached.follow(store.invalidations());

    let gate = KeyGate::builder(cached.clone())
        .prefix("nai")
        .envs(ENVS)
        .hasher(hasher.clone())
        .bearer()
        .query("api_key")
        .hide_credentials(true)
        .renderer(NestedRenderer::new().specific_codes())
        // Only keys given a limit of their own (`--rate-limit`, `rateLimit`) are limited.
        .rate_limits(RateLimits::in_memory())
        .build();
    // Changes made over HTTP go through the same cache, so they apply at once.
    let manager = KeyManager::builder(cached)
        .hasher(hasher)
        .prefix("nai")
        .env("prod")
        .envs(ENVS)
        .build();
    seed_roles(&manager).await?;
    let admin = Admin::new(manager.clone());
    let manager = web::Data::new(manager);
    let platform = web::Data::new(Platform::default());

    let app_gate = gate.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ApiKeyAuth::new(app_gate.clone()))
            .app_data(platform.clone())
            .app_data(manager.clone())
            .configure(keygate_admin::actix::configure(admin.clone()))
            .service(
                web::resource("/v1/users/{id}/deactivate")
                    .wrap(RequireScope::new("admin"))
                    .route(web::post().to(deactivate_user)),
            )
            .route("/v1/echo", web::get().to(echo))
            .service(
                // GET needs read:agents, POST/PATCH write:agents, DELETE delete:agents.
                web::scope("/v1/agents")
                    .wrap(RequireScope::method_policy(MethodPolicy::rest()))
                    .route("", web::get().to(list_agents))
                    .route("", web::post().to(create_agent))
                    .route("/{id}", web::get().to(get_agent))
                    .route("/{id}", web::patch().to(update_agent))
                    .route("/{id}", web::delete().to(delete_agent)),
            )
            .service(
                web::scope("/v1/telemetry")
                    .wrap(RequireScope::method_policy(MethodPolicy::rest()))
                    .route("", web::get().to(list_telemetry))
                    .route("", web::post().to(ingest_telemetry)),
            )
            .default_service(web::to(not_found))
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

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Creates the built-in roles that are missing. Existing ones are kept as they are,
/// so a role redefined with `keygate roles update` survives a restart.
async fn seed_roles(manager: &KeyManager) -> Result<(), Box<dyn std::error::Error>> {
    for (name, scopes, description) in ROLES {
        // The global role (a tenant's own role of that name does not count).
        if manager.store().get_role("", "", name).await?.is_none() {
            let role = Role::new(name, ScopeSet::parse(scopes)?)?.with_description(description);
            manager.put_role(&Actor::system(), role).await?;
        }
    }
    Ok(())
}

/// `POST /v1/users/{id}/deactivate`: revokes every personal key of the user, in the
/// caller's tenant. Administrator only (the route needs `admin`).
async fn deactivate_user(
    req: HttpRequest,
    p: Principal,
    manager: web::Data<KeyManager>,
    user: web::Path<String>,
) -> HttpResponse {
    let actor = Actor::key(p.into_inner()).from_ip(req.peer_addr().map(|a| a.ip()));
    match manager.deactivate_owner(&actor, None, &user).await {
        Ok(revoked) => HttpResponse::Ok().json(json!({
            "user": user.as_str(),
            "deactivated": true,
            "revokedKeys": revoked.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        Err(err) => api_error(&ApiError::from(err)),
    }
}

/// `GET /v1/echo`: who called, and what the handler saw of the request. The key is
/// gone from both the `Authorization` header and the query string.
async fn echo(req: HttpRequest, p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "keyId": p.key_id().to_string(),
        "kind": p.kind().as_str(),
        "owner": p.owner(),
        "role": p.role(),
        "authorization": req.headers().get("authorization").and_then(|v| v.to_str().ok()),
        "query": req.uri().query(),
    }))
}

async fn list_agents(p: Principal, platform: web::Data<Platform>) -> HttpResponse {
    list(&p, &platform, AGENTS)
}

async fn create_agent(
    p: Principal,
    platform: web::Data<Platform>,
    body: web::Bytes,
) -> HttpResponse {
    match json_object(&body) {
        Some(fields) => HttpResponse::Created().json(platform.create(
            p.tenant(),
            AGENTS,
            p.key_id().as_str(),
            fields,
        )),
        None => bad_body(),
    }
}

async fn get_agent(
    p: Principal,
    platform: web::Data<Platform>,
    id: web::Path<String>,
) -> HttpResponse {
    match platform.get(p.tenant(), AGENTS, &id) {
        Some(agent) => HttpResponse::Ok().json(agent),
        None => no_such(AGENTS, &id),
    }
}

async fn update_agent(
    p: Principal,
    platform: web::Data<Platform>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(fields) = json_object(&body) else {
        return bad_body();
    };
    match platform.update(p.tenant(), AGENTS, &id, fields) {
        Some(agent) => HttpResponse::Ok().json(agent),
        None => no_such(AGENTS, &id),
    }
}

async fn delete_agent(
    p: Principal,
    platform: web::Data<Platform>,
    id: web::Path<String>,
) -> HttpResponse {
    if platform.delete(p.tenant(), AGENTS, &id) {
        HttpResponse::Ok().json(json!({"id": id.as_str(), "object": "agent", "deleted": true}))
    } else {
        no_such(AGENTS, &id)
    }
}

async fn list_telemetry(p: Principal, platform: web::Data<Platform>) -> HttpResponse {
    list(&p, &platform, TELEMETRY)
}

/// `POST /v1/telemetry`: a service key sends an event.
async fn ingest_telemetry(
    p: Principal,
    platform: web::Data<Platform>,
    body: web::Bytes,
) -> HttpResponse {
    match json_object(&body) {
        Some(fields) => HttpResponse::Accepted().json(platform.create(
            p.tenant(),
            TELEMETRY,
            p.key_id().as_str(),
            fields,
        )),
        None => bad_body(),
    }
}

fn list(p: &Principal, platform: &Platform, kind: Kind) -> HttpResponse {
    HttpResponse::Ok().json(json!({"object": "list", "data": platform.list(p.tenant(), kind)}))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    api_error(&ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.path()
    )))
}

fn no_such(kind: Kind, id: &str) -> HttpResponse {
    api_error(&ApiError::not_found(format!(
        "No {} with id {id}",
        kind.object
    )))
}

/// A request body that must be a JSON object.
fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

fn bad_body() -> HttpResponse {
    api_error(&ApiError::bad_request(
        "The request body must be a JSON object",
    ))
}

/// The admin API's error shape, `{"error": {"code", "message", "details"}}`, for the
/// service's own errors too.
fn api_error(err: &ApiError) -> HttpResponse {
    HttpResponse::build(
        StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type("application/json")
    .body(err.to_bytes())
}

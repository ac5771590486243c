//! Run with `cargo run -p example-crm-api`
//!
//! Scopien's CRM API (seed 001): its documented API-key contract end to end, on
//! actix-web, with keys made by the `keygate` CLI in the store at
//! `KEYGATE_DATABASE_URL` (default `sqlite://keygate.db`), listening on `KEYGATE_ADDR`
//! (default `127.0.0.1:3000`).
//!
//! - Keys `sk_live_…` and `sk_test_…` as `Authorization: Bearer`. A test key sees only
//!   test data and defaults to 100 requests/hour; a live key sees live data and
//!   defaults to 1000/hour. A key's own limit (`--rate-limit`, `rateLimit`) wins.
//! - `/v1/opportunities`, `/v1/accounts`, `/v1/contacts`, `/v1/reports`: `GET` list,
//!   `POST` create, `GET`/`PUT`/`PATCH`/`DELETE` `/{id}`. The method decides the
//!   scope: `read:<resource>`, `write:<resource>`, `delete:<resource>`; a bare `read`
//!   covers every resource, `admin` everything. Per-resource grants
//!   (`{"opportunities": ["read", "write"]}`) normalise to the same scopes.
//! - `POST/GET /v1/api-keys`, `GET/PATCH/DELETE /v1/api-keys/{id}` (keygate-admin):
//!   key management with an admin key; the new key is shown once.
//! - `GET /v1/auth/test`: `{"authenticated", "keyId", "scopes", "rateLimit"}`.
//! - `X-RateLimit-Limit/Remaining/Reset` on every response to a valid key; errors as
//!   `{"error": {"code", "message", "details"}}`, 429 with `retryAfter` and
//!   `Retry-After`.
//!
//! ```text
//! keygate keys create --name "Admin" --scopes admin --tenant acme
//! curl -H "Authorization: Bearer sk_live_…" http://127.0.0.1:3000/v1/auth/test
//! ```

mod data;

use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use keygate::hash::KeyHasher;
use keygate::render::NestedRenderer;
use keygate::{Authenticated, KeyGate, KeyManager, MethodPolicy, RateLimitSpec, RateLimits};
use keygate_actix::{ApiKeyAuth, Principal, RequireScope};
use keygate_admin::Admin;
use keygate_moka::CachedStore;
use serde_json::{json, Map, Value};

use crate::data::{Crm, Partition, Resource, RESOURCES};

/// The key environments this API accepts.
const ENVS: [&str; 2] = ["live", "test"];

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
        .prefix("sk")
        .envs(ENVS)
        .hasher(hasher.clone())
        .bearer()
        .renderer(NestedRenderer::new())
        .rate_limits(
            RateLimits::in_memory()
                .env_default("test", RateLimitSpec::per_hour(100))
                .env_default("live", RateLimitSpec::per_hour(1000)),
        )
        .build();
    // Keys made over HTTP go through the same cache, so a revoke applies at once.
    let admin = Admin::new(
        KeyManager::builder(cached)
            .hasher(hasher)
            .prefix("sk")
            .env("live")
            .envs(ENVS)
            .build(),
    );
    let crm = web::Data::new(Crm::default());

    let app_gate = gate.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ApiKeyAuth::new(app_gate.clone()))
            .app_data(crm.clone())
            .route("/v1/auth/test", web::get().to(auth_test))
            .configure(keygate_admin::actix::configure(admin.clone()))
            .configure(resources)
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

/// The four resources, each guarded by the REST method policy on its own path:
/// `GET /v1/accounts` needs `read:accounts`, `DELETE /v1/accounts/{id}`
/// `delete:accounts`. Unknown paths fall through to a 404, not a 403.
fn resources(cfg: &mut web::ServiceConfig) {
    for resource in RESOURCES {
        cfg.service(
            web::scope(&format!("/v1/{}", resource.name))
                .wrap(RequireScope::method_policy(MethodPolicy::rest()))
                .route(
                    "",
                    web::get().to(move |p: Principal, crm: web::Data<Crm>| async move {
                        list(resource, &p, &crm)
                    }),
                )
                .route(
                    "",
                    web::post().to(
                        move |p: Principal, crm: web::Data<Crm>, body: web::Bytes| async move {
                            create(resource, &p, &crm, &body)
                        },
                    ),
                )
                .route(
                    "/{id}",
                    web::get().to(
                        move |p: Principal, crm: web::Data<Crm>, id: web::Path<String>| async move {
                            get_one(resource, &p, &crm, &id)
                        },
                    ),
                )
                .route(
                    "/{id}",
                    web::put().to(
                        move |p: Principal,
                              crm: web::Data<Crm>,
                              id: web::Path<String>,
                              body: web::Bytes| async move {
                            update(resource, &p, &crm, &id, &body, true)
                        },
                    ),
                )
                .route(
                    "/{id}",
                    web::patch().to(
                        move |p: Principal,
                              crm: web::Data<Crm>,
                              id: web::Path<String>,
                              body: web::Bytes| async move {
                            update(resource, &p, &crm, &id, &body, false)
                        },
                    ),
                )
                .route(
                    "/{id}",
                    web::delete().to(
                        move |p: Principal, crm: web::Data<Crm>, id: web::Path<String>| async move {
                            delete(resource, &p, &crm, &id)
                        },
                    ),
                ),
        );
    }
}

/// The data a key may see: its tenant's, in its environment (test or live).
fn partition(p: &Principal) -> Partition {
    Partition {
        tenant: p.tenant().to_owned(),
        env: p.env().to_owned(),
    }
}

fn list(resource: Resource, p: &Principal, crm: &Crm) -> HttpResponse {
    let part = partition(p);
    HttpResponse::Ok().json(json!({
        "object": "list",
        "livemode": part.env == "live",
        "data": crm.list(&part, resource),
    }))
}

fn create(resource: Resource, p: &Principal, crm: &Crm, body: &[u8]) -> HttpResponse {
    match json_object(body) {
        Some(fields) => HttpResponse::Created().json(crm.create(&partition(p), resource, fields)),
        None => bad_body(),
    }
}

fn get_one(resource: Resource, p: &Principal, crm: &Crm, id: &str) -> HttpResponse {
    match crm.get(&partition(p), resource, id) {
        Some(record) => HttpResponse::Ok().json(record),
        None => no_such(resource, id),
    }
}

fn update(
    resource: Resource,
    p: &Principal,
    crm: &Crm,
    id: &str,
    body: &[u8],
    replace: bool,
) -> HttpResponse {
    let Some(fields) = json_object(body) else {
        return bad_body();
    };
    match crm.update(&partition(p), resource, id, fields, replace) {
        Some(record) => HttpResponse::Ok().json(record),
        None => no_such(resource, id),
    }
}

fn delete(resource: Resource, p: &Principal, crm: &Crm, id: &str) -> HttpResponse {
    if crm.delete(&partition(p), resource, id) {
        HttpResponse::Ok().json(json!({"id": id, "object": resource.object, "deleted": true}))
    } else {
        no_such(resource, id)
    }
}

/// `GET /v1/auth/test`: the seed's answer for a working key.
async fn auth_test(req: HttpRequest, p: Principal) -> HttpResponse {
    let rate_limit = req
        .extensions()
        .get::<Authenticated>()
        .and_then(|a| a.rate_limit.as_ref().map(|r| r.summary()));
    HttpResponse::Ok().json(json!({
        "authenticated": true,
        "keyId": p.key_id().to_string(),
        "scopes": p.scopes().to_strings(),
        "rateLimit": rate_limit,
    }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        HttpResponse::NotFound(),
        "not_found",
        "Not found",
        &format!("No route for {} {}", req.method(), req.path()),
    )
}

fn no_such(resource: Resource, id: &str) -> HttpResponse {
    error(
        HttpResponse::NotFound(),
        "not_found",
        "Not found",
        &format!("No {} with id {id}", resource.object),
    )
}

/// A request body that must be a JSON object.
fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

fn bad_body() -> HttpResponse {
    error(
        HttpResponse::BadRequest(),
        "bad_request",
        "Invalid request body",
        "The request body must be a JSON object",
    )
}

/// The seed's error shape, for the service's own errors (fields in the seed's order).
fn error(
    mut status: actix_web::HttpResponseBuilder,
    code: &str,
    message: &str,
    details: &str,
) -> HttpResponse {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        error: Body<'a>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
        details: &'a str,
    }
    status.json(Envelope {
        error: Body {
            code,
            message,
            details,
        },
    })
}

//! The admin API for actix-web.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use keygate::Authenticated;

use crate::dto::ApiError;
use crate::handler::{Admin, AdminRequest, AdminResponse};
use crate::routes::{Operation, ROUTES};

/// Registers the admin routes on an app or scope that has keygate's `ApiKeyAuth`
/// middleware (without it every route answers 401). Routes are added one by one, so
/// they never shadow the app's own `/v1/...` routes.
///
/// ```
/// use actix_web::App;
/// use keygate::{KeyManager, MemoryStore};
/// let admin = keygate_admin::Admin::new(KeyManager::builder(MemoryStore::new()).build());
/// let app = App::new().configure(keygate_admin::actix::configure(admin));
/// # let _ = app;
/// ```
pub fn configure(admin: Admin) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        for route in ROUTES {
            let method = Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::GET);
            let op = route.operation;
            let admin = admin.clone();
            cfg.route(
                route.path,
                web::method(method).to(move |req: HttpRequest, payload: web::Payload| {
                    handle(admin.clone(), op, req, payload)
                }),
            );
        }
    }
}

/// The admin routes as a [`Scope`](actix_web::Scope) with an empty prefix. Register it
/// after your own routes: a scope answers 404 for paths it does not know.
pub fn scope(admin: Admin) -> actix_web::Scope {
    web::scope("").configure(configure(admin))
}

/// `GET /v1/openapi.json`, public: register it outside the key middleware. The
/// document describes `admin` as configured ([`Admin::openapi`]).
///
/// ```
/// use actix_web::App;
/// use keygate::{KeyGate, MemoryStore};
/// let admin = keygate_admin::Admin::for_gate(&KeyGate::builder(MemoryStore::new()).build());
/// let app = App::new().configure(keygate_admin::actix::configure_openapi(&admin));
/// # let _ = app;
/// ```
pub fn configure_openapi(admin: &Admin) -> impl FnOnce(&mut web::ServiceConfig) {
    let body = web::Bytes::from(serde_json::to_vec(&admin.openapi()).unwrap_or_default());
    move |cfg| {
        cfg.route(
            "/v1/openapi.json",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        );
    }
}

/// The secret-scanning partner endpoint (`POST /v1/secret-scanning/github`), public:
/// register it outside the key middleware (the scanner is authenticated by its
/// signature).
///
/// ```
/// use actix_web::App;
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::secret_scanning::SecretScanning;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let app = App::new().configure(keygate_admin::actix::configure_secret_scanning(SecretScanning::new(gate.manager())));
/// # let _ = app;
/// ```
pub fn configure_secret_scanning(
    scanning: crate::secret_scanning::SecretScanning,
) -> impl FnOnce(&mut web::ServiceConfig) {
    use crate::secret_scanning::{DEFAULT_PATH, KEY_IDENTIFIER_HEADER, SIGNATURE_HEADER};
    move |cfg| {
        cfg.route(
            DEFAULT_PATH,
            web::post().to(move |req: HttpRequest, mut payload: web::Payload| {
                let scanning = scanning.clone();
                async move {
                    let limit = crate::DEFAULT_BODY_LIMIT * 4;
                    let mut body = web::BytesMut::new();
                    while let Some(chunk) = payload.next().await {
                        let Ok(chunk) = chunk else {
                            return HttpResponse::BadRequest()
                                .content_type("application/json")
                                .body(r#"{"error":"the report could not be read"}"#);
                        };
                        if body.len() + chunk.len() > limit {
                            return HttpResponse::PayloadTooLarge()
                                .content_type("application/json")
                                .body(r#"{"error":"the report is too large"}"#);
                        }
                        body.extend_from_slice(&chunk);
                    }
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let answer = scanning
                        .handle(
                            header(KEY_IDENTIFIER_HEADER).as_deref(),
                            header(SIGNATURE_HEADER).as_deref(),
                            &body,
                        )
                        .await;
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(answer.status)
                            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
                    )
                    .content_type("application/json")
                    .body(answer.body)
                }
            }),
        );
    }
}

async fn handle(
    admin: Admin,
    op: Operation,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    let limit = admin.limit();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= limit => body.extend_from_slice(&chunk),
            Ok(_) => return to_response(admin.refuse(ApiError::too_large(limit))),
            Err(_) => {
                return to_response(
                    admin.refuse(ApiError::bad_request("the request body could not be read")),
                )
            }
        }
    }
    // Copy out of the extensions: their RefCell borrow must not live across an await.
    let authenticated = req.extensions().get::<Authenticated>().cloned();
    let request = AdminRequest {
        authenticated: authenticated.as_ref(),
        client_ip: req.peer_addr().map(|a| a.ip()),
        path_param: req
            .match_info()
            .get("id")
            .or_else(|| req.match_info().get("name")),
        query: Some(req.query_string()).filter(|q| !q.is_empty()),
        content_type: req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body: &body,
    };
    let response = admin.handle(op, request).await;
    to_response(response)
}

/// An [`AdminResponse`] (or a dashboard page) as the framework's response.
pub(crate) fn to_response(answer: AdminResponse) -> HttpResponse {
    let mut response = HttpResponse::build(
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in answer.headers {
        response.append_header((name, value));
    }
    response.body(answer.body)
}

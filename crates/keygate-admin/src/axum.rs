//! The admin API as an axum `Router`.

use axum::body::Body;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, on, MethodFilter, MethodRouter};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use keygate::Authenticated;

use crate::dto::ApiError;
use crate::handler::{Admin, AdminRequest, AdminResponse};
use crate::routes::{Operation, ROUTES};

/// The admin routes. Put them behind `keygate_tower::ApiKeyLayer`; without it every
/// route answers 401.
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::Admin;
/// use keygate_tower::ApiKeyLayer;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let admin = Admin::for_gate(&gate);
/// let app: axum::Router = keygate_admin::axum::router(admin.clone())
///     .layer(ApiKeyLayer::new(gate))
///     .merge(keygate_admin::axum::openapi_router(&admin));
/// ```
pub fn router(admin: Admin) -> Router {
    let mut router = Router::new();
    let mut seen: Vec<&str> = Vec::new();
    for path in ROUTES.iter().map(|r| r.path) {
        if seen.contains(&path) {
            continue;
        }
        seen.push(path);
        let mut methods: MethodRouter<Admin> = MethodRouter::new();
        for route in ROUTES.iter().filter(|r| r.path == path) {
            let filter = match route.method {
                "POST" => MethodFilter::POST,
                "PATCH" => MethodFilter::PATCH,
                "PUT" => MethodFilter::PUT,
                "DELETE" => MethodFilter::DELETE,
                _ => MethodFilter::GET,
            };
            let op = route.operation;
            methods = methods.merge(on(
                filter,
                move |state: State<Admin>, params: RawPathParams, req: Request| {
                    handle(state, params, req, op)
                },
            ));
        }
        router = router.route(path, methods);
    }
    router.with_state(admin)
}

/// `GET /v1/openapi.json`, public: merge it outside the key layer. The document
/// describes `admin` as configured: its renderer's error bodies and its credential
/// sources ([`Admin::openapi`]).
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// let admin = keygate_admin::Admin::for_gate(&KeyGate::builder(MemoryStore::new()).build());
/// let app: axum::Router = keygate_admin::axum::openapi_router(&admin);
/// ```
pub fn openapi_router(admin: &Admin) -> Router {
    let body = axum::body::Bytes::from(serde_json::to_vec(&admin.openapi()).unwrap_or_default());
    Router::new().route(
        "/v1/openapi.json",
        get(move || async move { json_response(200, Body::from(body)) }),
    )
}

/// The secret-scanning partner endpoint (`POST /v1/secret-scanning/github`), public:
/// merge it outside the key layer (the scanner is authenticated by its signature).
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::secret_scanning::SecretScanning;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let app: axum::Router = keygate_admin::axum::secret_scanning_router(SecretScanning::new(gate.manager()));
/// # let _ = app;
/// ```
pub fn secret_scanning_router(scanning: crate::secret_scanning::SecretScanning) -> Router {
    use crate::secret_scanning::{DEFAULT_PATH, KEY_IDENTIFIER_HEADER, SIGNATURE_HEADER};
    Router::new().route(
        DEFAULT_PATH,
        axum::routing::post(move |req: Request| {
            let scanning = scanning.clone();
            async move {
                let (parts, body) = req.into_parts();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let (id, signature) = (header(KEY_IDENTIFIER_HEADER), header(SIGNATURE_HEADER));
                let limit = crate::DEFAULT_BODY_LIMIT * 4;
                let bytes = match Limited::new(body, limit).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => {
                        return json_response(
                            413,
                            Body::from(r#"{"error":"the report is too large"}"#),
                        )
                    }
                };
                let answer = scanning
                    .handle(id.as_deref(), signature.as_deref(), &bytes)
                    .await;
                json_response(answer.status, Body::from(answer.body))
            }
        }),
    )
}

async fn handle(
    State(admin): State<Admin>,
    params: RawPathParams,
    req: Request,
    op: Operation,
) -> Response {
    // The one path parameter: a key's `{id}` or a role's `{name}`.
    let id = params.iter().next().map(|(_, v)| v.to_owned());
    let client_ip = keygate_tower::client_ip(&req);
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, admin.limit()).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let error = if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::too_large(admin.limit())
            } else {
                ApiError::bad_request("the request body could not be read")
            };
            return to_response(admin.refuse(error));
        }
    };
    let request = AdminRequest {
        authenticated: parts.extensions.get::<Authenticated>(),
        client_ip,
        path_param: id.as_deref(),
        query: parts.uri.query(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body: &bytes,
    };
    to_response(admin.handle(op, request).await)
}

/// An [`AdminResponse`] (or a dashboard page) as the framework's response.
pub(crate) fn to_response(answer: AdminResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .append(header::HeaderName::from_static(name), value);
        }
    }
    response
}

fn json_response(status: u16, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

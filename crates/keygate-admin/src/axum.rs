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
/// use keygate::{KeyManager, MemoryStore};
/// let app: axum::Router = keygate_admin::axum::router(keygate_admin::Admin::new(KeyManager::builder(MemoryStore::new()).build()))
///     .merge(keygate_admin::axum::openapi_router());
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

/// `GET /v1/openapi.json`, public: merge it outside the key layer.
pub fn openapi_router() -> Router {
    Router::new().route(
        "/v1/openapi.json",
        get(|| async {
            let body = serde_json::to_vec(&crate::openapi()).unwrap_or_default();
            json_response(200, body)
        }),
    )
}

async fn handle(
    State(admin): State<Admin>,
    params: RawPathParams,
    req: Request,
    op: Operation,
) -> Response {
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_owned());
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
            return to_response(error.into());
        }
    };
    let authenticated = parts.extensions.get::<Authenticated>();
    let request = AdminRequest {
        principal: authenticated.map(|a| &a.principal),
        rate_limit: authenticated.and_then(|a| a.rate_limit.as_ref()),
        client_ip,
        id: id.as_deref(),
        query: parts.uri.query(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body: &bytes,
    };
    to_response(admin.handle(op, request).await)
}

fn to_response(response: AdminResponse) -> Response {
    json_response(response.status, response.body)
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

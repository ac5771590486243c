//! The dashboard for axum: one router under the mount path.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use http_body_util::{BodyExt, Limited};

use super::{Dashboard, DashboardRequest};

/// The dashboard's routes (`/dashboard` and everything under it). Merge it into your
/// app *outside* keygate's key layer: the dashboard signs in with a key itself and
/// keeps a session cookie.
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::dashboard::Dashboard;
/// use keygate_tower::ApiKeyLayer;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let admin = keygate_admin::Admin::for_gate(&gate);
/// let app: axum::Router = keygate_admin::axum::router(admin.clone())
///     .layer(ApiKeyLayer::new(gate.clone()))
///     .merge(keygate_admin::dashboard::axum::router(Dashboard::new(admin, gate.verifier().clone())));
/// ```
pub fn router(dashboard: Dashboard) -> Router {
    let base = dashboard.mount_path().to_owned();
    Router::new()
        .route(&base, any(handle))
        .route(&format!("{base}/{{*rest}}"), any(handle))
        .with_state(dashboard)
}

async fn handle(State(dashboard): State<Dashboard>, req: Request) -> Response {
    let client_ip = keygate_tower::client_ip(&req).or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    });
    let (parts, body) = req.into_parts();
    let limit = dashboard.admin().limit();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut response = Response::new(Body::from("The form is too large."));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return response;
        }
    };
    let headers = &parts.headers;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let https = parts.uri.scheme_str() == Some("https")
        || text(header::HeaderName::from_static("x-forwarded-proto")) == Some("https");
    let request = DashboardRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        cookie: text(header::COOKIE),
        content_type: text(header::CONTENT_TYPE),
        origin: text(header::ORIGIN),
        host: text(header::HOST),
        sec_fetch_site: text(header::HeaderName::from_static("sec-fetch-site")),
        https,
        client_ip,
        body: &bytes,
    };
    crate::axum::to_response(dashboard.handle(request).await.into())
}

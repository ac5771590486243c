//! The dashboard for actix-web: one scope under the mount path.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::{Dashboard, DashboardRequest};

/// Registers the dashboard (its mount path and everything under it). Register it
/// *outside* keygate's `ApiKeyAuth` middleware: the dashboard signs in with a key
/// itself and keeps a session cookie.
///
/// ```
/// use actix_web::App;
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::dashboard::Dashboard;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let app = App::new().configure(keygate_admin::dashboard::actix::configure(Dashboard::for_gate(&gate)));
/// # let _ = app;
/// ```
pub fn configure(dashboard: Dashboard) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let base = dashboard.mount_path().to_owned();
        for path in [base.clone(), format!("{base}/{{rest:.*}}")] {
            let dashboard = dashboard.clone();
            cfg.route(
                &path,
                web::route().to(move |req: HttpRequest, payload: web::Payload| {
                    handle(dashboard.clone(), req, payload)
                }),
            );
        }
    }
}

async fn handle(dashboard: Dashboard, req: HttpRequest, mut payload: web::Payload) -> HttpResponse {
    let limit = dashboard.admin().limit();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= limit => body.extend_from_slice(&chunk),
            Ok(_) => return HttpResponse::PayloadTooLarge().body("The form is too large."),
            Err(_) => {
                return HttpResponse::BadRequest().body("The request body could not be read.")
            }
        }
    }
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let https = req.connection_info().scheme() == "https";
    let request = DashboardRequest {
        method: req.method().as_str(),
        path: req.path(),
        query: Some(req.query_string()).filter(|q| !q.is_empty()),
        cookie: text(header::COOKIE.as_str()),
        content_type: text(header::CONTENT_TYPE.as_str()),
        origin: text(header::ORIGIN.as_str()),
        host: text(header::HOST.as_str()),
        sec_fetch_site: text("sec-fetch-site"),
        https,
        client_ip: req.peer_addr().map(|a| a.ip()),
        body: &body,
    };
    crate::actix::to_response(dashboard.handle(request).await.into())
}

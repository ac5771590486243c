//! Adapter tests on plain `tower::service_fn` services (no framework), and the axum
//! extractor's wiring errors.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use keygate::hash::KeyHasher;
use keygate::render::NestedRenderer;
use keygate::{KeyGate, KeyRecord, KeyStore, MemoryStore, MethodPolicy, ScopeSet};
use tower::{service_fn, Layer, ServiceExt};

use crate::{ApiKeyLayer, RequireScope};

async fn store_with_key(scopes: &[&str]) -> (Arc<MemoryStore>, String) {
    let store = Arc::new(MemoryStore::new());
    let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    let record = record.with_scopes(ScopeSet::parse(scopes).expect("valid scopes"));
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (store, key.expose().to_owned())
}

/// An inner service that answers with the principal's tenant, or 418 when it has none.
async fn inner(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match req.extensions().get::<keygate::Authenticated>() {
        Some(a) => Response::new(Full::new(Bytes::from(a.principal.tenant().to_owned()))),
        None => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::IM_A_TEAPOT;
            r
        }
    })
}

async fn body_of<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .expect("a readable body");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn request(method: &str, uri: &str, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    builder
        .body(Full::new(Bytes::new()))
        .expect("a valid request")
}

#[tokio::test]
async fn works_on_a_plain_tower_service() {
    let (store, key) = store_with_key(&["read:items"]).await;
    let svc = ApiKeyLayer::builder(store)
        .prefix("sk")
        .build()
        .layer(service_fn(inner));
    let ok = svc
        .clone()
        .oneshot(request("GET", "/x", Some(&key)))
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(body_of(ok).await, "acme");
    let denied = svc
        .oneshot(request("GET", "/x", None))
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn configured_renderer_reaches_require_scope() {
    let (store, key) = store_with_key(&["read:items"]).await;
    let gate = KeyGate::builder(store)
        .renderer(NestedRenderer::new())
        .build();
    let svc = ApiKeyLayer::new(gate)
        .layer(RequireScope::new("write:opportunities").layer(service_fn(inner)));
    let res = svc
        .oneshot(request("POST", "/x", Some(&key)))
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body_of(res).await,
        r#"{"error":{"code":"forbidden","message":"Insufficient permissions","details":"This API key does not have 'write' permission for opportunities"}}"#
    );
}

#[tokio::test]
async fn require_scope_without_api_key_layer_is_401_not_open() {
    let svc = RequireScope::new("read:items").layer(service_fn(inner));
    let res = svc
        .oneshot(request("GET", "/x", None))
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body_of(res).await,
        r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#
    );
}

#[tokio::test]
async fn nested_requirements_all_apply() {
    let (store, key) = store_with_key(&["read:items"]).await;
    let layer = ApiKeyLayer::builder(store).build();
    let both = |outer: &str, inner_req: &str| {
        layer.clone().layer(
            RequireScope::new(outer).layer(RequireScope::new(inner_req).layer(service_fn(inner))),
        )
    };
    let ok = both("read:items", "any(read:items, admin)")
        .oneshot(request("GET", "/", Some(&key)))
        .await;
    assert_eq!(ok.map(|r| r.status()).ok(), Some(StatusCode::OK));
    let inner_fails = both("read:items", "write:items")
        .oneshot(request("GET", "/", Some(&key)))
        .await;
    assert_eq!(
        inner_fails.map(|r| r.status()).ok(),
        Some(StatusCode::FORBIDDEN)
    );
}

#[tokio::test]
async fn method_policy_maps_method_and_path() {
    let (store, key) = store_with_key(&["read:accounts", "write:opportunities"]).await;
    let svc = ApiKeyLayer::builder(store)
        .build()
        .layer(RequireScope::method_policy(MethodPolicy::rest()).layer(service_fn(inner)));
    let cases = [
        ("GET", "/v1/accounts", StatusCode::OK),
        ("POST", "/v1/accounts", StatusCode::FORBIDDEN),
        ("POST", "/v1/opportunities/7", StatusCode::OK),
        ("DELETE", "/v1/opportunities/7", StatusCode::FORBIDDEN),
        ("GET", "/v1/contacts", StatusCode::FORBIDDEN),
    ];
    for (method, path, expected) in cases {
        let res = svc
            .clone()
            .oneshot(request(method, path, Some(&key)))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(res.status(), expected, "{method} {path}");
    }
}

#[tokio::test]
async fn store_down_is_503_with_json() {
    let (store, key) = store_with_key(&["read:items"]).await;
    store.set_unavailable(true);
    let svc = ApiKeyLayer::builder(store).build().layer(service_fn(inner));
    let res = svc
        .oneshot(request("GET", "/", Some(&key)))
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/json");
}

#[cfg(feature = "axum")]
mod axum_extractor {
    use axum::routing::get;
    use axum::Router;

    use super::*;
    use crate::Principal as Extracted;

    #[tokio::test]
    async fn extractor_without_layer_is_a_loud_500() {
        let app: Router = Router::new().route(
            "/",
            get(|p: Extracted| async move { p.tenant().to_owned() }),
        );
        let res = app
            .oneshot(Request::new(axum::body::Body::empty()))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body_of(res).await.contains("Is ApiKeyLayer applied"));
    }

    #[tokio::test]
    async fn optional_extractor_sees_none_without_a_key() {
        let app: Router = Router::new().route(
            "/",
            get(|p: Option<Extracted>| async move {
                p.map_or("anonymous".to_owned(), |p| p.tenant().to_owned())
            }),
        );
        let res = app
            .oneshot(Request::new(axum::body::Body::empty()))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(body_of(res).await, "anonymous");
    }
}

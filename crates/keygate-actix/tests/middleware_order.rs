//! How ApiKeyAuth, RequireScope, the extractor and #[require_scope] combine, in every
//! order an app may put them.

mod common;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::{get, post, web, App, HttpResponse};
use keygate::render::NestedRenderer;
use keygate_actix::{require_scope, ApiKeyAuth, Principal, RequireScope};

use common::{builder_with_key, gate_with_key, header, FORBIDDEN, UNAUTHORIZED};

async fn name(principal: Principal) -> String {
    principal.name().to_owned()
}

#[post("/items")]
#[require_scope("write:items")]
async fn create_item(body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Created().json(body.into_inner())
}

#[require_scope(any("admin", all("read:items", "read:reports")))]
#[get("/report")]
async fn report(principal: Principal, state: web::Data<&'static str>) -> String {
    format!("{} {}", principal.tenant(), state.get_ref())
}

fn get_with_key(uri: &str, key: &str) -> actix_web::test::TestRequest {
    TestRequest::get()
        .uri(uri)
        .insert_header(("x-api-key", key))
}

#[actix_web::test]
async fn principal_extractor_without_the_middleware_is_a_clear_500() {
    let app = init_service(App::new().route("/me", web::get().to(name))).await;
    let res = call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), 500);
    let body = read_body(res).await;
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("ApiKeyAuth middleware is missing"), "{body}");
}

#[actix_web::test]
async fn optional_principal_with_and_without_the_middleware() {
    async fn maybe(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "nobody".to_owned(), |p| p.name().to_owned())
    }
    let (gate, key) = gate_with_key(&[]).await;
    let app = init_service(
        App::new().route("/open", web::get().to(maybe)).service(
            web::scope("/api")
                .wrap(ApiKeyAuth::new(gate))
                .route("/maybe", web::get().to(maybe)),
        ),
    )
    .await;
    let res = call_service(&app, TestRequest::get().uri("/open").to_request()).await;
    assert_eq!(read_body(res).await, "nobody");
    let res = call_service(&app, get_with_key("/api/maybe", &key).to_request()).await;
    assert_eq!(read_body(res).await, "ci");
}

#[actix_web::test]
async fn two_require_scope_wrappers_nested_must_both_pass() {
    let build = |gate| {
        App::new().wrap(ApiKeyAuth::new(gate)).service(
            web::scope("/v1")
                .wrap(RequireScope::new("read:items"))
                .service(
                    web::resource("/reports")
                        .wrap(RequireScope::new("read:reports"))
                        .route(web::get().to(name)),
                )
                .route("/items", web::get().to(name)),
        )
    };
    let (both, both_key) = gate_with_key(&["read:items", "read:reports"]).await;
    let app = init_service(build(both)).await;
    let res = call_service(&app, get_with_key("/v1/reports", &both_key).to_request()).await;
    assert_eq!(res.status(), 200);

    let (items_only, items_key) = gate_with_key(&["read:items"]).await;
    let app = init_service(build(items_only)).await;
    let res = call_service(&app, get_with_key("/v1/items", &items_key).to_request()).await;
    assert_eq!(res.status(), 200);
    let res = call_service(&app, get_with_key("/v1/reports", &items_key).to_request()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="read:reports""#)
    );

    let (reports_only, reports_key) = gate_with_key(&["read:reports"]).await;
    let app = init_service(build(reports_only)).await;
    let res = call_service(&app, get_with_key("/v1/reports", &reports_key).to_request()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="read:items""#)
    );
    assert_eq!(read_body(res).await, FORBIDDEN);
}

#[actix_web::test]
async fn require_scope_wrapped_outside_api_key_auth_sees_no_principal() {
    // The last `.wrap()` runs first: here RequireScope runs before ApiKeyAuth.
    let (gate, key) = gate_with_key(&["read:items"]).await;
    let app = init_service(
        App::new()
            .wrap(ApiKeyAuth::new(gate))
            .wrap(RequireScope::new("read:items"))
            .route("/items", web::get().to(name)),
    )
    .await;
    let res = call_service(&app, get_with_key("/items", &key).to_request()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"));
}

#[actix_web::test]
async fn macro_without_the_middleware_is_401() {
    let app = init_service(App::new().service(create_item)).await;
    let req = TestRequest::post()
        .uri("/items")
        .set_json(serde_json::json!({"n": 1}))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"));
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(read_body(res).await, UNAUTHORIZED);
}

#[actix_web::test]
async fn macro_refuses_a_missing_scope_with_403_before_reading_the_body() {
    let (gate, key) = gate_with_key(&["read:items"]).await;
    let app = init_service(App::new().wrap(ApiKeyAuth::new(gate)).service(create_item)).await;
    // Not JSON: the guard runs first, so the answer is 403, not 400.
    let req = TestRequest::post()
        .uri("/items")
        .insert_header(("x-api-key", key.as_str()))
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json")
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="write:items""#)
    );
    assert_eq!(read_body(res).await, FORBIDDEN);
}

#[actix_web::test]
async fn macro_passes_with_the_scope_and_keeps_other_extractors() {
    let (gate, key) = gate_with_key(&["write:items"]).await;
    let app = init_service(App::new().wrap(ApiKeyAuth::new(gate)).service(create_item)).await;
    let req = TestRequest::post()
        .uri("/items")
        .insert_header(("x-api-key", key.as_str()))
        .set_json(serde_json::json!({"n": 1}))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), 201);
    assert_eq!(read_body(res).await, r#"{"n":1}"#);
}

#[actix_web::test]
async fn macro_errors_use_the_configured_renderer() {
    let (builder, key) = builder_with_key(&["read:items"]).await;
    let gate = builder.renderer(NestedRenderer::new()).build();
    let app = init_service(
        App::new()
            .app_data(web::Data::new("data"))
            .wrap(ApiKeyAuth::new(gate))
            .service(report),
    )
    .await;
    let res = call_service(&app, get_with_key("/report", &key).to_request()).await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value =
        serde_json::from_slice(&read_body(res).await).expect("a JSON body");
    // The nested renderer's shape, naming what was missing.
    assert_eq!(
        body["error"]["details"],
        "This API key needs one of the scopes any(admin, all(read:items, read:reports))",
        "{body}"
    );
}

#[actix_web::test]
async fn macro_any_all_with_web_data() {
    let (gate, key) = gate_with_key(&["read:items", "read:reports"]).await;
    let app = init_service(
        App::new()
            .app_data(web::Data::new("data"))
            .wrap(ApiKeyAuth::new(gate))
            .service(report),
    )
    .await;
    let res = call_service(&app, get_with_key("/report", &key).to_request()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(read_body(res).await, "acme data");

    let (admin, admin_key) = gate_with_key(&["admin"]).await;
    let app = init_service(
        App::new()
            .app_data(web::Data::new("data"))
            .wrap(ApiKeyAuth::new(admin))
            .service(report),
    )
    .await;
    let res = call_service(&app, get_with_key("/report", &admin_key).to_request()).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn macro_and_require_scope_together() {
    let (gate, key) = gate_with_key(&["write:items"]).await;
    let app = init_service(
        App::new().wrap(ApiKeyAuth::new(gate)).service(
            web::scope("")
                .wrap(RequireScope::new("read:items"))
                .service(create_item),
        ),
    )
    .await;
    let req = TestRequest::post()
        .uri("/items")
        .insert_header(("x-api-key", key.as_str()))
        .set_json(serde_json::json!({}))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        header(&res, "www-authenticate").as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="read:items""#)
    );
}

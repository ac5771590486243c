use actix_web::{web, App, HttpRequest, HttpResponse};
use keygate_actix::{require_scope, Principal};

#[require_scope("write:items")]
async fn create(
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, u32)>,
    query: web::Query<std::collections::HashMap<String, String>>,
    body: web::Json<serde_json::Value>,
) -> actix_web::Result<HttpResponse> {
    let (tenant, id) = path.into_inner();
    let _ = (req.path(), principal.tenant(), tenant, id, query.len(), body.is_object());
    Ok(HttpResponse::Created().json(serde_json::json!({"created": true})))
}

// Patterns in arguments, generics and a where clause are kept.
#[require_scope("read:items")]
async fn generic<T>(mut pair: web::Path<(u32, u32)>, data: web::Data<T>) -> String
where
    T: std::fmt::Display + 'static,
{
    pair.0 += 1;
    format!("{} {} {}", data.get_ref(), pair.0, pair.1)
}

// Early returns and `?` in the body behave as without the attribute.
#[require_scope("read:items")]
async fn fallible(body: String) -> Result<String, actix_web::Error> {
    if body.is_empty() {
        return Ok("empty".to_owned());
    }
    let n: u32 = body.parse().map_err(actix_web::error::ErrorBadRequest)?;
    Ok(n.to_string())
}

fn main() {
    let _app = App::new()
        .app_data(web::Data::new(7_u32))
        .route("/t/{tenant}/items/{id}", web::post().to(create))
        .route("/g/{a}/{b}", web::get().to(generic::<u32>))
        .route("/f", web::post().to(fallible));
}

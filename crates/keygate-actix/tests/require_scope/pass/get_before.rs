use actix_web::{get, post, App, HttpResponse};
use keygate_actix::require_scope;

/// A routing attribute first: it expands first and keeps #[require_scope] on the
/// function it registers.
#[get("/items")]
#[require_scope("read:items")]
async fn list_items() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[post("/items")]
#[require_scope(any("write:items", "admin"))]
pub async fn create_item(body: String) -> Result<HttpResponse, actix_web::Error> {
    let _ = body.len();
    Ok(HttpResponse::Created().finish())
}

fn main() {
    let _app = App::new().service(list_items).service(create_item);
}

use actix_web::{get, post, App, HttpResponse};
use keygate_actix::require_scope;

/// #[require_scope] first: it keeps the routing attribute for the expanded function.
#[require_scope("read:items")]
#[get("/items")]
async fn list_items() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[require_scope(all("write:items", "read:items"))]
#[post("/items")]
pub(crate) async fn create_item() -> HttpResponse {
    HttpResponse::Created().finish()
}

fn main() {
    let _app = App::new().service(list_items).service(create_item);
}

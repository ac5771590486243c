use actix_web::HttpResponse;
use keygate_actix::require_scope;

#[require_scope("write:items")]
fn create_item() -> HttpResponse {
    HttpResponse::Created().finish()
}

fn main() {}

use actix_web::{web, App, Responder};
use keygate_actix::require_scope;

#[require_scope(any("read:scans", "admin"))]
async fn any_of() -> impl Responder {
    "any"
}

#[require_scope(all("a:b", any("c:d", "e:f")))]
async fn nested() -> impl Responder {
    "nested"
}

#[require_scope("all(read:scans, any(write:scans, admin))")]
async fn text_form() -> impl Responder {
    "text"
}

// Two attributes: both must pass.
#[require_scope("read:scans")]
#[require_scope("read:reports")]
async fn both() -> impl Responder {
    "both"
}

fn main() {
    let _app = App::new()
        .route("/any", web::get().to(any_of))
        .route("/nested", web::get().to(nested))
        .route("/text", web::get().to(text_form))
        .route("/both", web::get().to(both));
}

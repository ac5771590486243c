use actix_web::{web, App, HttpResponse};
use keygate_actix::require_scope;

#[require_scope("write:scans")]
async fn start_scan() -> HttpResponse {
    HttpResponse::Created().finish()
}

/// Docs and `pub` are kept.
#[require_scope("read")]
pub async fn list_scans() -> &'static str {
    "[]"
}

fn main() {
    let _app = App::new()
        .route("/scans", web::post().to(start_scan))
        .route("/scans", web::get().to(list_scans));
}

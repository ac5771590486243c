use std::sync::Mutex;

use actix_web::{post, web, App, HttpResponse};
use keygate_actix::{require_scope, Principal};

struct AppState {
    items: Mutex<Vec<String>>,
}

#[post("/items")]
#[require_scope("write:items")]
async fn create(state: web::Data<AppState>, principal: Principal) -> HttpResponse {
    if let Ok(mut items) = state.items.lock() {
        items.push(principal.name().to_owned());
    }
    HttpResponse::Created().finish()
}

fn main() {
    let state = web::Data::new(AppState { items: Mutex::new(Vec::new()) });
    let _app = App::new().app_data(state).service(create);
}

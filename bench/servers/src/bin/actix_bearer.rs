//! actix-web + actix-web-httpauth `HttpAuthentication::bearer`, with a
//! validator that compares the token to a fixed string.
use actix_web::dev::ServiceRequest;
use actix_web::{web, App, Error};
use actix_web_httpauth::extractors::bearer::BearerAuth;
use actix_web_httpauth::extractors::AuthenticationError;
use actix_web_httpauth::headers::www_authenticate::bearer::Bearer;
use actix_web_httpauth::middleware::HttpAuthentication;

async fn hello() -> &'static str {
    "ok"
}

async fn validator(
    req: ServiceRequest,
    credentials: BearerAuth,
) -> Result<ServiceRequest, (Error, ServiceRequest)> {
    let expected = req
        .app_data::<web::Data<String>>()
        .map(|t| t.as_str() == credentials.token())
        .unwrap_or(false);
    if expected {
        Ok(req)
    } else {
        Err((AuthenticationError::new(Bearer::default()).into(), req))
    }
}

fn main() {
    let port = bench_servers::port_from_args();
    let token = web::Data::new(bench_servers::demo_key());
    bench_servers::serve_actix!(port, move || {
        App::new()
            .app_data(token.clone())
            .wrap(HttpAuthentication::bearer(validator))
            .route("/hello", web::get().to(hello))
    });
}

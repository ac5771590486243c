//! actix-web + a hand-written `Transform` middleware doing the irreducible part
//! of keygate's hot path (same as axum_hashmap): Bearer / X-API-KEY -> SHA-256
//! -> `HashMap<[u8; 32], Arc<Principal>>` -> principal into the request
//! extensions, or 401. No boxed futures: the "physical limit" on actix.
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::{web, App, Error, HttpMessage, HttpResponse};
use bench_servers::peer::Principal;
use futures_util::future::{ready, Either, MapOk, Ready, TryFutureExt};
use sha2::{Digest, Sha256};

type KeyTable = Arc<HashMap<[u8; 32], Arc<Principal>>>;

#[derive(Clone)]
struct HashMapAuth {
    keys: KeyTable,
}

impl<S, B> Transform<S, ServiceRequest> for HashMapAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = HashMapAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HashMapAuthMiddleware {
            service,
            keys: self.keys.clone(),
        }))
    }
}

struct HashMapAuthMiddleware<S> {
    service: S,
    keys: KeyTable,
}

type IntoLeft<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

fn credential(req: &ServiceRequest) -> Option<&[u8]> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return v.as_bytes().strip_prefix(b"Bearer ");
    }
    req.headers().get("x-api-key").map(|v| v.as_bytes())
}

impl<S, B> Service<ServiceRequest> for HashMapAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Either<MapOk<S::Future, IntoLeft<B>>, Ready<Result<Self::Response, Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let principal = credential(&req)
            .map(|key| -> [u8; 32] { Sha256::digest(key).into() })
            .and_then(|hash| self.keys.get(&hash).cloned());
        match principal {
            Some(p) => {
                req.extensions_mut().insert(p);
                let into_left: IntoLeft<B> = ServiceResponse::map_into_left_body;
                Either::Left(self.service.call(req).map_ok(into_left))
            }
            None => {
                let res = req.into_response(HttpResponse::Unauthorized().finish());
                Either::Right(ready(Ok(res.map_into_right_body())))
            }
        }
    }
}

// The handler takes the principal, as a keygate user's handler would.
async fn hello(_p: web::ReqData<Arc<Principal>>) -> &'static str {
    "ok"
}

fn main() {
    let port = bench_servers::port_from_args();
    let keys: KeyTable = Arc::new(bench_servers::peer::key_table());
    bench_servers::serve_actix!(port, move || {
        App::new()
            .wrap(HashMapAuth { keys: keys.clone() })
            .route("/hello", web::get().to(hello))
    });
}

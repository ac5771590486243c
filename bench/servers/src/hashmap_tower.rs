//! The "physical limit" tower middleware shared by `axum_hashmap` (placed with
//! `Router::layer`) and `axum_hashmap_outer` (wrapped around the whole Router):
//! take the key from `Authorization: Bearer` (or `X-API-KEY`), SHA-256 it,
//! look the hash up in an in-memory `HashMap<[u8; 32], Arc<Principal>>`, insert
//! the principal into the request extensions, or answer 401. No boxing, no
//! allocation beyond the extensions map itself.
use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::peer::Principal;
use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use futures_util::future::{ready, Either, Ready};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

/// Hash of the key -> principal.
pub type KeyTable = Arc<HashMap<[u8; 32], Arc<Principal>>>;

/// Layer that adds [`HashMapAuth`].
#[derive(Debug, Clone)]
pub struct HashMapAuthLayer {
    /// The key table.
    pub keys: KeyTable,
}

impl<S> Layer<S> for HashMapAuthLayer {
    type Service = HashMapAuth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HashMapAuth {
            inner,
            keys: self.keys.clone(),
        }
    }
}

/// The middleware service.
#[derive(Debug, Clone)]
pub struct HashMapAuth<S> {
    inner: S,
    keys: KeyTable,
}

fn credential<B>(req: &Request<B>) -> Option<&[u8]> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return v.as_bytes().strip_prefix(b"Bearer ");
    }
    req.headers().get("x-api-key").map(|v| v.as_bytes())
}

impl<S, B> Service<Request<B>> for HashMapAuth<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let principal = credential(&req)
            .map(|key| -> [u8; 32] { Sha256::digest(key).into() })
            .and_then(|hash| self.keys.get(&hash).cloned());
        match principal {
            Some(p) => {
                req.extensions_mut().insert(p);
                Either::Left(self.inner.call(req))
            }
            None => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::UNAUTHORIZED;
                Either::Right(ready(Ok(res)))
            }
        }
    }
}

use std::task::{Context, Poll};

use http::{Request, Response};
use keygate::KeyGate;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::request_parts::{mark_sensitive, HttpParts};
use crate::response::ResponseBody;

/// The service made by [`ApiKeyLayer`](crate::ApiKeyLayer): verifies the key, then calls
/// the inner service with the [`keygate::Principal`] in request extensions.
#[derive(Debug, Clone)]
pub struct ApiKeyService<S> {
    inner: S,
    gate: KeyGate,
}

impl<S> ApiKeyService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, gate: KeyGate) -> Self {
        Self { inner, gate }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiKeyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        mark_sensitive(&mut request, &self.gate);
        let prepared = match self.gate.prepare(&HttpParts(&request)) {
            Ok(prepared) => prepared,
            Err(error) => return ResponseFuture::rejected(self.gate.renderer(), &error),
        };
        let gate = self.gate.clone();
        let verify = Box::pin(async move { gate.authenticate(prepared).await });
        // The ready service goes into the future; a fresh clone stays here.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::verifying(verify, request, inner, self.gate.clone())
    }
}

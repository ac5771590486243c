use std::task::{Context, Poll};

use http::header::REFERER;
use http::{Request, Response};
use keygate::{KeyGate, VerifyRequest};
use tower_service::Service;

use crate::client_ip::client_ip;
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
        mark_sensitive(&mut request, self.gate.sources());
        let credential = match self.gate.extract(&HttpParts(&request)) {
            Ok(credential) => credential,
            Err(error) => return ResponseFuture::rejected(self.gate.renderer(), &error),
        };
        let client_ip = client_ip(&request);
        let referrer = request
            .headers()
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let gate = self.gate.clone();
        let key = credential.key;
        let verify = Box::pin(async move {
            gate.verify(VerifyRequest {
                key: key.expose(),
                client_ip,
                referrer: referrer.as_deref(),
            })
            .await
        });
        // The ready service goes into the future; a fresh clone stays here.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::verifying(
            verify,
            request,
            inner,
            self.gate.clone(),
            credential.found_in,
        )
    }
}

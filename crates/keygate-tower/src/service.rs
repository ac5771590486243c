use std::task::{Context, Poll};

use http::{Request, Response};
use keygate::request::Checked;
use keygate::KeyGate;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::request_parts::{HttpParts, SourceHeaders};
use crate::response::RejectionBody;

/// The service made by [`ApiKeyLayer`](crate::ApiKeyLayer): verifies the key, then calls
/// the inner service with the [`keygate::Authenticated`] (principal, rate-limit state,
/// renderer) in request extensions.
///
/// A warm key is verified inside `call`, from memory, and the inner service is called
/// at once: the response future is then the inner future, unboxed. Only a key whose
/// answer needs the store (a cache miss, a refusal to audit) takes a boxed async path.
#[derive(Debug, Clone)]
pub struct ApiKeyService<S> {
    inner: S,
    gate: KeyGate,
    headers: SourceHeaders,
}

impl<S> ApiKeyService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, gate: KeyGate) -> Self {
        Self {
            inner,
            headers: SourceHeaders::of(&gate),
            gate,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiKeyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: RejectionBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.gate.check(&HttpParts(&request)) {
            Checked::Done(Ok(authenticated)) => ResponseFuture::call(
                &mut self.inner,
                request,
                authenticated,
                &self.gate,
                &self.headers,
            ),
            Checked::Done(Err(error)) => ResponseFuture::rejected(self.gate.renderer(), &error),
            Checked::Pending(prepared) => {
                let gate = self.gate.clone();
                let verify = Box::pin(async move { gate.authenticate(prepared).await });
                // The ready service goes into the future; a fresh clone stays here.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(
                    verify,
                    request,
                    inner,
                    self.gate.clone(),
                    self.headers.clone(),
                )
            }
        }
    }
}

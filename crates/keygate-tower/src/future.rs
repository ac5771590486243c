use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use keygate::{AuthError, Authenticated, KeyGate, RateLimitStatus, SharedRenderer};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::request_parts::hide_credentials;
use crate::response::{add_rate_limit_headers, error_response, render, ResponseBody};

type VerifyFuture = Pin<Box<dyn Future<Output = Result<Authenticated, AuthError>> + Send>>;

pin_project! {
    /// The response future of [`ApiKeyService`](crate::ApiKeyService).
    ///
    /// Verification is one boxed future (the store is a `dyn KeyStore`, whose calls are
    /// boxed anyway); the inner service's future is held unboxed.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future, S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, ReqBody> {
        Verifying {
            verify: VerifyFuture,
            request: Option<Request<ReqBody>>,
            inner: S,
            gate: KeyGate,
        },
        Calling {
            #[pin]
            future: F,
            rate_limit: Option<RateLimitStatus>,
        },
        Rejected {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

impl<S, ReqBody> std::fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn rejected(renderer: &SharedRenderer, error: &AuthError) -> Self {
        Self {
            state: State::Rejected {
                response: Some(render(renderer, error)),
            },
        }
    }

    pub(crate) fn verifying(
        verify: VerifyFuture,
        request: Request<ReqBody>,
        inner: S,
        gate: KeyGate,
    ) -> Self {
        Self {
            state: State::Verifying {
                verify,
                request: Some(request),
                inner,
                gate,
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Verifying {
                    verify,
                    request,
                    inner,
                    gate,
                } => {
                    let authenticated = match ready!(verify.as_mut().poll(cx)) {
                        Ok(authenticated) => authenticated,
                        Err(error) => {
                            return Poll::Ready(Ok(error_response(gate.renderer(), &error)))
                        }
                    };
                    let mut request = request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    if hide_credentials(&mut request, gate, authenticated.hide).is_err() {
                        // Never hand the key to the inner service: refuse instead.
                        tracing::error!(
                            "keygate: could not remove the API key from the request URI"
                        );
                        let mut response = Response::new(Either::Right(Full::default()));
                        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        return Poll::Ready(Ok(response));
                    }
                    let rate_limit = authenticated.rate_limit;
                    let extensions = request.extensions_mut();
                    extensions.insert(authenticated.principal);
                    if let Some(status) = rate_limit {
                        extensions.insert(status);
                    }
                    extensions.insert(gate.renderer().clone());
                    let future = inner.call(request);
                    this.state.set(State::Calling { future, rate_limit });
                }
                StateProj::Calling { future, rate_limit } => {
                    let mut response = ready!(future.poll(cx))?;
                    add_rate_limit_headers(&mut response, rate_limit.as_ref());
                    return Poll::Ready(Ok(response.map(Either::Left)));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(Either::Right)));
                }
            }
        }
    }
}

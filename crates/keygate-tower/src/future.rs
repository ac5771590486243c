use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use keygate::rate_limit::RateLimitHeaderText;
use keygate::render::SharedRenderer;
use keygate::{AuthError, Authenticated, KeyGate};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::request_parts::{hide_credentials, mark_sensitive, HideFailed, SourceHeaders};
use crate::response::{add_rate_limit_headers, render, RejectionBody};

type VerifyFuture = Pin<Box<dyn Future<Output = Result<Authenticated, AuthError>> + Send>>;

/// What the slow path carries while the store answers (boxed: the fast path's future
/// stays the size of the inner one).
struct Verifying<S, ReqBody> {
    verify: VerifyFuture,
    request: Request<ReqBody>,
    inner: S,
    gate: KeyGate,
    headers: SourceHeaders,
}

pin_project! {
    /// The response future of [`ApiKeyService`](crate::ApiKeyService).
    ///
    /// A key verified from memory leaves it calling the inner service's future
    /// directly; a key that needs the store first polls one boxed verification.
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
            slow: Option<Box<Verifying<S, ReqBody>>>,
        },
        Calling {
            #[pin]
            future: F,
            rate_limit: Option<RateLimitHeaderText>,
        },
        Done {
            response: Option<Response<Bytes>>,
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

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    pub(crate) fn rejected(renderer: &SharedRenderer, error: &AuthError) -> Self {
        Self::done(render(renderer, error))
    }

    fn done(response: Response<Bytes>) -> Self {
        Self {
            state: State::Done {
                response: Some(response),
            },
        }
    }

    /// Hands the verified request to `inner` (ready: it was polled ready for it).
    pub(crate) fn call(
        inner: &mut S,
        request: Request<ReqBody>,
        authenticated: Authenticated,
        gate: &KeyGate,
        headers: &SourceHeaders,
    ) -> Self {
        let mut request = request;
        match prepare_request(&mut request, authenticated, gate, headers) {
            Ok(rate_limit) => Self {
                state: State::Calling {
                    future: inner.call(request),
                    rate_limit,
                },
            },
            Err(HideFailed) => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                Self::done(response)
            }
        }
    }

    pub(crate) fn verifying(
        verify: VerifyFuture,
        request: Request<ReqBody>,
        inner: S,
        gate: KeyGate,
        headers: SourceHeaders,
    ) -> Self {
        Self {
            state: State::Verifying {
                slow: Some(Box::new(Verifying {
                    verify,
                    request,
                    inner,
                    gate,
                    headers,
                })),
            },
        }
    }
}

/// The verified request as the inner service gets it: credential headers marked
/// sensitive (and removed when the gate hides credentials), the [`Authenticated`] in
/// its extensions. A URI that cannot be rebuilt without the key gives a 500 instead
/// (the key is never passed on).
fn prepare_request<B>(
    request: &mut Request<B>,
    authenticated: Authenticated,
    gate: &KeyGate,
    headers: &SourceHeaders,
) -> Result<Option<RateLimitHeaderText>, HideFailed> {
    if gate.hides_credentials() {
        if let Err(failed) = hide_credentials(request, gate, authenticated.found_in) {
            tracing::error!("keygate: could not remove the API key from the request URI");
            return Err(failed);
        }
    } else {
        mark_sensitive(request, headers, authenticated.found_in);
    }
    let style = authenticated.renderer.rate_limit_headers();
    let rate_limit = authenticated
        .rate_limit
        .as_ref()
        .map(|report| report.header_text(style));
    request.extensions_mut().insert(authenticated);
    Ok(rate_limit)
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: RejectionBody,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future, rate_limit } => {
                    let mut response = ready!(future.poll(cx))?;
                    add_rate_limit_headers(&mut response, rate_limit.take());
                    return Poll::Ready(Ok(response));
                }
                StateProj::Verifying { slow } => {
                    let verifying = slow
                        .as_mut()
                        .expect("ResponseFuture polled after completion");
                    let result = ready!(verifying.verify.as_mut().poll(cx));
                    let Verifying {
                        request,
                        mut inner,
                        gate,
                        headers,
                        ..
                    } = *slow.take().expect("checked above");
                    let authenticated = match result {
                        Ok(authenticated) => authenticated,
                        Err(error) => {
                            this.state
                                .set(Self::rejected(gate.renderer(), &error).state);
                            continue;
                        }
                    };
                    let next = Self::call(&mut inner, request, authenticated, &gate, &headers);
                    this.state.set(next.state);
                }
                StateProj::Done { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResBody::rejection)));
                }
            }
        }
    }
}

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use keygate::scope::ScopeError;
use keygate::{Authenticated, MethodPolicy, Requirement, ScopeRule};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::response::{render, RejectionBody};

/// A layer that refuses requests whose [`Principal`](keygate::Principal) lacks a scope: 403
/// `insufficient_scope`, or 401 when no key was verified (no [`ApiKeyLayer`] ran).
///
/// Put it on routes (axum: `route_layer`) under an [`ApiKeyLayer`]. Errors are rendered
/// by the renderer the `ApiKeyLayer` put into request extensions.
///
/// ```
/// use keygate::MethodPolicy;
/// use keygate_tower::RequireScope;
///
/// let write = RequireScope::new("write:items");
/// let either = RequireScope::new("any(read:scans, admin)");
/// let by_method = RequireScope::method_policy(MethodPolicy::rest()); // GET /v1/accounts -> read:accounts
/// assert!(RequireScope::try_new("not a scope").is_err());
/// # let _ = (write, either, by_method);
/// ```
///
/// [`ApiKeyLayer`]: crate::ApiKeyLayer
#[derive(Debug, Clone)]
pub struct RequireScope {
    rule: Arc<ScopeRule>,
    shadow: bool,
}

impl RequireScope {
    /// Requires `requirement` (`write:items`, `any(a:b, c:d)`, `all(...)`).
    ///
    /// # Panics
    /// If `requirement` does not parse: routes are built at start-up, so a typo fails
    /// fast. Use [`RequireScope::try_new`] for requirements read at run time.
    pub fn new(requirement: &str) -> Self {
        match Self::try_new(requirement) {
            Ok(layer) => layer,
            Err(e) => panic!("RequireScope::new: {e}"),
        }
    }

    /// Requires `requirement`, or says why it does not parse.
    pub fn try_new(requirement: &str) -> Result<Self, ScopeError> {
        Requirement::parse(requirement).map(Self::requirement)
    }

    /// Requires an already-built requirement.
    pub fn requirement(requirement: Requirement) -> Self {
        Self {
            rule: Arc::new(ScopeRule::Requirement(requirement)),
            shadow: false,
        }
    }

    /// Requires what `policy` derives from each request's method and path.
    pub fn method_policy(policy: MethodPolicy) -> Self {
        Self {
            rule: Arc::new(ScopeRule::Methods(policy)),
            shadow: false,
        }
    }

    /// The same requirement in shadow mode, to roll it out safely: callers without the
    /// scope are let through, and what it would have refused is counted
    /// (`shadow_forbidden`), logged and audited (`key.shadow_scope`). A request without
    /// a verified key is still refused.
    ///
    /// ```
    /// use keygate_tower::RequireScope;
    /// let rolling_out = RequireScope::new("write:beta").in_shadow();
    /// # let _ = rolling_out;
    /// ```
    #[must_use]
    pub fn in_shadow(mut self) -> Self {
        self.shadow = true;
        self
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            rule: self.rule.clone(),
            shadow: self.shadow,
        }
    }
}

/// The service made by [`RequireScope`].
#[derive(Debug, Clone)]
pub struct RequireScopeService<S> {
    inner: S,
    rule: Arc<ScopeRule>,
    shadow: bool,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: RejectionBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let authenticated = request.extensions().get::<Authenticated>();
        let (method, path) = (request.method().as_str(), request.uri().path());
        let verdict = if self.shadow {
            self.rule.check_in_shadow(authenticated, method, path)
        } else {
            self.rule.check(authenticated, method, path)
        };
        match verdict {
            Ok(()) => RequireScopeFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                },
            },
            Err(error) => {
                let renderer = authenticated
                    .map(|a| a.renderer.clone())
                    .unwrap_or_default();
                RequireScopeFuture {
                    kind: Kind::Rejected {
                        response: Some(render(&renderer, &error)),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopeService`].
    pub struct RequireScopeFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<F> std::fmt::Debug for RequireScopeFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopeFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for RequireScopeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: RejectionBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { response } => {
                let response = response
                    .take()
                    .expect("RequireScopeFuture polled after completion");
                Poll::Ready(Ok(response.map(B::rejection)))
            }
        }
    }
}

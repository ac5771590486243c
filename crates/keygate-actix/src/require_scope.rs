//! `RequireScope`: middleware that refuses principals lacking a scope.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, ResponseError};
use keygate::scope::ScopeError;
use keygate::{MethodPolicy, Requirement};
use pin_project_lite::pin_project;

use crate::guard::{check, check_in_shadow};

/// Middleware that refuses requests whose [`Principal`](crate::Principal) lacks a
/// scope: 403 `insufficient_scope`, or 401 when no key was verified (no
/// [`ApiKeyAuth`](crate::ApiKeyAuth) ran before it).
///
/// Wrap a scope or resource with it, inside an `ApiKeyAuth` (in actix the last
/// `.wrap()` runs first, so `ApiKeyAuth` goes on the app or an outer scope). Errors are
/// rendered by the renderer `ApiKeyAuth` put into request extensions. Several
/// `RequireScope`s nest: each must pass.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use keygate::{KeyGate, MemoryStore, MethodPolicy};
/// use keygate_actix::{ApiKeyAuth, RequireScope};
///
/// let gate = KeyGate::builder(MemoryStore::new()).prefix("sk").build();
/// let app = App::new()
///     .wrap(ApiKeyAuth::new(gate))
///     .service(
///         web::resource("/items")
///             .wrap(RequireScope::new("write:items"))
///             .route(web::post().to(HttpResponse::Created)),
///     )
///     .service(
///         // GET /v1/accounts needs read:accounts, DELETE /v1/accounts/1 delete:accounts.
///         web::scope("/v1")
///             .wrap(RequireScope::method_policy(MethodPolicy::rest()))
///             .route("/accounts", web::get().to(HttpResponse::Ok)),
///     );
/// assert!(RequireScope::try_new("not a scope").is_err());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct RequireScope {
    rule: Rule,
    shadow: bool,
}

#[derive(Debug, Clone)]
enum Rule {
    Fixed(Arc<Requirement>),
    Methods(Arc<MethodPolicy>),
}

impl RequireScope {
    /// Requires `requirement`: a scope (`write:items`), `any(...)` or `all(...)`.
    ///
    /// # Panics
    /// If `requirement` does not parse: routes are built at start-up, so a typo fails
    /// fast. Use [`RequireScope::try_new`] for requirements read at run time.
    ///
    /// ```should_panic
    /// keygate_actix::RequireScope::new("write items"); // panics: not a scope
    /// ```
    pub fn new(requirement: &str) -> Self {
        match Self::try_new(requirement) {
            Ok(middleware) => middleware,
            Err(e) => panic!("RequireScope::new: {e}"),
        }
    }

    /// Requires `requirement`, or says why it does not parse.
    ///
    /// ```
    /// use keygate_actix::RequireScope;
    /// assert!(RequireScope::try_new("any(read:scans, admin)").is_ok());
    /// assert!(RequireScope::try_new("any()").is_err());
    /// ```
    pub fn try_new(requirement: &str) -> Result<Self, ScopeError> {
        Requirement::parse(requirement).map(Self::requirement)
    }

    /// Requires an already-built requirement.
    ///
    /// ```
    /// use keygate::{Requirement, Scope};
    /// use keygate_actix::RequireScope;
    /// let admin = RequireScope::requirement(Requirement::scope(Scope::parse("admin")?));
    /// # let _ = admin;
    /// # Ok::<(), keygate::scope::ScopeError>(())
    /// ```
    pub fn requirement(requirement: Requirement) -> Self {
        Self {
            rule: Rule::Fixed(Arc::new(requirement)),
            shadow: false,
        }
    }

    /// Requires what `policy` derives from each request's method and full path:
    /// with [`MethodPolicy::rest`], `GET /v1/accounts` needs `read:accounts`,
    /// `POST /v1/accounts` `write:accounts`, `DELETE /v1/accounts/1` `delete:accounts`.
    ///
    /// ```
    /// use keygate::MethodPolicy;
    /// use keygate_actix::RequireScope;
    /// let by_method = RequireScope::method_policy(MethodPolicy::rest().resource_segment(1));
    /// # let _ = by_method;
    /// ```
    pub fn method_policy(policy: MethodPolicy) -> Self {
        Self {
            rule: Rule::Methods(Arc::new(policy)),
            shadow: false,
        }
    }

    /// The same requirement in shadow mode, to roll it out safely: callers without the
    /// scope are let through, and what it would have refused is counted
    /// (`shadow_forbidden`), logged and audited (`key.shadow_scope`). A request without
    /// a verified key is still refused.
    ///
    /// ```
    /// use keygate_actix::RequireScope;
    /// let rolling_out = RequireScope::new("write:beta").in_shadow();
    /// # let _ = rolling_out;
    /// ```
    #[must_use]
    pub fn in_shadow(mut self) -> Self {
        self.shadow = true;
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireScopeMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeMiddleware {
            service,
            rule: self.rule.clone(),
            shadow: self.shadow,
        }))
    }
}

/// The service made by [`RequireScope`] around the inner service (actix builds it when
/// the app starts; you rarely name it).
///
/// ```
/// use actix_web::dev::{fn_service, Service, ServiceRequest, Transform};
/// use actix_web::{test::TestRequest, HttpResponse};
/// use keygate_actix::RequireScope;
///
/// # actix_web::rt::System::new().block_on(async {
/// let inner = fn_service(|req: ServiceRequest| async { Ok(req.into_response(HttpResponse::Ok())) });
/// let middleware = RequireScope::new("read:items").new_transform(inner).await.unwrap();
/// // No principal in the request: no ApiKeyAuth ran.
/// let res = middleware.call(TestRequest::default().to_srv_request()).await.unwrap();
/// assert_eq!(res.status(), 401);
/// # });
/// ```
pub struct RequireScopeMiddleware<S> {
    service: S,
    rule: Rule,
    shadow: bool,
}

impl<S> fmt::Debug for RequireScopeMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeMiddleware")
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RequireScopeMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = RequireScopeFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let decide = if self.shadow { check_in_shadow } else { check };
        let verdict = match &self.rule {
            Rule::Fixed(requirement) => decide(&req, requirement),
            Rule::Methods(policy) => {
                decide(&req, &policy.requirement(req.method().as_str(), req.path()))
            }
        };
        let kind = match verdict {
            Ok(()) => Kind::Inner {
                future: self.service.call(req),
            },
            Err(rejection) => Kind::Rejected {
                response: Some(req.into_response(rejection.error_response())),
            },
        };
        RequireScopeFuture { kind }
    }
}

pin_project! {
    /// The response future of [`RequireScopeMiddleware`]: the inner service's, or the
    /// refusal (no boxing). Made by [`Service::call`]; see [`RequireScopeMiddleware`]
    /// for an example.
    pub struct RequireScopeFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Rejected { response: Option<ServiceResponse<BoxBody>> },
    }
}

impl<F> fmt::Debug for RequireScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeFuture").finish_non_exhaustive()
    }
}

impl<F, B> Future for RequireScopeFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => {
                future.poll(cx).map_ok(ServiceResponse::map_into_left_body)
            }
            KindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map_into_right_body())),
                None => Poll::Ready(Err(actix_web::error::ErrorInternalServerError(
                    "RequireScopeFuture polled after completion",
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::{web, App, HttpResponse};

    use super::*;
    use crate::testing::{gate_with_key, header};
    use crate::ApiKeyAuth;

    #[test]
    fn parses_or_refuses_requirements() {
        assert!(RequireScope::try_new("all(read:items, any(write:items, admin))").is_ok());
        let err = RequireScope::try_new("write items").err();
        assert!(err.is_some());
        let panicked = std::panic::catch_unwind(|| RequireScope::new("any("));
        assert!(panicked.is_err());
    }

    #[actix_web::test]
    async fn method_policy_maps_methods_to_actions_on_the_full_path() {
        let (gate, key) = gate_with_key(&["read:accounts"], true).await;
        let app = init_service(
            App::new().wrap(ApiKeyAuth::new(gate)).service(
                web::scope("/v1")
                    .wrap(RequireScope::method_policy(MethodPolicy::rest()))
                    .route("/accounts", web::get().to(HttpResponse::Ok))
                    .route("/accounts", web::post().to(HttpResponse::Created)),
            ),
        )
        .await;
        let auth = ("x-api-key", key.as_str());
        let get = TestRequest::get()
            .uri("/v1/accounts")
            .insert_header(auth)
            .to_request();
        assert_eq!(call_service(&app, get).await.status(), 200);
        let post = TestRequest::post()
            .uri("/v1/accounts")
            .insert_header(auth)
            .to_request();
        let res = call_service(&app, post).await;
        assert_eq!(res.status(), 403);
        assert_eq!(
            header(&res, "www-authenticate").as_deref(),
            Some(r#"Bearer error="insufficient_scope", scope="write:accounts""#)
        );
        assert_eq!(
            read_body(res).await,
            r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#
        );
    }
}

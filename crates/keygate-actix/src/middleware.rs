//! `ApiKeyAuth`: the middleware that verifies the key.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready as ready_poll, Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use keygate::rate_limit::RateLimitHeaderText;
use keygate::request::Checked;
use keygate::{AuthError, Authenticated, KeyGate};
use pin_project_lite::pin_project;

use crate::hide::{hide_credentials, mark_sensitive, SourceHeaders};
use crate::parts::ActixParts;
use crate::rejection::AuthRejection;

/// Middleware that verifies the API key of every request it wraps.
///
/// Built from a [`KeyGate`] (where keys are read from, the verifier, the renderer,
/// whether credentials are hidden). For each request it:
///
/// 1. finds the one credential (no I/O); none, two different ones, or a malformed one
///    is refused at once;
/// 2. verifies it, with the connection's peer address as client IP and the `Referer`
///    header as referrer;
/// 3. on success, removes the credential when the gate hides credentials (credential
///    headers are marked sensitive in any case), puts one [`keygate::Authenticated`]
///    (principal, rate-limit state, the gate's renderer) into request extensions, calls the
///    inner service, and adds the `X-RateLimit-*` headers to its response;
/// 4. on failure, answers with the rendered error (400/401/403/429/503), never calling
///    the inner service.
///
/// The client IP is a [`keygate::request::ClientIp`] put into the request's extensions by an
/// earlier middleware (behind a trusted proxy), else the TCP peer.
///
/// ```
/// use actix_web::{test, web, App};
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_actix::{ApiKeyAuth, Principal};
///
/// # actix_web::rt::System::new().block_on(async {
/// let gate = KeyGate::builder(MemoryStore::new()).prefix("sk").build();
/// let app = test::init_service(
///     App::new()
///         .wrap(ApiKeyAuth::new(gate))
///         .route("/me", web::get().to(|p: Principal| async move { p.name().to_owned() })),
/// )
/// .await;
/// let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
/// assert_eq!(res.status(), 401);
/// assert_eq!(res.headers().get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    gate: KeyGate,
}

impl ApiKeyAuth {
    /// Verifies keys with `gate`.
    pub fn new(gate: KeyGate) -> Self {
        Self { gate }
    }

    /// Starts a [`KeyGateBuilder`](keygate::KeyGateBuilder) whose `build()` returns an
    /// `ApiKeyAuth`, as `keygate_tower::ApiKeyLayer::builder` does.
    ///
    /// ```
    /// use keygate::MemoryStore;
    /// use keygate_actix::ApiKeyAuth;
    /// let auth = ApiKeyAuth::builder(MemoryStore::new()).prefix("sk").envs(["live"]).build();
    /// # let _ = auth;
    /// ```
    pub fn builder(store: impl keygate::KeyStore) -> keygate::KeyGateBuilder<Self> {
        KeyGate::builder(store).finish_with(Self::new)
    }

    /// The gate.
    pub fn gate(&self) -> &KeyGate {
        &self.gate
    }
}

impl From<KeyGate> for ApiKeyAuth {
    fn from(gate: KeyGate) -> Self {
        Self::new(gate)
    }
}

impl<S, B> Transform<S, ServiceRequest> for ApiKeyAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ApiKeyAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ApiKeyAuthMiddleware {
            service: Rc::new(service),
            headers: SourceHeaders::of(&self.gate),
            gate: self.gate.clone(),
        }))
    }
}

/// The service made by [`ApiKeyAuth`] around the inner service (actix builds it when
/// the app starts; you rarely name it).
///
/// ```
/// use actix_web::dev::{fn_service, Service, ServiceRequest, Transform};
/// use actix_web::{test::TestRequest, HttpResponse};
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_actix::ApiKeyAuth;
///
/// # actix_web::rt::System::new().block_on(async {
/// let inner = fn_service(|req: ServiceRequest| async { Ok(req.into_response(HttpResponse::Ok())) });
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let middleware = ApiKeyAuth::new(gate).new_transform(inner).await.unwrap();
/// let res = middleware.call(TestRequest::default().to_srv_request()).await.unwrap();
/// assert_eq!(res.status(), 401);
/// # });
/// ```
#[derive(Debug)]
pub struct ApiKeyAuthMiddleware<S> {
    service: Rc<S>,
    gate: KeyGate,
    headers: SourceHeaders,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for ApiKeyAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = AuthFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let checked = self.gate.check(&ActixParts::of(&req));
        match checked {
            Checked::Done(Ok(authenticated)) => call_inner(
                &*self.service,
                req,
                authenticated,
                &self.gate,
                &self.headers,
            ),
            Checked::Done(Err(error)) => AuthFuture::refused(req, error, &self.gate),
            Checked::Pending(prepared) => AuthFuture::Slow {
                future: Box::pin(authenticate(
                    Rc::clone(&self.service),
                    self.gate.clone(),
                    self.headers.clone(),
                    req,
                    prepared,
                )),
            },
        }
    }
}

pin_project! {
    /// The response future of [`ApiKeyAuthMiddleware`]: a key verified from memory
    /// leaves it polling the inner service's future directly; a key that needs the
    /// store polls one boxed verification (actix futures are local: no `Send`).
    #[project = AuthFutureProj]
    pub enum AuthFuture<F, B> {
        /// The inner service is answering.
        Calling {
            #[pin]
            future: F,
            rate_limit: Option<RateLimitHeaderText>,
        },
        /// Answered without the inner service.
        Done {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
        /// The key is being verified against the store.
        Slow {
            future: LocalBoxFuture<Result<ServiceResponse<EitherBody<B>>, Error>>,
        },
    }
}

impl<F, B> std::fmt::Debug for AuthFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthFuture")
    }
}

impl<F, B> AuthFuture<F, B> {
    fn refused(req: ServiceRequest, error: AuthError, gate: &KeyGate) -> Self {
        Self::Done {
            response: Some(refusal(req, error, gate)),
        }
    }
}

impl<F, B> Future for AuthFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AuthFutureProj::Calling { future, rate_limit } => {
                let mut response = ready_poll!(future.poll(cx))?;
                if let Some(fields) = rate_limit.take() {
                    add_rate_limit_headers(&mut response, fields);
                }
                Poll::Ready(Ok(response.map_into_left_body()))
            }
            AuthFutureProj::Done { response } => Poll::Ready(Ok(response
                .take()
                .expect("AuthFuture polled after completion"))),
            AuthFutureProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

/// Hands the verified request to the inner service: credential headers marked
/// sensitive (removed when the gate hides credentials), the [`Authenticated`] in its
/// extensions. A URI that cannot be rebuilt without the key gives a 500 instead (the
/// key is never passed on).
fn call_inner<S, B>(
    service: &S,
    mut req: ServiceRequest,
    authenticated: Authenticated,
    gate: &KeyGate,
    headers: &SourceHeaders,
) -> AuthFuture<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    if gate.hides_credentials() {
        if hide_credentials(&mut req, gate, authenticated.found_in).is_err() {
            tracing::error!("keygate: could not remove the API key from the request URI");
            let response = HttpResponse::InternalServerError().finish();
            return AuthFuture::Done {
                response: Some(req.into_response(response).map_into_right_body()),
            };
        }
    } else {
        mark_sensitive(&mut req, headers, authenticated.found_in);
    }
    let style = authenticated.renderer.rate_limit_headers();
    let rate_limit = authenticated
        .rate_limit
        .as_ref()
        .map(|report| report.header_text(style));
    req.extensions_mut().insert(authenticated);
    AuthFuture::Calling {
        future: service.call(req),
        rate_limit,
    }
}

/// The slow path: the full pipeline with the store's I/O, then the inner service.
async fn authenticate<S, B>(
    service: Rc<S>,
    gate: KeyGate,
    headers: SourceHeaders,
    req: ServiceRequest,
    prepared: keygate::request::PreparedRequest,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    match gate.authenticate(prepared).await {
        Ok(authenticated) => call_inner(&*service, req, authenticated, &gate, &headers).await,
        Err(error) => Ok(refusal(req, error, &gate)),
    }
}

/// `error` rendered by the gate's renderer, as the response to `req`.
fn refusal<B>(
    req: ServiceRequest,
    error: AuthError,
    gate: &KeyGate,
) -> ServiceResponse<EitherBody<B>> {
    let response = AuthRejection::new(error, gate.renderer().clone()).error_response();
    req.into_response(response).map_into_right_body()
}

fn add_rate_limit_headers<B>(response: &mut ServiceResponse<B>, mut fields: RateLimitHeaderText) {
    // The values in one shared buffer (one allocation, not one per header); the names
    // parsed at compile time.
    static NAMES: [HeaderName; 5] = [
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderName::from_static("ratelimit-policy"),
        HeaderName::from_static("ratelimit"),
    ];
    let text = actix_web::web::Bytes::from(std::mem::take(&mut fields.text));
    let headers = response.headers_mut();
    for (index, range) in fields.ranges() {
        // Digits and Structured Field lists of checked names: always valid values.
        if let Ok(value) = HeaderValue::from_maybe_shared(text.slice(range)) {
            headers.insert(NAMES[index].clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::{web, App, HttpRequest};

    use super::*;
    use crate::testing::{gate_with_key, header};

    async fn echo(req: HttpRequest) -> String {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        let renderer = req.extensions().get::<keygate::Authenticated>().is_some();
        format!(
            "{} {} {} {renderer}",
            header("authorization"),
            header("x-api-key"),
            req.query_string()
        )
    }

    #[actix_web::test]
    async fn hides_credentials_and_fills_extensions() {
        let (gate, key) = gate_with_key(&["read:items"], true).await;
        let app = init_service(
            App::new()
                .wrap(ApiKeyAuth::new(gate))
                .route("/e", web::get().to(echo)),
        )
        .await;
        let req = TestRequest::get()
            .uri(&format!("/e?x=1&api_key={key}"))
            .insert_header(("x-api-key", key.as_str()))
            .to_request();
        let body = read_body(call_service(&app, req).await).await;
        assert_eq!(body, "- - x=1 true");
    }

    #[actix_web::test]
    async fn keeps_credentials_when_not_hiding() {
        let (gate, key) = gate_with_key(&["read:items"], false).await;
        let app = init_service(
            App::new()
                .wrap(ApiKeyAuth::new(gate))
                .route("/e", web::get().to(echo)),
        )
        .await;
        let req = TestRequest::get()
            .uri("/e")
            .insert_header(("authorization", format!("Bearer {key}")))
            .to_request();
        let body = read_body(call_service(&app, req).await).await;
        assert_eq!(body, format!("Bearer {key} -  true"));
    }

    #[actix_web::test]
    async fn refusals_never_reach_the_handler() {
        let (gate, key) = gate_with_key(&["read:items"], true).await;
        let app = init_service(
            App::new()
                .wrap(ApiKeyAuth::new(gate))
                .route("/e", web::get().to(|| async { "reached" })),
        )
        .await;
        let two = TestRequest::get()
            .uri("/e")
            .insert_header(("authorization", format!("Bearer {key}")))
            .insert_header(("x-api-key", "sk_live_other"))
            .to_request();
        let res = call_service(&app, two).await;
        assert_eq!(res.status(), 400);
        assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
        let none = TestRequest::get().uri("/e").to_request();
        let res = call_service(&app, none).await;
        assert_eq!(res.status(), 401);
        assert_eq!(
            read_body(res).await,
            r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#
        );
    }

    #[test]
    fn adds_rate_limit_headers() {
        let mut res = TestRequest::default().to_srv_response(HttpResponse::Ok().finish());
        use keygate::rate_limit::{
            GcraState, LimitName, Policy, RateLimitHeaders, RateLimitReport,
        };
        let spec = keygate::RateLimitSpec::per_minute(10);
        let now = 1_700_000_000_000_000;
        let step = GcraState::step(None, &spec, now);
        let report = RateLimitReport::new(
            now,
            Policy::after(LimitName::default_limit(), &spec, &step, true, now),
        );
        add_rate_limit_headers(&mut res, report.header_text(RateLimitHeaders::Both));
        assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("9"));
        assert_eq!(
            header(&res, "x-ratelimit-reset").as_deref(),
            Some("1700000006")
        );
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some(r#""default";q=10;w=60"#)
        );
        assert_eq!(
            header(&res, "ratelimit").as_deref(),
            Some(r#""default";r=9;t=6"#)
        );
    }
}

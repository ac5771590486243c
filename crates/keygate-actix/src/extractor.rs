//! The `Principal` extractor.

use std::fmt;
use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

/// The verified caller, as an actix-web extractor: `async fn h(principal: Principal)`.
///
/// Derefs to [`keygate::Principal`] (key id, name, tenant, scopes, …). Use
/// `Option<Principal>` where a caller is optional. Without an
/// [`ApiKeyAuth`](crate::ApiKeyAuth) middleware around the route the extractor fails
/// with [`MissingPrincipal`] (500): a wiring mistake to fix, never a route left open.
///
/// ```
/// use actix_web::{test, web, App};
/// use keygate_actix::Principal;
///
/// async fn me(principal: Principal) -> String {
///     format!("{} of {}", principal.key_id(), principal.tenant())
/// }
///
/// async fn maybe(principal: Option<Principal>) -> String {
///     principal.map_or_else(|| "anonymous".to_owned(), |p| p.name().to_owned())
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// // No ApiKeyAuth here: the server is misconfigured.
/// let app = test::init_service(
///     App::new().route("/me", web::get().to(me)).route("/maybe", web::get().to(maybe)),
/// )
/// .await;
/// let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
/// assert_eq!(res.status(), 500);
/// let res = test::call_service(&app, test::TestRequest::get().uri("/maybe").to_request()).await;
/// assert_eq!(test::read_body(res).await, "anonymous");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Principal(pub keygate::Principal);

impl Principal {
    /// The core principal.
    pub fn into_inner(self) -> keygate::Principal {
        self.0
    }
}

impl Deref for Principal {
    type Target = keygate::Principal;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<Principal> for keygate::Principal {
    fn from(principal: Principal) -> Self {
        principal.0
    }
}

impl FromRequest for Principal {
    type Error = MissingPrincipal;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<keygate::Authenticated>()
                .map(|a| Principal(a.principal.clone()))
                .ok_or(MissingPrincipal),
        )
    }
}

/// Why [`Principal`] could not be extracted: no [`ApiKeyAuth`](crate::ApiKeyAuth)
/// middleware ran for the route. A server misconfiguration, so a 500 (logged at
/// `error` level when it is sent), never a 401 the client could do something about.
///
/// ```
/// use actix_web::ResponseError;
/// use keygate_actix::MissingPrincipal;
/// let missing = MissingPrincipal::default();
/// assert_eq!(missing.status_code(), 500);
/// assert!(missing.body_text().contains("ApiKeyAuth middleware is missing"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MissingPrincipal;

impl MissingPrincipal {
    /// The explanation sent as the body.
    pub fn body_text(&self) -> &'static str {
        "keygate: the ApiKeyAuth middleware is missing: no Principal in request extensions. \
         Wrap the app, scope or resource with keygate_actix::ApiKeyAuth (outside any RequireScope)."
    }
}

impl fmt::Display for MissingPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl ResponseError for MissingPrincipal {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        // Logged here, not in `from_request`: `Option<Principal>` discards the error.
        tracing::error!("{}", self.body_text());
        HttpResponse::build(self.status_code())
            .content_type(ContentType::plaintext())
            .body(self.body_text())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use keygate::hash::KeyHasher;
    use keygate::KeyRecord;

    use super::*;

    fn principal() -> keygate::Principal {
        let record = KeyRecord::new(
            KeyHasher::Sha256.hash("k"),
            "hint",
            "sk",
            "live",
            "ci",
            "acme",
        );
        keygate::Principal::from_record(&record, record.scopes.clone())
    }

    #[actix_web::test]
    async fn extracts_the_principal_from_extensions() {
        let req = TestRequest::default().to_http_request();
        req.extensions_mut()
            .insert(keygate::Authenticated::new(principal()));
        let got = Principal::extract(&req)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.tenant(), "acme");
        assert_eq!(keygate::Principal::from(got).name(), "ci");
    }

    #[actix_web::test]
    async fn missing_middleware_is_a_500_and_option_is_none() {
        let req = TestRequest::default().to_http_request();
        let err = Principal::extract(&req).await.err();
        assert!(err.is_some());
        let res = MissingPrincipal.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let none = Option::<Principal>::extract(&req)
            .await
            .unwrap_or_else(|e| match e {});
        assert!(none.is_none());
    }
}

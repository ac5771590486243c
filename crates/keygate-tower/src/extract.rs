//! The axum extractor.

use std::convert::Infallible;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

/// The verified caller, as an axum extractor: `async fn h(principal: Principal)`.
///
/// Derefs to [`keygate::Principal`]. Use `Option<Principal>` on routes where a key is
/// optional. Without an [`ApiKeyLayer`](crate::ApiKeyLayer) in front of the route the
/// extractor fails with [`MissingPrincipal`] (500): a wiring mistake to fix, never a
/// route left open.
///
/// ```
/// use keygate_tower::Principal;
/// async fn me(principal: Principal) -> String {
///     format!("{} of {}", principal.key_id(), principal.tenant())
/// }
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

/// Rejection of [`Principal`] when no `ApiKeyLayer` ran for the route.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MissingPrincipal;

impl MissingPrincipal {
    /// 500: the server is misconfigured.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The explanation sent as the body.
    pub fn body_text(&self) -> &'static str {
        "keygate: no Principal in request extensions. Is ApiKeyLayer applied to this route? (Router::layer or route_layer)"
    }
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        tracing::error!("{}", self.body_text());
        (self.status(), self.body_text()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<keygate::Authenticated>()
            .map(|a| Principal(a.principal.clone()))
            .ok_or(MissingPrincipal)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<keygate::Authenticated>()
            .map(|a| Principal(a.principal.clone())))
    }
}

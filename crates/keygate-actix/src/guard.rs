//! The extractor behind `#[require_scope]`: a hidden first argument that refuses the
//! request before any other extractor reads it.

use std::fmt;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::sync::OnceLock;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use keygate::Requirement;

use crate::rejection::AuthRejection;

/// A requirement known at compile time, carried by a type: `#[require_scope]`
/// generates one zero-sized type per handler implementing this.
pub trait ScopeRequirement: 'static {
    /// The requirement (parsed once).
    fn requirement() -> &'static Requirement;
}

/// Parses `text` into `cell` once. `#[require_scope]` has already checked `text` at
/// compile time; should parsing ever fail here, the requirement fails closed (it is
/// met by no key).
pub fn requirement_cell(
    cell: &'static OnceLock<Requirement>,
    text: &'static str,
) -> &'static Requirement {
    cell.get_or_init(|| {
        Requirement::parse(text).unwrap_or_else(|e| {
            tracing::error!("keygate: #[require_scope({text:?})] does not parse at run time: {e}; refusing every key");
            Requirement::Any(Vec::new())
        })
    })
}

/// Extracts only when the request's principal meets `R`'s requirement: otherwise 401
/// (no principal: no `ApiKeyAuth` ran) or 403 `insufficient_scope`, rendered by the
/// renderer in request extensions.
pub struct ScopeGuard<R>(PhantomData<fn() -> R>);

impl<R> fmt::Debug for ScopeGuard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeGuard")
    }
}

impl<R: ScopeRequirement> FromRequest for ScopeGuard<R> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req, R::requirement()).map(|()| ScopeGuard(PhantomData)))
    }
}

/// 401 without a principal, 403 when it lacks `requirement`.
pub(crate) fn check(
    req: &impl HttpMessage,
    requirement: &Requirement,
) -> Result<(), AuthRejection> {
    check_with(req, requirement, keygate::scope::require)
}

/// [`check`] in shadow mode: 401 without a principal; one that lacks `requirement`
/// goes through, the refusal it would have had noted by the core.
pub(crate) fn check_in_shadow(
    req: &impl HttpMessage,
    requirement: &Requirement,
) -> Result<(), AuthRejection> {
    check_with(req, requirement, keygate::scope::require_in_shadow)
}

fn check_with(
    req: &impl HttpMessage,
    requirement: &Requirement,
    decide: fn(Option<&keygate::Authenticated>, &Requirement) -> Result<(), keygate::AuthError>,
) -> Result<(), AuthRejection> {
    let extensions = req.extensions();
    let authenticated = extensions.get::<keygate::Authenticated>();
    decide(authenticated, requirement).map_err(|error| {
        let renderer = authenticated
            .map(|a| a.renderer.clone())
            .unwrap_or_default();
        AuthRejection::new(error, renderer)
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use actix_web::ResponseError;
    use keygate::hash::KeyHasher;
    use keygate::{KeyRecord, ScopeSet};

    use super::*;

    struct WriteItems;
    impl ScopeRequirement for WriteItems {
        fn requirement() -> &'static Requirement {
            static CELL: OnceLock<Requirement> = OnceLock::new();
            requirement_cell(&CELL, "write:items")
        }
    }

    fn principal(scopes: &[&str]) -> keygate::Principal {
        let record = KeyRecord::new(
            KeyHasher::Sha256.hash("k"),
            "hint",
            "sk",
            "live",
            "ci",
            "acme",
        );
        keygate::Principal::from_record(
            &record,
            ScopeSet::parse(scopes).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    async fn status_with(principal: Option<keygate::Principal>) -> u16 {
        let req = TestRequest::default().to_http_request();
        if let Some(p) = principal {
            req.extensions_mut().insert(keygate::Authenticated::new(p));
        }
        match ScopeGuard::<WriteItems>::extract(&req).await {
            Ok(_) => 200,
            Err(e) => e.status_code().as_u16(),
        }
    }

    #[actix_web::test]
    async fn checks_the_requirement() {
        assert_eq!(status_with(None).await, 401);
        assert_eq!(status_with(Some(principal(&["read:items"]))).await, 403);
        assert_eq!(status_with(Some(principal(&["write:items"]))).await, 200);
        assert_eq!(status_with(Some(principal(&["*"]))).await, 200);
    }

    #[test]
    fn unparsable_text_fails_closed() {
        static CELL: OnceLock<Requirement> = OnceLock::new();
        let requirement = requirement_cell(&CELL, "not a scope");
        assert!(
            !requirement.is_satisfied_by(&ScopeSet::parse(["*"]).unwrap_or_else(|e| panic!("{e}")))
        );
    }
}

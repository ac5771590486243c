//! The request flow, owned by the core: request parts in, one [`Authenticated`] or an
//! [`AuthError`] out. Adapters only translate their framework's request into
//! [`RequestParts`] and the outcome into a response: every decision is made here, once,
//! so axum and actix-web cannot drift.
//!
//! 1. [`KeyGate::prepare`] (no I/O): the one credential, from the configured sources in
//!    order ([`extract_credential`](crate::extract_credential)); the client IP; the
//!    `Referer` header, decoded as UTF-8;
//! 2. [`KeyGate::authenticate`]: the verify pipeline ([`Verifier`](crate::Verifier)),
//!    then which sources the adapter must strip when credentials are hidden.

use std::net::IpAddr;

use crate::credential::{extract_credential, CredentialSource, FoundIn, RequestParts};
use crate::error::AuthError;
use crate::gate::KeyGate;
use crate::principal::Principal;
use crate::rate_limit::RateLimitStatus;
use crate::secret::ApiKeySecret;
use crate::verifier::VerifyRequest;

/// A request's credential and context, taken from its parts with no I/O: it owns what
/// it needs, so the request itself can move on (into the inner service) while the key
/// is verified.
#[derive(Debug)]
pub struct PreparedRequest {
    key: ApiKeySecret,
    found_in: FoundIn,
    client_ip: Option<IpAddr>,
    referrer: Option<String>,
}

impl PreparedRequest {
    /// The client IP the verifier will check restrictions against.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
}

/// A verified request: who is calling, its rate-limit state, and what the adapter must
/// strip before the inner service sees the request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling: put it into the request's extensions.
    pub principal: Principal,
    /// The rate-limit state after this request, when limits are on: send it as headers
    /// ([`rate_limit_headers`]).
    pub rate_limit: Option<RateLimitStatus>,
    /// The sources that carried the key, when the gate hides credentials (empty
    /// otherwise): remove each from the request.
    pub hide: FoundIn,
}

impl KeyGate {
    /// Step 1, no I/O: the request's one credential and its context.
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore, RequestParts};
    /// struct Parts;
    /// impl RequestParts for Parts {
    ///     fn for_each_header(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
    ///         if name == "authorization" { f(b"Bearer sk_live_x") }
    ///     }
    ///     fn query(&self) -> Option<&str> { None }
    /// }
    /// let gate = KeyGate::builder(MemoryStore::new()).build();
    /// assert!(gate.prepare(&Parts).is_ok());
    /// ```
    pub fn prepare(&self, parts: &impl RequestParts) -> Result<PreparedRequest, AuthError> {
        let credential = extract_credential(self.sources(), parts)?;
        let mut referrer = None;
        parts.for_each_header("referer", &mut |raw| {
            if referrer.is_none() {
                referrer = std::str::from_utf8(raw).ok().map(str::to_owned);
            }
        });
        Ok(PreparedRequest {
            key: credential.key,
            found_in: credential.found_in,
            client_ip: parts.client_ip(),
            referrer,
        })
    }

    /// Step 2: verifies a prepared request.
    pub async fn authenticate(&self, request: PreparedRequest) -> Result<Authenticated, AuthError> {
        let verification = self
            .verify(VerifyRequest {
                key: request.key.expose(),
                client_ip: request.client_ip,
                referrer: request.referrer.as_deref(),
            })
            .await?;
        Ok(Authenticated {
            principal: verification.principal,
            rate_limit: verification.rate_limit,
            hide: if self.hides_credentials() {
                request.found_in
            } else {
                FoundIn::default()
            },
        })
    }

    /// Whether a header carries credentials under this gate (adapters mark such headers
    /// sensitive, so logging layers do not print them). `name` must be lower-case.
    pub fn is_credential_header(&self, name: &str) -> bool {
        self.sources().iter().any(|s| s.header_name() == Some(name))
    }

    /// The sources of `found`, for an adapter stripping them.
    pub fn sources_in(&self, found: FoundIn) -> impl Iterator<Item = &CredentialSource> + '_ {
        self.sources()
            .iter()
            .enumerate()
            .filter(move |(i, _)| found.contains(*i))
            .map(|(_, s)| s)
    }
}

/// The `X-RateLimit-*` headers of `status`: static lower-case names and their values,
/// so an adapter writes them without building names or strings.
///
/// ```
/// use keygate::{rate_limit_headers, RateLimitStatus};
/// let status = RateLimitStatus { limit: 10, remaining: 9, reset: 1_700_000_060 };
/// assert_eq!(rate_limit_headers(&status)[2], ("x-ratelimit-reset", 1_700_000_060));
/// ```
pub fn rate_limit_headers(status: &RateLimitStatus) -> [(&'static str, i64); 3] {
    [
        ("x-ratelimit-limit", i64::from(status.limit)),
        ("x-ratelimit-remaining", i64::from(status.remaining)),
        ("x-ratelimit-reset", status.reset),
    ]
}

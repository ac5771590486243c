//! The request flow, owned by the core: request parts in, one [`Authenticated`] or an
//! [`AuthError`] out. Adapters only translate their framework's request into
//! [`RequestParts`] and the outcome into a response: every decision is made here, once,
//! so axum and actix-web cannot drift.
//!
//! 1. [`KeyGate::check`] (no I/O, no allocation): the one credential, from the
//!    configured sources in order ([`extract_credential`](crate::request::extract_credential)),
//!    borrowed from the request; then the verify pipeline answered from memory when it
//!    can be (a warm key: [`Checked::Done`]);
//! 2. otherwise [`Checked::Pending`] holds what the rest needs (the key, the client IP,
//!    the `Referer`), owned, so the request can move on while
//!    [`KeyGate::authenticate`] runs the full pipeline with the store's I/O.
//!
//! Either way the adapter gets one [`Authenticated`] (put it into the request's
//! extensions) or one [`AuthError`] (render it with the gate's renderer).

use std::net::IpAddr;

use crate::error::AuthError;
use crate::gate::KeyGate;
use crate::principal::Principal;
use crate::rate_limit::RateLimitReport;
use crate::render::SharedRenderer;
use crate::request::{
    extract_credential, CredentialSource, ExtractedCredential, FoundIn, RequestParts,
};
use crate::secret::ApiKeySecret;
use crate::verifier::{Verification, VerifyRequest};

/// What [`KeyGate::check`] found out without I/O.
#[derive(Debug)]
#[must_use]
pub enum Checked {
    /// The answer: a warm key's [`Authenticated`], or any refusal decided from the
    /// request alone (no key, two keys, a bad checksum, a throttled client, …).
    Done(Result<Authenticated, AuthError>),
    /// The answer needs the store (or an audit write): finish with
    /// [`KeyGate::authenticate`].
    Pending(PreparedRequest),
}

/// A request's credential and context, taken from its parts with no I/O: it owns what
/// it needs, so the request itself can move on (into the inner service) while the key
/// is verified.
#[derive(Debug)]
pub struct PreparedRequest {
    key: ApiKeySecret,
    found_in: FoundIn,
    client_ip: Option<IpAddr>,
    referrer: Option<String>,
    cost: u64,
}

impl PreparedRequest {
    /// What the full path needs from a request, owned.
    fn own(
        credential: ExtractedCredential<'_>,
        client_ip: Option<IpAddr>,
        parts: &impl RequestParts,
        cost: u64,
    ) -> Self {
        Self {
            found_in: credential.found_in,
            key: credential.into_secret(),
            client_ip,
            referrer: parts.referrer().map(str::to_owned),
            cost,
        }
    }

    /// The client IP the verifier will check restrictions against.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
}

/// A verified request: who is calling, its rate-limit state, the gate's error renderer
/// (for extractors and scope checks further in, so every error of a service has one
/// shape), and where the key was found.
///
/// Adapters put it into the request's extensions, once; the frameworks' `Principal`
/// extractors, `RequireScope` and `#[require_scope]` read it from there.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling.
    pub principal: Principal,
    /// The rate-limit state after this request, when limits are on: send it as headers
    /// ([`rate_limit_headers`](crate::rate_limit::rate_limit_headers)).
    pub rate_limit: Option<RateLimitReport>,
    /// The sources that carried the key: mark them sensitive, and remove each from the
    /// request when the gate [hides credentials](KeyGate::hides_credentials).
    pub found_in: FoundIn,
    /// The gate's error renderer.
    pub renderer: SharedRenderer,
}

impl Authenticated {
    /// `principal` authenticated with no rate limit, found nowhere in particular, and
    /// the default renderer: what a key layer would put into a request's extensions,
    /// for tests of handlers, extractors and scope checks.
    ///
    /// ```
    /// use keygate::{Authenticated, KeyRecord, Principal, ScopeSet};
    /// use keygate::hash::KeyHasher;
    /// let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "live", "ci", "acme");
    /// let authenticated = Authenticated::new(Principal::from_record(&record, ScopeSet::new()));
    /// assert_eq!(authenticated.principal.tenant(), "acme");
    /// ```
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            rate_limit: None,
            found_in: FoundIn::default(),
            renderer: SharedRenderer::default(),
        }
    }

    /// The same with `renderer` as the gate's renderer.
    #[must_use]
    pub fn with_renderer(mut self, renderer: SharedRenderer) -> Self {
        self.renderer = renderer;
        self
    }
}

impl KeyGate {
    /// Step 1, no I/O: finds the request's one credential and verifies it from memory
    /// when it can, else prepares the rest for [`KeyGate::authenticate`].
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore};
    /// use keygate::request::{Checked, RequestParts};
    /// struct Parts;
    /// impl RequestParts for Parts {
    ///     fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
    ///         (name == "authorization").then_some(&b"Bearer sk_live_x"[..]).into_iter()
    ///     }
    ///     fn query(&self) -> Option<&str> { None }
    /// }
    /// let gate = KeyGate::builder(MemoryStore::new()).build();
    /// // Not a well-formed key: refused at once, no I/O.
    /// assert!(matches!(gate.check(&Parts), Checked::Done(Err(_))));
    /// ```
    pub fn check(&self, parts: &impl RequestParts) -> Checked {
        let credential = match extract_credential(self.sources(), parts) {
            Ok(credential) => credential,
            Err(err) => return Checked::Done(Err(err)),
        };
        let client_ip = parts.client_ip();
        match self.verifier().verify_now(
            credential.key_bytes(),
            client_ip,
            || parts.referrer(),
            || self.cost_of(parts),
        ) {
            Some(result) => {
                Checked::Done(result.map(|v| self.authenticated(v, credential.found_in)))
            }
            None => Checked::Pending(PreparedRequest::own(
                credential,
                client_ip,
                parts,
                self.cost_of(parts),
            )),
        }
    }

    /// Step 1 without the in-memory answer: the request's one credential and its
    /// context, owned, for [`KeyGate::authenticate`].
    pub fn prepare(&self, parts: &impl RequestParts) -> Result<PreparedRequest, AuthError> {
        let credential = extract_credential(self.sources(), parts)?;
        Ok(PreparedRequest::own(
            credential,
            parts.client_ip(),
            parts,
            self.cost_of(parts),
        ))
    }

    /// Step 2: the full pipeline over a prepared request (the store's I/O, audit
    /// events).
    pub async fn authenticate(&self, request: PreparedRequest) -> Result<Authenticated, AuthError> {
        let verification = self
            .verifier()
            .verify_full(VerifyRequest {
                key: request.key.expose(),
                client_ip: request.client_ip,
                referrer: request.referrer.as_deref(),
                cost: request.cost,
            })
            .await?;
        Ok(self.authenticated(verification, request.found_in))
    }

    fn authenticated(&self, verification: Verification, found_in: FoundIn) -> Authenticated {
        Authenticated {
            principal: verification.principal,
            rate_limit: verification.rate_limit,
            found_in,
            renderer: self.renderer().clone(),
        }
    }

    /// Whether a header carries credentials under this gate (adapters mark such headers
    /// sensitive, so logging layers do not print them). `name` must be lower-case.
    pub fn is_credential_header(&self, name: &str) -> bool {
        self.sources().iter().any(|s| s.header_name() == Some(name))
    }

    /// The sources of `found`, for an adapter stripping them.
    pub fn sources_in(&self, found: FoundIn) -> impl Iterator<Item = &CredentialSource> + '_ {
        found.select(self.sources())
    }
}

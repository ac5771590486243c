//! `KeyGate`: one configuration shared by every adapter (tower, actix-web).

use std::sync::Arc;

use crate::clock::Clock;
use crate::credits::{CreditLedger, RouteCosts};
use crate::error::AuthError;
use crate::hash::KeyHasher;
use crate::rate_limit::{FailureThrottle, RateLimitHeaders, RateLimits};
use crate::render::{ErrorRenderer, SharedRenderer};
use crate::request::{extract_credential, CredentialSource, ExtractedCredential, RequestParts};
use crate::store::KeyStore;
use crate::verifier::{Verification, Verifier, VerifierBuilder, VerifyRequest};

/// Everything an adapter needs: the [`Verifier`], where credentials are read from, how
/// errors are rendered, and whether credentials are hidden from the inner service.
///
/// Build it once and hand it to `keygate_tower::ApiKeyLayer` or
/// `keygate_actix::ApiKeyAuth`: both frameworks then behave byte for byte alike.
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate::render::NestedRenderer;
/// let gate = KeyGate::builder(MemoryStore::new())
///     .prefix("sk")
///     .envs(["live", "test"])
///     .bearer()
///     .header("X-API-KEY")
///     .query("api_key")
///     .renderer(NestedRenderer::new())
///     .hide_credentials(true)
///     .build();
/// assert_eq!(gate.sources().len(), 3);
/// ```
#[derive(Clone)]
pub struct KeyGate {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    costs: RouteCosts,
    sources: Vec<CredentialSource>,
    renderer: SharedRenderer,
    hide_credentials: bool,
}

impl std::fmt::Debug for KeyGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGate")
            .field("verifier", &self.inner.verifier)
            .field("sources", &self.inner.sources)
            .field("hide_credentials", &self.inner.hide_credentials)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KeyGate`].
///
/// Defaults: credentials from `Authorization: Bearer` then `X-API-KEY`; the flat
/// renderer; credentials left in place; any prefix and environment.
///
/// `T` is what [`KeyGateBuilder::build`] returns: a [`KeyGate`], or an adapter's layer
/// or middleware made from one (`ApiKeyLayer::builder(store)…build()`), so every
/// adapter shares this one builder.
#[must_use]
pub struct KeyGateBuilder<T = KeyGate> {
    verifier: VerifierOrBuilder,
    costs: RouteCosts,
    sources: Vec<CredentialSource>,
    renderer: SharedRenderer,
    hide_credentials: bool,
    finish: fn(KeyGate) -> T,
}

enum VerifierOrBuilder {
    Builder(Box<VerifierBuilder>),
    Built(Verifier),
}

impl<T> std::fmt::Debug for KeyGateBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGateBuilder")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl KeyGate {
    /// Starts a builder over `store`.
    pub fn builder(store: impl KeyStore) -> KeyGateBuilder {
        KeyGateBuilder::new(VerifierOrBuilder::Builder(Box::new(Verifier::builder(
            store,
        ))))
    }

    /// Starts a builder around an existing verifier (prefix, envs, clock, hasher,
    /// rate-limit and failure-throttle methods on the builder are then ignored).
    pub fn with_verifier(verifier: Verifier) -> KeyGateBuilder {
        KeyGateBuilder::new(VerifierOrBuilder::Built(verifier))
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// A [`KeyManager`](crate::KeyManager) over the same store, hasher, clock, prefix and
    /// environments as this gate: keys it makes are the keys this gate accepts.
    ///
    /// ```
    /// use keygate::{Actor, KeyGate, MemoryStore, NewKey, VerifyRequest};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let gate = KeyGate::builder(MemoryStore::new()).prefix("neo_sk").envs(["prod"]).build();
    /// let made = gate.manager().create(&Actor::system(), NewKey::named("ci").tenant("acme")).await?;
    /// assert!(made.key.expose().starts_with("neo_sk_prod_"));
    /// assert!(gate.verify(VerifyRequest::key(made.key.expose())).await.is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub fn manager(&self) -> crate::KeyManager {
        crate::KeyManager::builder_for(&self.inner.verifier).build()
    }

    /// Writes everything noted (last-used times, audit counts) to the store: call once
    /// after the server stopped. The rest of the time the verifier's own task flushes.
    pub async fn shutdown(&self) -> Result<usize, crate::StoreError> {
        self.inner.verifier.shutdown().await
    }

    /// What each request costs a key with credits.
    pub fn costs(&self) -> &RouteCosts {
        &self.inner.costs
    }

    /// What a request costs a key with credits.
    pub(crate) fn cost_of(&self, parts: &impl RequestParts) -> u64 {
        let costs = &self.inner.costs;
        if costs.is_uniform() {
            costs.default_cost_value()
        } else {
            costs.cost_of(parts.method(), parts.path())
        }
    }

    /// Where credentials are read from, in order.
    pub fn sources(&self) -> &[CredentialSource] {
        &self.inner.sources
    }

    /// The error renderer.
    pub fn renderer(&self) -> &SharedRenderer {
        &self.inner.renderer
    }

    /// Whether adapters strip the credential before the inner service sees the request.
    pub fn hides_credentials(&self) -> bool {
        self.inner.hide_credentials
    }

    /// Finds the one credential in a request (no I/O).
    pub fn extract<'a, P: RequestParts>(
        &self,
        parts: &'a P,
    ) -> Result<ExtractedCredential<'a>, AuthError> {
        extract_credential(&self.inner.sources, parts)
    }

    /// Runs the verify pipeline ([`Verifier::verify`]).
    pub fn verify<'a>(
        &'a self,
        request: VerifyRequest<'a>,
    ) -> impl std::future::Future<Output = Result<Verification, AuthError>> + Send + 'a {
        self.inner.verifier.verify(request)
    }
}

impl KeyGateBuilder<KeyGate> {
    fn new(verifier: VerifierOrBuilder) -> Self {
        Self {
            verifier,
            costs: RouteCosts::default(),
            sources: Vec::new(),
            renderer: SharedRenderer::default(),
            hide_credentials: false,
            finish: std::convert::identity,
        }
    }
}

impl<T> KeyGateBuilder<T> {
    /// Makes [`KeyGateBuilder::build`] return `finish(gate)` instead: how adapters
    /// offer this builder as their own.
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore};
    /// struct MyMiddleware(KeyGate);
    /// let mw: MyMiddleware = KeyGate::builder(MemoryStore::new()).finish_with(MyMiddleware).build();
    /// ```
    pub fn finish_with<U>(self, finish: fn(KeyGate) -> U) -> KeyGateBuilder<U> {
        KeyGateBuilder {
            verifier: self.verifier,
            costs: self.costs,
            sources: self.sources,
            renderer: self.renderer,
            hide_credentials: self.hide_credentials,
            finish,
        }
    }

    fn map_verifier(mut self, f: impl FnOnce(VerifierBuilder) -> VerifierBuilder) -> Self {
        self.verifier = match self.verifier {
            VerifierOrBuilder::Builder(b) => VerifierOrBuilder::Builder(Box::new(f(*b))),
            built @ VerifierOrBuilder::Built(_) => built,
        };
        self
    }

    /// Accept keys with this prefix (call again for more). Default: any.
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        self.map_verifier(|b| b.prefix(prefix))
    }

    /// Accept only these environments. Default: any.
    pub fn envs<I, S>(self, envs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_verifier(|b| b.envs(envs))
    }

    /// The key hasher (default SHA-256).
    pub fn hasher(self, hasher: KeyHasher) -> Self {
        self.map_verifier(|b| b.hasher(hasher))
    }

    /// The clock (default: system).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.map_verifier(|b| b.clock(clock))
    }

    /// Per-key rate limits: 429 with `Retry-After` over a key's limit, and
    /// `X-RateLimit-Limit/Remaining/Reset` on every authenticated response. Off by
    /// default. See [`VerifierBuilder::rate_limits`].
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore, RateLimitSpec, RateLimits};
    /// let gate = KeyGate::builder(MemoryStore::new())
    ///     .rate_limits(
    ///         RateLimits::in_memory()
    ///             .env_default("test", RateLimitSpec::per_hour(100))
    ///             .env_default("live", RateLimitSpec::per_hour(1000)),
    ///     )
    ///     .build();
    /// # let _ = gate;
    /// ```
    pub fn rate_limits(self, limits: RateLimits) -> Self {
        self.map_verifier(|b| b.rate_limits(limits))
    }

    /// Brute-force protection: 429 for a client IP with too many failed
    /// verifications, before any store lookup. On by default (60 failures a minute per
    /// client); this sets another limit. See [`FailureThrottle`].
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore, RateLimitSpec};
    /// use keygate::rate_limit::FailureThrottle;
    /// let gate = KeyGate::builder(MemoryStore::new())
    ///     .failure_throttle(FailureThrottle::new(RateLimitSpec::per_minute(10)))
    ///     .build();
    /// # let _ = gate;
    /// ```
    pub fn failure_throttle(self, throttle: FailureThrottle) -> Self {
        self.map_verifier(|b| b.failure_throttle(throttle))
    }

    /// No failure throttle (only behind a proxy that throttles); see
    /// [`VerifierBuilder::no_failure_throttle`].
    pub fn no_failure_throttle(self) -> Self {
        self.map_verifier(VerifierBuilder::no_failure_throttle)
    }

    /// Audit every well-formed key refused after lookup (on by default, aggregated per
    /// client, reason and minute); see [`VerifierBuilder::audit_failures`].
    pub fn audit_failures(self, audit: bool) -> Self {
        self.map_verifier(|b| b.audit_failures(audit))
    }

    /// How often usage and audit counts are written by the verifier's own task (default
    /// 5 s; `None`: never); see [`VerifierBuilder::flush_interval`].
    pub fn flush_interval(self, every: Option<std::time::Duration>) -> Self {
        self.map_verifier(|b| b.flush_interval(every))
    }

    /// How long audit events are kept (default 90 days; `None`: forever); see
    /// [`VerifierBuilder::audit_retention`].
    pub fn audit_retention(self, retention: Option<chrono::Duration>) -> Self {
        self.map_verifier(|b| b.audit_retention(retention))
    }

    /// How long verification counts are kept (default 90 days; `None`: forever); see
    /// [`VerifierBuilder::analytics_retention`].
    pub fn analytics_retention(self, retention: Option<chrono::Duration>) -> Self {
        self.map_verifier(|b| b.analytics_retention(retention))
    }

    /// Where keys' credits are spent (default: in process); see
    /// [`VerifierBuilder::credits`].
    pub fn credits(self, ledger: impl CreditLedger) -> Self {
        self.map_verifier(|b| b.credits(ledger))
    }

    /// What each request costs a key with credits, by method and path (default: 1
    /// for every request). Keys without credits are not matched at all.
    ///
    /// ```
    /// use keygate::credits::RouteCosts;
    /// use keygate::{KeyGate, MemoryStore};
    /// let gate = KeyGate::builder(MemoryStore::new())
    ///     .costs(RouteCosts::new().route("POST /v1/scans", 10)?.route("GET /healthz", 0)?)
    ///     .build();
    /// assert_eq!(gate.costs().cost_of("POST", "/v1/scans"), 10);
    /// # Ok::<(), keygate::credits::RouteCostError>(())
    /// ```
    pub fn costs(mut self, costs: RouteCosts) -> Self {
        self.costs = costs;
        self
    }

    /// Read `Authorization: Bearer <key>`.
    pub fn bearer(mut self) -> Self {
        self.sources.push(CredentialSource::Bearer);
        self
    }

    /// Read a header carrying the bare key, e.g. `X-API-KEY`.
    pub fn header(mut self, name: impl AsRef<str>) -> Self {
        self.sources.push(CredentialSource::header(name));
        self
    }

    /// Read a query parameter, e.g. `api_key`. Keys in URLs end up in access logs:
    /// prefer headers, and hide credentials when you enable this.
    pub fn query(mut self, name: impl Into<String>) -> Self {
        self.sources.push(CredentialSource::query(name));
        self
    }

    /// The error renderer (default [`crate::render::FlatRenderer`]).
    pub fn renderer(mut self, renderer: impl ErrorRenderer) -> Self {
        let style = self.renderer.rate_limit_headers();
        self.renderer = SharedRenderer::new(renderer).with_rate_limit_headers(style);
        self
    }

    /// Which rate-limit fields responses carry (default
    /// [`RateLimitHeaders::XRateLimit`]): `X-RateLimit-*`, the IETF `RateLimit-Policy`
    /// and `RateLimit` fields naming every applied limit, or both.
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore};
    /// use keygate::rate_limit::RateLimitHeaders;
    /// let gate = KeyGate::builder(MemoryStore::new())
    ///     .rate_limit_headers(RateLimitHeaders::Ietf)
    ///     .build();
    /// assert_eq!(gate.renderer().rate_limit_headers(), RateLimitHeaders::Ietf);
    /// ```
    pub fn rate_limit_headers(mut self, style: RateLimitHeaders) -> Self {
        self.renderer = self.renderer.with_rate_limit_headers(style);
        self
    }

    /// Strip the credential from the request before the inner service sees it.
    pub fn hide_credentials(mut self, hide: bool) -> Self {
        self.hide_credentials = hide;
        self
    }

    /// The gate (or what [`KeyGateBuilder::finish_with`] made of it).
    pub fn build(self) -> T {
        let sources = if self.sources.is_empty() {
            vec![
                CredentialSource::Bearer,
                CredentialSource::header("x-api-key"),
            ]
        } else {
            self.sources
        };
        let verifier = match self.verifier {
            VerifierOrBuilder::Builder(b) => (*b).build(),
            VerifierOrBuilder::Built(v) => v,
        };
        (self.finish)(KeyGate {
            inner: Arc::new(Inner {
                verifier,
                costs: self.costs,
                sources,
                renderer: self.renderer,
                hide_credentials: self.hide_credentials,
            }),
        })
    }
}

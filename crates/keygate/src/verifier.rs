//! The verify pipeline: parse + checksum -> hash -> lookup -> state -> context -> rate
//! limit -> Principal.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::Either;

use crate::audit::{AuditEvent, Outcome};
use crate::clock::{Clock, SystemClock};
use crate::credits::{CreditLedger, Credits, MemoryCredits, Spent};
use crate::error::{AuthError, InvalidKeyReason};
use crate::failure_audit::{Failure, FailureAudit};
use crate::hash::KeyHasher;
use crate::key_format;
use crate::principal::Principal;
use crate::rate_limit::{FailureThrottle, RateLimitError, RateLimitReport, RateLimits};
use crate::record::{KeyRecord, KeyStatus};
use crate::restrictions;
use crate::scope_set::ScopeSet;
use crate::store::KeyStore;
use crate::usage::UsageRecorder;

/// What the verifier needs from a request: the key and its context.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The credential as sent.
    pub key: &'a str,
    /// The client's IP, for keys with IP restrictions.
    pub client_ip: Option<IpAddr>,
    /// The `Referer` header, for keys with referrer restrictions.
    pub referrer: Option<&'a str>,
    /// What the request spends from a key with credits (see [`crate::credits`]);
    /// 1 by default.
    pub cost: u64,
}

impl<'a> VerifyRequest<'a> {
    /// A request with only a key (no IP or referrer known).
    pub fn key(key: &'a str) -> Self {
        Self {
            key,
            client_ip: None,
            referrer: None,
            cost: 1,
        }
    }

    /// The same request costing `cost` credits.
    #[must_use]
    pub fn with_cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }
}

/// A successful verification.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Who is calling.
    pub principal: Principal,
    /// Every limit applied to this request and its state afterwards, when a limiter
    /// is configured and the key has a limit; adapters send it as rate-limit headers.
    pub rate_limit: Option<RateLimitReport>,
}

/// Checks keys: the pipeline of the repository's ARCHITECTURE.md, section 3.
///
/// 1. shape, charset and checksum (no I/O); prefix and environment accepted here;
/// 2. hash and [`KeyStore::find_by_hash`] (unknown -> 401; store down -> 503);
/// 3. state: revoked, expired, rotated past grace -> 401;
/// 4. context: client IP and referrer restrictions -> 403;
/// 5. rate limit, when [`VerifierBuilder::rate_limits`] is set: over the key's limit
///    -> 429 (limiter backend down and failing closed -> 503);
/// 6. role scopes resolved, a [`Principal`] built, last use noted (no I/O).
///
/// A client IP with too many failed verifications gets 429 before step 1 (the failure
/// throttle, on by default).
///
/// ```
/// use keygate::{key_format, KeyRecord, KeyStore, MemoryStore, Verifier, VerifyRequest};
/// use keygate::hash::KeyHasher;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let key = key_format::generate("sk", "live")?;
/// let parsed = key_format::ParsedKey::parse(key.expose())?;
/// store.insert(&KeyRecord::new(KeyHasher::Sha256.hash(key.expose()), parsed.hint(), "sk", "live", "ci", "acme")).await?;
///
/// let verifier = Verifier::builder(store).prefix("sk").envs(["live"]).build();
/// let ok = verifier.verify(VerifyRequest::key(key.expose())).await?;
/// assert_eq!(ok.principal.tenant(), "acme");
/// assert!(verifier.verify(VerifyRequest::key("sk_live_nope")).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    hasher: KeyHasher,
    clock: Arc<dyn Clock>,
    prefixes: Vec<String>,
    envs: Vec<String>,
    /// Both lists are set and hold only valid names (see `check_shape`).
    only_valid_names: bool,
    accept_legacy: bool,
    usage: Arc<UsageRecorder>,
    rate_limits: Option<RateLimits>,
    credits: Arc<dyn CreditLedger>,
    failure_throttle: Option<FailureThrottle>,
    audit_failures: bool,
    failure_audit: FailureAudit,
    audit_retention: Option<chrono::Duration>,
    analytics_retention: Option<chrono::Duration>,
    last_prune: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// How often [`Verifier::flush_usage`] prunes the audit log and verification counts,
/// at most.
const PRUNE_EVERY: chrono::Duration = chrono::Duration::hours(1);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hasher", &self.inner.hasher)
            .field("prefixes", &self.inner.prefixes)
            .field("envs", &self.inner.envs)
            .field("accept_legacy", &self.inner.accept_legacy)
            .field("rate_limits", &self.inner.rate_limits)
            .field("failure_throttle", &self.inner.failure_throttle)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Verifier`]. Defaults: SHA-256, system clock, any prefix and environment,
/// no rate limits, no failure throttle.
#[must_use]
pub struct VerifierBuilder {
    store: Arc<dyn KeyStore>,
    hasher: KeyHasher,
    clock: Arc<dyn Clock>,
    prefixes: Vec<String>,
    envs: Vec<String>,
    accept_legacy: bool,
    rate_limits: Option<RateLimits>,
    credits: Arc<dyn CreditLedger>,
    failure_throttle: Option<FailureThrottle>,
    audit_failures: bool,
    audit_window: chrono::Duration,
    audit_retention: Option<chrono::Duration>,
    analytics_retention: Option<chrono::Duration>,
    flush_every: Option<std::time::Duration>,
}

/// How often the verifier's own task writes last-used times and audit counts.
pub(crate) const DEFAULT_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The failure throttle every verifier starts with: 60 failed verifications a minute
/// per client IP (burst 60), then 429 before any lookup.
pub(crate) fn default_failure_throttle() -> FailureThrottle {
    FailureThrottle::new(crate::RateLimitSpec {
        requests: 60,
        per_seconds: 60,
        burst: Some(60),
        daily_quota: None,
        shadow: false,
    })
}

/// How long audit events are kept by default: 90 days.
pub(crate) const DEFAULT_AUDIT_RETENTION: chrono::Duration = chrono::Duration::days(90);
/// How long verification counts are kept by default.
pub(crate) const DEFAULT_ANALYTICS_RETENTION: chrono::Duration = chrono::Duration::days(90);

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder").finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Accept keys with this prefix (call again for more). Default: any prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefixes.push(prefix.into());
        self
    }

    /// Accept only these environments (e.g. `["live"]` on a production server).
    /// Default: any environment.
    pub fn envs<I, S>(mut self, envs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.envs = envs.into_iter().map(Into::into).collect();
        self
    }

    /// How keys are hashed (default SHA-256). Must match how they were stored.
    pub fn hasher(mut self, hasher: KeyHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, shared.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Also accept keys made elsewhere, without our checksum, imported by hash
    /// (8 to 256 printable ASCII characters). Off by default.
    pub fn accept_legacy_keys(mut self, accept: bool) -> Self {
        self.accept_legacy = accept;
        self
    }

    /// Limit each key's requests (step 5 of the pipeline): over its limit -> 429 with
    /// `Retry-After`; otherwise [`Verification::rate_limit`] carries the
    /// `X-RateLimit-*` state. Off by default (no limits, `rate_limit: None`).
    ///
    /// ```
    /// use keygate::{MemoryStore, RateLimitSpec, RateLimits, Verifier};
    /// let verifier = Verifier::builder(MemoryStore::new())
    ///     .rate_limits(RateLimits::in_memory().env_default("live", RateLimitSpec::per_hour(1000)))
    ///     .build();
    /// # let _ = verifier;
    /// ```
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// Where keys' credits are spent (see [`crate::credits`]): in process by default
    /// ([`MemoryCredits`]); `keygate_redis::RedisCredits` for one balance across
    /// instances. Keys without credits never reach it.
    ///
    /// ```
    /// use keygate::credits::MemoryCredits;
    /// use keygate::{MemoryStore, Verifier};
    /// let verifier = Verifier::builder(MemoryStore::new()).credits(MemoryCredits::new()).build();
    /// # let _ = verifier;
    /// ```
    pub fn credits(mut self, ledger: impl CreditLedger) -> Self {
        self.credits = Arc::new(ledger);
        self
    }

    /// Refuse (429) client IPs with too many failed verifications, before any store
    /// lookup, and audit it. On by default (60 failures a minute per client,
    /// burst 60); set another one here, or turn it off with
    /// [`VerifierBuilder::no_failure_throttle`]. See [`FailureThrottle`].
    ///
    /// ```
    /// use keygate::{MemoryStore, RateLimitSpec, Verifier};
    /// use keygate::rate_limit::FailureThrottle;
    /// let verifier = Verifier::builder(MemoryStore::new())
    ///     .failure_throttle(FailureThrottle::new(RateLimitSpec::per_minute(10)))
    ///     .build();
    /// # let _ = verifier;
    /// ```
    pub fn failure_throttle(mut self, throttle: FailureThrottle) -> Self {
        self.failure_throttle = Some(throttle);
        self
    }

    /// No failure throttle: every failed verification reaches the store. Only for
    /// services that throttle in front of keygate.
    pub fn no_failure_throttle(mut self) -> Self {
        self.failure_throttle = None;
        self
    }

    /// Audit failed verifications of well-formed keys refused after lookup (unknown,
    /// revoked, expired, rotated, wrong environment, owner deactivated, IP, referrer).
    /// On by default, aggregated: the first failure of a client, reason and key in a
    /// window ([`VerifierBuilder::audit_window`], 60 s) is written at once, the rest of
    /// the window as one event with a `count` at the next [`Verifier::flush_usage`].
    pub fn audit_failures(mut self, audit: bool) -> Self {
        self.audit_failures = audit;
        self
    }

    /// The aggregation window of failure audit events (default 60 s).
    pub fn audit_window(mut self, window: chrono::Duration) -> Self {
        self.audit_window = window;
        self
    }

    /// Delete audit events older than `retention` (checked at most hourly by
    /// [`Verifier::flush_usage`]); `None` keeps them forever. Default: 90 days.
    pub fn audit_retention(mut self, retention: Option<chrono::Duration>) -> Self {
        self.audit_retention = retention;
        self
    }

    /// Delete verification counts (analytics) of minutes older than `retention`
    /// (checked at most hourly by [`Verifier::flush_usage`]); `None` keeps them forever.
    /// Default: 90 days.
    pub fn analytics_retention(mut self, retention: Option<chrono::Duration>) -> Self {
        self.analytics_retention = retention;
        self
    }

    /// How often the verifier writes last-used times and aggregated audit counts to the
    /// store on its own task (default every 5 s; `None`: never, call
    /// [`Verifier::flush_usage`] yourself). The task is started by
    /// [`build`](VerifierBuilder::build) when a tokio runtime is running (feature
    /// `tokio`, on by default) and stops when the last clone of the verifier is dropped.
    pub fn flush_interval(mut self, every: Option<std::time::Duration>) -> Self {
        self.flush_every = every;
        self
    }

    /// The verifier. Inside a tokio runtime this also starts its flush task (see
    /// [`VerifierBuilder::flush_interval`]).
    pub fn build(self) -> Verifier {
        let flush_every = self.flush_every;
        let verifier = Verifier {
            inner: Arc::new(Inner {
                store: self.store,
                hasher: self.hasher,
                clock: self.clock,
                only_valid_names: !self.prefixes.is_empty()
                    && !self.envs.is_empty()
                    && self
                        .prefixes
                        .iter()
                        .all(|p| key_format::validate_prefix(p).is_ok())
                    && self
                        .envs
                        .iter()
                        .all(|e| key_format::validate_env(e).is_ok()),
                prefixes: self.prefixes,
                envs: self.envs,
                accept_legacy: self.accept_legacy,
                usage: Arc::new(UsageRecorder::default()),
                rate_limits: self.rate_limits,
                credits: self.credits,
                failure_throttle: self.failure_throttle,
                audit_failures: self.audit_failures,
                failure_audit: FailureAudit::new(self.audit_window, 1024),
                audit_retention: self.audit_retention,
                analytics_retention: self.analytics_retention,
                last_prune: std::sync::Mutex::new(None),
            }),
        };
        if let Some(every) = flush_every {
            verifier.spawn_flusher(every);
        }
        verifier
    }
}

impl Verifier {
    /// Starts a builder over `store`.
    pub fn builder(store: impl KeyStore) -> VerifierBuilder {
        VerifierBuilder {
            store: Arc::new(store),
            hasher: KeyHasher::default(),
            clock: Arc::new(SystemClock),
            prefixes: Vec::new(),
            envs: Vec::new(),
            accept_legacy: false,
            rate_limits: None,
            credits: Arc::new(MemoryCredits::new()),
            failure_throttle: Some(default_failure_throttle()),
            audit_failures: true,
            audit_window: chrono::Duration::seconds(60),
            audit_retention: Some(DEFAULT_AUDIT_RETENTION),
            analytics_retention: Some(DEFAULT_ANALYTICS_RETENTION),
            flush_every: Some(DEFAULT_FLUSH_INTERVAL),
        }
    }

    /// The store keys are looked up in.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The hasher.
    pub fn hasher(&self) -> &KeyHasher {
        &self.inner.hasher
    }

    /// The accepted prefixes (empty: any).
    pub fn prefixes(&self) -> &[String] {
        &self.inner.prefixes
    }

    /// The accepted environments (empty: any).
    pub fn envs(&self) -> &[String] {
        &self.inner.envs
    }

    /// Last-used times waiting to be written; flush them with
    /// [`Verifier::flush_usage`].
    pub fn usage(&self) -> &Arc<UsageRecorder> {
        &self.inner.usage
    }

    /// Writes noted last-used times to the store in one batch, the counts of
    /// aggregated failure audit events whose window has ended, and prunes audit events
    /// past the retention (at most hourly). Returns how many last-used times were
    /// written.
    pub async fn flush_usage(&self) -> Result<usize, crate::StoreError> {
        self.flush(false).await
    }

    /// Writes everything noted (last-used times, every audit count) before the process
    /// exits. Call it once after the server stopped; the periodic flush task handles
    /// the rest of the time.
    pub async fn shutdown(&self) -> Result<usize, crate::StoreError> {
        self.flush(true).await
    }

    #[cfg(feature = "tokio")]
    fn spawn_flusher(&self, every: std::time::Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(
                "keygate: no tokio runtime at build time; call Verifier::flush_usage yourself"
            );
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let verifier = Verifier { inner };
                if let Err(e) = verifier.flush(false).await {
                    tracing::warn!(error = %e, "keygate: could not flush usage and audit counts; retrying");
                }
            }
        });
    }

    #[cfg(not(feature = "tokio"))]
    fn spawn_flusher(&self, _every: std::time::Duration) {}

    async fn flush(&self, all: bool) -> Result<usize, crate::StoreError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        for event in inner.failure_audit.drain(now, all) {
            inner.store.append_audit(&event).await?;
        }
        self.flush_shadow_refusals().await?;
        self.settle_credits().await?;
        if self.prune_due(now) {
            if let Some(retention) = inner.audit_retention {
                let pruned = inner.store.prune_audit(now - retention).await?;
                if pruned > 0 {
                    tracing::info!(pruned, "keygate: pruned audit events past retention");
                }
            }
            if let Some(retention) = inner.analytics_retention {
                let pruned = inner.store.prune_verifications(now - retention).await?;
                if pruned > 0 {
                    tracing::info!(pruned, "keygate: pruned verification counts past retention");
                }
            }
        }
        let scope_use = inner.usage.flush_scope_use(inner.store.as_ref(), now).await;
        let flushed = inner.usage.flush(inner.store.as_ref()).await;
        scope_use?;
        flushed
    }

    /// Writes one audit event (`key.shadow_limit`, `key.shadow_scope`) and one log line
    /// per key and shadow limit or requirement that would have refused requests since
    /// the last flush, with the count.
    async fn flush_shadow_refusals(&self) -> Result<(), crate::StoreError> {
        let inner = &*self.inner;
        let mut tallies = inner.usage.take_shadow();
        let keys: Vec<crate::usage::ShadowKey> = tallies.keys().cloned().collect();
        for key in keys {
            let Some(tally) = tallies.get(&key) else {
                continue;
            };
            let (id, action, reason) = &key;
            tracing::warn!(
                key = %id,
                tenant = %tally.tenant,
                action = %action,
                reason = %reason,
                would_have_refused = tally.count,
                "keygate: a limit or scope requirement in shadow mode would have refused requests"
            );
            let mut event = crate::audit::AuditEvent::new(*action, crate::audit::Outcome::Success)
                .with_target(id.clone())
                .with_tenant(tally.tenant.clone())
                .with_reason(reason.clone());
            event.at = tally.last;
            event.count = u32::try_from(tally.count).unwrap_or(u32::MAX);
            if let Err(e) = inner.store.append_audit(&event).await {
                inner.usage.restore_shadow(tallies);
                return Err(e);
            }
            tallies.remove(&key);
        }
        Ok(())
    }

    /// Tells the store what this process spent from credit balances since the last
    /// flush (kept for the next one if the store is down), and catches the ledger up
    /// with what the store holds (other instances' spends).
    async fn settle_credits(&self) -> Result<(), crate::StoreError> {
        let ledger = &self.inner.credits;
        let spends = ledger.take_unsettled();
        if spends.is_empty() {
            return Ok(());
        }
        match self.inner.store.settle_credits(&spends).await {
            Ok(balances) => {
                for (spend, balance) in spends.iter().zip(balances) {
                    ledger.settled(spend, balance);
                }
                Ok(())
            }
            Err(err) => {
                ledger.restore_unsettled(spends);
                Err(err)
            }
        }
    }

    /// Whether a retention is set and the last prune is [`PRUNE_EVERY`] ago (then now
    /// counts as the last prune).
    fn prune_due(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let inner = &*self.inner;
        if inner.audit_retention.is_none() && inner.analytics_retention.is_none() {
            return false;
        }
        let mut last = inner
            .last_prune
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|at| now >= at + PRUNE_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Runs the pipeline on one request: from memory when it can (a warm key costs no
    /// I/O and no allocation, and the future is ready at its first poll), else with the
    /// store (the future is then boxed: it waits on I/O anyway).
    pub fn verify<'a>(
        &'a self,
        request: VerifyRequest<'a>,
    ) -> impl Future<Output = Result<Verification, AuthError>> + Send + 'a {
        match self.verify_now(
            request.key.as_bytes(),
            request.client_ip,
            || request.referrer,
            || request.cost,
        ) {
            Some(result) => Either::Left(std::future::ready(result)),
            None => Either::Right(Box::pin(self.verify_full(request))),
        }
    }

    /// The pipeline with the store's I/O and audit writes, from the start (what
    /// [`Verifier::verify`] falls back to when memory cannot answer).
    pub(crate) async fn verify_full(
        &self,
        request: VerifyRequest<'_>,
    ) -> Result<Verification, AuthError> {
        let throttle = match (&self.inner.failure_throttle, request.client_ip) {
            (Some(throttle), Some(ip)) => Some((throttle, ip)),
            _ => None,
        };
        if let Some((throttle, ip)) = throttle {
            if let Err(throttled) = throttle.check(ip, self.inner.clock.now()) {
                tracing::debug!(client_ip = %ip, "keygate: client throttled after failed verifications");
                if throttled.first {
                    self.audit_throttled(ip).await;
                }
                return Err(throttled.limited.into());
            }
        }
        let result = self.verify_inner(request).await;
        if let (Some((throttle, ip)), Err(AuthError::InvalidKey(_))) = (throttle, &result) {
            throttle.record_failure(ip, self.inner.clock.now());
        }
        if let Err(err) = &result {
            tracing::debug!(code = err.code(), reason = ?err, "keygate: verification refused");
        }
        result
    }

    async fn verify_inner(&self, request: VerifyRequest<'_>) -> Result<Verification, AuthError> {
        let inner = &*self.inner;
        let invalid = AuthError::InvalidKey;

        // 1. Shape and checksum, no I/O.
        self.check_shape(request.key.as_bytes())?;

        // 2. Hash and look up.
        let hash = inner.hasher.hash_bytes(request.key.as_bytes());
        let record = inner
            .store
            .find_by_hash(&hash)
            .await
            .map_err(|e| store_down(&e))?;
        let Some(record) = record else {
            let err = invalid(InvalidKeyReason::Unknown);
            inner.usage.count_refusal(None, &err, inner.clock.now());
            self.audit_failure(None, &request, &err).await;
            return Err(err);
        };

        // 3. State, 4. context: refusals of a stored key are audited.
        let now = inner.clock.now();
        if let Err(err) =
            self.check_state_and_context(&record, request.client_ip, now, || request.referrer)
        {
            inner.usage.count_refusal(Some(&record), &err, now);
            self.audit_failure(Some(&record), &request, &err).await;
            return Err(err);
        }

        // The principal: built once per shared record (role resolved then), reused by
        // every later verification of the same record; resolved before anything is
        // spent, as the store may be down.
        let principal = match record.resolved.get() {
            Some(principal) => principal.clone(),
            None => {
                // Loaded whether or not this verifier limits: the memo is the shared
                // record's, and another gate over the same store may.
                record
                    .resolved
                    .set_shared(self.shared_limits_of(&record).await?);
                let scopes = self.effective_scopes(&record).await?;
                let principal = Principal::from_record(&record, scopes);
                principal.note_scope_use_in(&inner.usage);
                record.resolved.set(principal.clone());
                principal
            }
        };

        // 5. Credits, then rate limits: a request a limit refuses gets its credits back.
        let spent = match &record.credits {
            Some(credits) => {
                let spent = inner
                    .credits
                    .spend(credits, request.cost, now)
                    .await
                    .map_err(limiter_error)?;
                if !spent.allowed {
                    return Err(self.out_of_credits(&record, credits, spent, now));
                }
                Some((credits, request.cost))
            }
            None => None,
        };
        let rate_limit = match &inner.rate_limits {
            Some(limits) => match limits.check(&record, now).await {
                Ok(report) => self.shadowed(&record, report, now.timestamp_micros()),
                Err(err) => {
                    if let Some((credits, cost)) = spent {
                        if let Err(e) = inner.credits.refund(credits, cost, now).await {
                            tracing::warn!(error = %e, key_id = %record.id, "keygate: could not give back the credits of a rate-limited request");
                        }
                    }
                    let err = limiter_error(err);
                    if matches!(err, AuthError::RateLimited { .. }) {
                        inner.usage.note_limited(&record, now.timestamp_micros());
                    }
                    return Err(err);
                }
            },
            None => None,
        };
        inner.usage.note_record(&record, now.timestamp_micros());
        Ok(Verification {
            principal,
            rate_limit,
        })
    }

    /// The pipeline answered from memory, when it can be: `None` as soon as an answer
    /// takes I/O (the store has no fresh answer in memory, the role is not resolved
    /// yet, the limiter is remote) or an audit event (a stored key refused, a client
    /// throttled). Nothing is counted or noted unless it answers, so the caller then
    /// runs [`Verifier::verify`] from the start.
    ///
    /// This is the hot path: a warm key costs a parse, a hash, one in-memory lookup, a
    /// few comparisons and an `Arc` clone; no allocation. `referrer` is read only for
    /// a key with referrer restrictions.
    pub(crate) fn verify_now<'r>(
        &self,
        key: &[u8],
        client_ip: Option<IpAddr>,
        referrer: impl FnOnce() -> Option<&'r str>,
        cost: impl FnOnce() -> u64,
    ) -> Option<Result<Verification, AuthError>> {
        let inner = &*self.inner;
        let now = inner.clock.now_micros();
        let throttle = match (&inner.failure_throttle, client_ip) {
            (Some(throttle), Some(ip)) => {
                if !throttle.lets_through_micros(ip, now) {
                    return None;
                }
                Some((throttle, ip))
            }
            _ => None,
        };
        // 1. Shape and checksum: refused here without I/O and without an audit event.
        if let Err(err) = self.check_shape(key) {
            if let Some((throttle, ip)) = throttle {
                throttle.record_failure(ip, inner.clock.now());
            }
            tracing::debug!(code = err.code(), reason = ?err, "keygate: verification refused");
            return Some(Err(err));
        }
        // 2. The record, if the store has it in memory; unknown keys are audited.
        let record = inner
            .store
            .find_by_hash_now(&inner.hasher.hash_bytes(key))??;
        // 3, 4. A refusal of a stored key is audited: the full path does that.
        if !matches!(
            record.status_at_micros(now),
            KeyStatus::Active | KeyStatus::RotationGrace
        ) {
            return None;
        }
        self.check_context(&record, client_ip, referrer).ok()?;
        // 6. A principal already built for this record (its role resolved).
        let principal = record.resolved.get()?;
        // 5. Credits and the rate limit, counted only when answered here.
        let spent = match &record.credits {
            Some(credits) => match self.spend_now(&record, credits, cost(), now)? {
                Ok(spent) => Some(spent),
                Err(err) => return Some(Err(err)),
            },
            None => None,
        };
        let rate_limit = match &inner.rate_limits {
            Some(limits) => match limits.check_sync(&record, now) {
                Some(Ok(report)) => self.shadowed(&record, report, now),
                verdict => {
                    if let Some((credits, cost, at)) = spent {
                        if inner.credits.refund_sync(credits, cost, at).is_none() {
                            tracing::warn!(key_id = %record.id, "keygate: could not give back credits");
                        }
                    }
                    let err = limiter_error(verdict?.err()?);
                    if matches!(err, AuthError::RateLimited { .. }) {
                        inner.usage.note_limited(&record, now);
                    }
                    return Some(Err(err));
                }
            },
            None => None,
        };
        inner.usage.note_record(&record, now);
        Some(Ok(Verification {
            principal: principal.clone(),
            rate_limit,
        }))
    }

    /// Spends `cost` of `credits` from memory: `None` when the ledger cannot answer
    /// without I/O; the refusal when too few are left; else what to give back if a
    /// limit then refuses the request.
    #[allow(clippy::type_complexity)]
    fn spend_now<'c>(
        &self,
        record: &KeyRecord,
        credits: &'c Credits,
        cost: u64,
        now_micros: i64,
    ) -> Option<Result<(&'c Credits, u64, chrono::DateTime<chrono::Utc>), AuthError>> {
        let now = chrono::DateTime::from_timestamp_micros(now_micros)?;
        Some(match self.inner.credits.spend_sync(credits, cost, now)? {
            Ok(spent) if spent.allowed => Ok((credits, cost, now)),
            Ok(spent) => Err(self.out_of_credits(record, credits, spent, now)),
            Err(err) => Err(limiter_error(err)),
        })
    }

    /// The refusal of a key with too few credits left, counted (`usage_exceeded`).
    #[cold]
    fn out_of_credits(
        &self,
        record: &KeyRecord,
        credits: &Credits,
        spent: Spent,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AuthError {
        let retry_after = credits.refills_at(spent.period).map(|at| {
            let micros = (at - now).num_microseconds().unwrap_or(i64::MAX).max(0);
            u64::try_from(micros.saturating_add(999_999) / 1_000_000)
                .unwrap_or(u64::MAX)
                .max(1)
        });
        let err = AuthError::UsageExceeded { retry_after };
        self.inner.usage.count_refusal(Some(record), &err, now);
        tracing::debug!(key_id = %record.id, remaining = spent.remaining, "keygate: key out of credits");
        err
    }

    /// The report to send with a request the limits let through, after noting what its
    /// shadow limits would have refused (nothing to note, the common case, is one
    /// flag test per limit); `None` when no limit is enforced (nothing to advertise).
    #[inline]
    fn shadowed(
        &self,
        record: &KeyRecord,
        report: Option<RateLimitReport>,
        now_micros: i64,
    ) -> Option<RateLimitReport> {
        let report = report?;
        if report.shadow_refusals().next().is_some() {
            self.inner.usage.note_shadow(record, &report, now_micros);
        }
        report.is_enforced().then_some(report)
    }

    /// Why a well-formed key whose prefix or environment is not accepted is refused,
    /// as the full check says it.
    #[cold]
    fn refusal_of_names(&self, key: &[u8]) -> AuthError {
        let inner = &*self.inner;
        match key_format::check_bytes(key) {
            Ok((prefix, _)) if !inner.prefixes.iter().any(|p| p.as_bytes() == prefix) => {
                AuthError::InvalidKey(InvalidKeyReason::WrongPrefix)
            }
            Ok(_) => AuthError::InvalidKey(InvalidKeyReason::WrongEnvironment),
            Err(_) => AuthError::InvalidKey(InvalidKeyReason::Malformed),
        }
    }

    /// Step 1: shape and checksum, prefix and environment (no I/O).
    fn check_shape(&self, key: &[u8]) -> Result<(), AuthError> {
        let inner = &*self.inner;
        let invalid = AuthError::InvalidKey;
        if inner.only_valid_names {
            // Membership in the accepted lists, all valid names, also proves the
            // prefix and environment well formed.
            return match key_format::check_bytes_among(key, |prefix, env| {
                inner.prefixes.iter().any(|p| p.as_bytes() == prefix)
                    && inner.envs.iter().any(|e| e.as_bytes() == env)
            }) {
                Ok(true) => Ok(()),
                Ok(false) => Err(self.refusal_of_names(key)),
                Err(_) if inner.accept_legacy && is_legacy_shaped(key) => Ok(()),
                Err(_) => Err(invalid(InvalidKeyReason::Malformed)),
            };
        }
        let (prefix, env) = match key_format::check_bytes(key) {
            Ok(parts) => parts,
            Err(_) if inner.accept_legacy && is_legacy_shaped(key) => return Ok(()),
            Err(_) => return Err(invalid(InvalidKeyReason::Malformed)),
        };
        if !inner.prefixes.is_empty() && !inner.prefixes.iter().any(|p| p.as_bytes() == prefix) {
            return Err(invalid(InvalidKeyReason::WrongPrefix));
        }
        if !inner.envs.is_empty() && !inner.envs.iter().any(|e| e.as_bytes() == env) {
            return Err(invalid(InvalidKeyReason::WrongEnvironment));
        }
        Ok(())
    }

    /// Steps 3 and 4 of the pipeline, no I/O: revoked, expired, rotated past grace and
    /// wrong environment (401), then IP and referrer restrictions (403). The referrer
    /// is read only for a key restricted to some.
    fn check_state_and_context<'r>(
        &self,
        record: &KeyRecord,
        client_ip: Option<IpAddr>,
        now: chrono::DateTime<chrono::Utc>,
        referrer: impl FnOnce() -> Option<&'r str>,
    ) -> Result<(), AuthError> {
        let invalid = AuthError::InvalidKey;
        match record.status_at(now) {
            KeyStatus::Active | KeyStatus::RotationGrace => {}
            KeyStatus::Revoked => return Err(invalid(InvalidKeyReason::Revoked)),
            KeyStatus::Rotated => return Err(invalid(InvalidKeyReason::Rotated)),
            KeyStatus::OwnerDeactivated => return Err(invalid(InvalidKeyReason::OwnerDeactivated)),
            KeyStatus::Expired => return Err(AuthError::ExpiredKey),
            KeyStatus::Disabled => return Err(AuthError::DisabledKey),
        }
        self.check_context(record, client_ip, referrer)
    }

    /// The environment and the IP and referrer restrictions of a key in a usable state.
    fn check_context<'r>(
        &self,
        record: &KeyRecord,
        client_ip: Option<IpAddr>,
        referrer: impl FnOnce() -> Option<&'r str>,
    ) -> Result<(), AuthError> {
        let invalid = AuthError::InvalidKey;
        if !record.env.is_empty() && !self.env_accepted(&record.env) {
            return Err(invalid(InvalidKeyReason::WrongEnvironment));
        }
        if !record.allowed_ips.is_empty()
            && !restrictions::ip_allowed(&record.allowed_ips, client_ip)
        {
            return Err(AuthError::IpNotAllowed);
        }
        if !record.allowed_referrers.is_empty()
            && !restrictions::referrer_allowed(&record.allowed_referrers, referrer())
        {
            return Err(AuthError::ReferrerNotAllowed);
        }
        Ok(())
    }

    /// Appends a `key.verify` / failure event for a well-formed key the pipeline refused
    /// after looking it up (unknown, revoked, expired, rotated, wrong environment, IP or
    /// referrer). Malformed keys are not audited one by one: they cost no I/O by design
    /// (the failure throttle counts them). A store failure is logged, never turned into
    /// a different answer.
    async fn audit_failure(
        &self,
        record: Option<&KeyRecord>,
        request: &VerifyRequest<'_>,
        err: &AuthError,
    ) {
        if !self.inner.audit_failures {
            return;
        }
        let reason = match err {
            AuthError::InvalidKey(reason) => reason.as_str(),
            other => other.code(),
        };
        let events = self.inner.failure_audit.note(&Failure {
            client_ip: request.client_ip,
            reason,
            target: record.map(|r| &r.id),
            tenant: record.map(|r| r.tenant.as_str()),
            at: self.inner.clock.now(),
        });
        for event in events {
            if let Err(e) = self.inner.store.append_audit(&event).await {
                tracing::warn!(error = %e, "keygate: could not audit a failed verification");
            }
        }
    }

    /// Appends the `key.verify` / `throttled` audit event; a store failure is logged,
    /// never turned into a different answer.
    async fn audit_throttled(&self, ip: IpAddr) {
        let event = AuditEvent::new("key.verify", Outcome::Failure)
            .at(self.inner.clock.now())
            .with_client_ip(Some(ip))
            .with_reason("throttled");
        if let Err(err) = self.inner.store.append_audit(&event).await {
            tracing::warn!(error = %err, "keygate: could not audit a throttled client");
        }
    }

    fn env_accepted(&self, env: &str) -> bool {
        self.inner.envs.is_empty() || self.inner.envs.iter().any(|e| e == env)
    }

    /// The limits the key's tenant (in its environment) and owner share, as stored.
    async fn shared_limits_of(
        &self,
        record: &KeyRecord,
    ) -> Result<crate::principal::SharedOfKey, AuthError> {
        let store = &self.inner.store;
        let tenant = store
            .shared_limits(&record.tenant, &record.env, None)
            .await
            .map_err(|e| store_down(&e))?;
        let owner = match record.owner.as_deref() {
            Some(owner) => store
                .shared_limits(&record.tenant, &record.env, Some(owner))
                .await
                .map_err(|e| store_down(&e))?,
            None => crate::rate_limit::NamedLimits::new(),
        };
        Ok(crate::principal::SharedOfKey { tenant, owner })
    }

    /// The key's own scopes plus its role's: the role of the key's tenant and
    /// environment, else the global one of that name (a role missing from the store
    /// adds none).
    pub async fn effective_scopes(&self, record: &KeyRecord) -> Result<ScopeSet, AuthError> {
        let mut scopes = record.scopes.clone();
        if let Some(role_name) = &record.role {
            match self
                .inner
                .store
                .get_role(&record.tenant, &record.env, role_name)
                .await
                .map_err(|e| store_down(&e))?
            {
                Some(role) => scopes.extend(&role.scopes),
                None => {
                    tracing::warn!(key_id = %record.id, role = %role_name, "keygate: key has a role that is not in the store")
                }
            }
        }
        Ok(scopes)
    }

    /// Checks again, by id, a key that [`Verifier::verify`] accepted earlier: for a
    /// session that keeps the key's id and never its secret (the admin dashboard's).
    /// Steps 3, 4 and 6 of the pipeline on the stored record as it is now: revoked,
    /// expired, rotated past grace, owner deactivated and an environment no longer
    /// accepted are 401; IP and referrer restrictions 403; the role's scopes are
    /// resolved afresh, so a changed role or key takes effect at the next call. No rate
    /// limit is counted and no use noted (the session's key was counted when verified).
    ///
    /// ```
    /// use keygate::{Actor, KeyGate, MemoryStore, NewKey, VerifyRequest};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let gate = KeyGate::builder(MemoryStore::new()).build();
    /// let made = gate.manager().create(&Actor::system(), NewKey::named("ops").tenant("acme")).await?;
    /// let id = gate.verify(VerifyRequest::key(made.key.expose())).await?.principal.key_id().clone();
    /// assert!(gate.verifier().recheck(&id, None, None).await.is_ok());
    /// gate.manager().revoke(&Actor::system(), &id).await?;
    /// assert!(gate.verifier().recheck(&id, None, None).await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn recheck(
        &self,
        id: &crate::KeyId,
        client_ip: Option<IpAddr>,
        referrer: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let record = self
            .inner
            .store
            .get(id)
            .await
            .map_err(|e| store_down(&e))?
            .ok_or(AuthError::InvalidKey(InvalidKeyReason::Unknown))?;
        let now = self.inner.clock.now();
        self.check_state_and_context(&record, client_ip, now, || referrer)?;
        let scopes = self.effective_scopes(&record).await?;
        Ok(Principal::from_record(&record, scopes))
    }
}

fn store_down(err: &crate::StoreError) -> AuthError {
    tracing::error!(error = %err, source = ?std::error::Error::source(err), "keygate: key store unavailable; failing closed");
    AuthError::StoreUnavailable
}

fn limiter_error(err: RateLimitError) -> AuthError {
    if let RateLimitError::Unavailable(source) = &err {
        tracing::error!(error = %source, "keygate: rate limiter unavailable; failing closed");
    }
    err.into()
}

fn is_legacy_shaped(key: &[u8]) -> bool {
    (8..=256).contains(&key.len())
        && key.iter().all(u8::is_ascii_graphic)
        && key.len() <= key_format::MAX_KEY_LEN.max(256)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

//! `KeyManager`: create, list, get, update, rotate, revoke; owner deactivation; roles
//! (global or of one tenant and environment);
//! every change audited. The admin REST API and the CLI are thin layers over it.

mod actor;
mod error;
mod leak;
mod new_key;
mod policy;
mod update;

use std::sync::Arc;

use chrono::Duration;

pub use actor::Actor;
pub use error::ManageError;
pub use leak::{LeakFinding, LeakPolicy, LeakedToken};
pub use new_key::{parse_ip_rule, NewKey};
pub use policy::{CREDITS_ADMIN_SCOPE, LIMITS_ADMIN_SCOPE, OWNER_ADMIN_SCOPE};
pub use update::KeyUpdate;

use crate::analytics::{rollup, Granularity, ScopeUse, VerificationFilter, VerificationReport};
use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::clock::{Clock, SystemClock};
use crate::hash::KeyHasher;
use crate::id::KeyId;
use crate::key_format;
use crate::record::{KeyKind, KeyRecord};
use crate::role::{Role, RoleNamespace};
use crate::scope_set::ScopeSet;
use crate::secret::ApiKeySecret;
use crate::store::{KeyFilter, KeyStore, Page, PageRequest, StoreError, Write, Written};
use policy::{analytics_filter, authorize, Action, Subject};

/// How often an update that lost a race to a concurrent write is tried again (each time
/// on a fresh read, re-checked by the policy).
const UPDATE_ATTEMPTS: usize = 4;

/// A key just made (by create or rotate): the plaintext, shown once, and its record.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The plaintext key. Show it once; it cannot be recovered.
    pub key: ApiKeySecret,
    /// What was stored.
    pub record: KeyRecord,
}

/// Manages keys over any [`KeyStore`], auditing every change.
///
/// # The management policy
/// Every operation asks one policy function whether this actor may do this to this key
/// before it touches the store. The [`Actor::system`] (the CLI, a seed script) may do
/// anything. An [`Actor::key`] (an admin-API caller):
/// - sees and acts on keys of **its own tenant and environment** only (others are
///   [`ManageError::NotFound`]); a new key's environment defaults to the caller's, and
///   another environment is refused;
/// - acts only on keys whose **effective scopes** (own + role) it covers, and can never
///   give a key (created, updated or rotated) a scope it does not hold; it may always
///   revoke itself;
/// - cannot make a key that **outlives** it (when it expires itself), and changing
///   **itself** may tighten but never loosen its expiry, IP and referrer allow-lists and
///   rate limit;
/// - needs [`OWNER_ADMIN_SCOPE`] (`admin:api-keys`) to make personal keys for another
///   owner and to deactivate owners;
/// - sees the global roles and its own tenant's and environment's; defines, replaces
///   and deletes roles of its own tenant and environment only, covering every scope of
///   what its keys holding that role name hold before and after (see
///   [`KeyManager::put_role`]).
///
/// The store keeps the rest true under concurrency: updates are conditional on the
/// version read (a lost race is re-read and re-checked, never written over), revocation
/// is monotonic, a key has at most one successor, and a deactivated owner's personal
/// keys are refused at verify time.
///
/// ```
/// use keygate::{Actor, KeyManager, MemoryStore, NewKey, ScopeSet};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let manager = KeyManager::builder(MemoryStore::new()).prefix("sk").env("live").build();
/// let created = manager
///     .create(&Actor::system(), NewKey::named("ci").tenant("acme").scopes(ScopeSet::parse(["read:scans"])?))
///     .await?;
/// println!("store this key now: {}", created.key.expose());
/// let rotated = manager.rotate(&Actor::system(), &created.record.id, None).await?; // old key works 24 h more
/// manager.revoke(&Actor::system(), &rotated.record.id).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct KeyManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    hasher: KeyHasher,
    clock: Arc<dyn Clock>,
    prefix: String,
    env: String,
    envs: Vec<String>,
    grace: Duration,
    /// Role writes of this manager, one at a time: each reads what it replaces, asks
    /// the policy, then writes.
    role_writes: futures_util::lock::Mutex<()>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("prefix", &self.inner.prefix)
            .field("env", &self.inner.env)
            .field("grace", &self.inner.grace)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KeyManager`]. Defaults: prefix `sk`, env `live`, any env allowed,
/// SHA-256, system clock, 24 h rotation grace.
#[must_use]
pub struct KeyManagerBuilder {
    inner: Inner,
}

impl std::fmt::Debug for KeyManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManagerBuilder").finish_non_exhaustive()
    }
}

impl KeyManagerBuilder {
    /// The prefix of new keys.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inner.prefix = prefix.into();
        self
    }

    /// The environment of new keys when the request names none.
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.inner.env = env.into();
        self
    }

    /// The environments a request may ask for (default: any valid label).
    pub fn envs<I, S>(mut self, envs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner.envs = envs.into_iter().map(Into::into).collect();
        self
    }

    /// The hasher (must match the verifier's).
    pub fn hasher(mut self, hasher: KeyHasher) -> Self {
        self.inner.hasher = hasher;
        self
    }

    /// The clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.inner.clock = Arc::new(clock);
        self
    }

    /// How long a rotated key keeps working by default (24 h).
    pub fn rotation_grace(mut self, grace: Duration) -> Self {
        self.inner.grace = grace;
        self
    }

    /// The manager.
    ///
    /// # Panics
    /// If the prefix or default environment is not a valid key prefix/label (a
    /// start-up configuration error).
    pub fn build(self) -> KeyManager {
        if let Err(e) = key_format::validate_prefix(&self.inner.prefix) {
            panic!("KeyManager: prefix {:?}: {e}", self.inner.prefix);
        }
        if let Err(e) = key_format::validate_env(&self.inner.env) {
            panic!("KeyManager: env {:?}: {e}", self.inner.env);
        }
        KeyManager {
            inner: Arc::new(self.inner),
        }
    }
}

impl KeyManager {
    /// Starts a builder over `store`.
    pub fn builder(store: impl KeyStore) -> KeyManagerBuilder {
        Self::builder_shared(Arc::new(store))
    }

    /// A builder with everything the verifier knows: its store, hasher, clock, first
    /// prefix and first environment (the default of new keys), and accepted
    /// environments. What [`KeyGate::manager`](crate::KeyGate::manager) uses, so the
    /// manager and the verifier cannot disagree.
    pub fn builder_for(verifier: &crate::Verifier) -> KeyManagerBuilder {
        let mut builder = Self::builder_shared(verifier.store().clone())
            .hasher(verifier.hasher().clone())
            .envs(verifier.envs().iter().cloned());
        builder.inner.clock = verifier.clock().clone();
        if let Some(prefix) = verifier.prefixes().first() {
            builder = builder.prefix(prefix.clone());
        }
        if let Some(env) = verifier.envs().first() {
            builder = builder.env(env.clone());
        }
        builder
    }

    fn builder_shared(store: Arc<dyn KeyStore>) -> KeyManagerBuilder {
        KeyManagerBuilder {
            inner: Inner {
                store,
                hasher: KeyHasher::default(),
                clock: Arc::new(SystemClock),
                prefix: "sk".to_owned(),
                env: "live".to_owned(),
                envs: Vec::new(),
                grace: Duration::hours(24),
                role_writes: futures_util::lock::Mutex::new(()),
            },
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The default rotation grace period.
    pub fn rotation_grace(&self) -> Duration {
        self.inner.grace
    }

    /// Creates a key. The plaintext is in the result, once.
    pub async fn create(&self, actor: &Actor, new: NewKey) -> Result<CreatedKey, ManageError> {
        let result = self.create_inner(actor, new).await;
        self.audit_failure(actor, "key.create", result.as_ref().err())
            .await;
        result
    }

    async fn create_inner(&self, actor: &Actor, new: NewKey) -> Result<CreatedKey, ManageError> {
        let now = self.inner.clock.now();
        new_key::check_name(&new.name)?;
        new_key::check_description(new.description.as_deref())?;
        new_key::check_expiry(new.expires_at, now)?;
        new_key::check_metadata(&new.metadata)?;
        new_key::check_restrictions(&new.allowed_ips, &new.allowed_referrers)?;
        new_key::check_new_key_holds_no_key(&new)?;
        if let Some(spec) = &new.rate_limit {
            spec.validate()
                .map_err(|e| ManageError::invalid(e.to_string()))?;
        }
        if let Some(grant) = &new.credits {
            grant
                .validate()
                .map_err(|e| ManageError::invalid(e.to_string()))?;
        }
        let tenant = match (actor.tenant(), new.tenant) {
            (Some(own), None) => own.to_owned(),
            (_, Some(asked)) if !asked.trim().is_empty() && asked.len() <= 200 => asked,
            (Some(_), Some(_)) => return Err(ManageError::invalid("invalid tenant")),
            (None, _) => return Err(ManageError::invalid("tenant is required")),
        };
        let prefix = new.prefix.unwrap_or_else(|| self.inner.prefix.clone());
        // A caller's new key is of the caller's environment unless it asks otherwise
        // (and the policy refuses another); the system actor gets the default.
        let env = new
            .env
            .or_else(|| actor.principal().map(|p| p.env().to_owned()))
            .unwrap_or_else(|| self.inner.env.clone());
        if !self.inner.envs.is_empty() && !self.inner.envs.contains(&env) {
            return Err(ManageError::invalid(format!(
                "env must be one of {}",
                self.inner.envs.join(", ")
            )));
        }
        let owner = match (new.kind, new.owner) {
            (_, Some(owner)) => Some(owner),
            (KeyKind::Personal, None) => match actor.principal().and_then(|p| p.owner()) {
                Some(owner) => Some(owner.to_owned()),
                None => return Err(ManageError::invalid("a personal key needs an owner")),
            },
            (_, None) => None,
        };

        let (key, mut record) =
            KeyRecord::generate(&self.inner.hasher, &prefix, &env, new.name, tenant)
                .map_err(|e| ManageError::invalid(e.to_string()))?;
        record.description = new.description;
        record.kind = new.kind;
        record.owner = owner;
        record.role = new.role;
        record.scopes = new.scopes;
        record.created_at = now;
        record.expires_at = new.expires_at;
        record.allowed_ips = new.allowed_ips;
        record.allowed_referrers = new.allowed_referrers;
        record.rate_limit = new.rate_limit;
        record.limits = new.limits;
        record.credits = match new.credits {
            Some(grant) => Some(credits_of(
                record.id.clone(),
                grant,
                u64::try_from(now.timestamp_micros()).unwrap_or(0),
                now,
            )?),
            None => self.inherited_credits(actor).await?,
        };
        record.metadata = new.metadata;
        record.created_by = actor.principal().map(|p| p.key_id().clone());

        let scopes = self.effective_scopes_of_new(&record).await?;
        authorize(
            actor,
            Action::Create(Subject {
                record: &record,
                scopes: &scopes,
            }),
        )?;
        if let (KeyKind::Personal, Some(owner)) = (record.kind, record.owner.as_deref()) {
            if self
                .inner
                .store
                .owner_deactivated_at(&record.tenant, owner)
                .await?
                .is_some()
            {
                return Err(ManageError::invalid(format!(
                    "owner {owner} is deactivated: reactivate the owner before issuing personal keys"
                )));
            }
        }
        let event = self.success_event(actor, "key.create", &record.tenant, &record.id);
        self.inner
            .store
            .write(Write::Insert(&record), &event)
            .await?;
        Ok(CreatedKey { key, record })
    }

    /// The credits a key made by `actor` without credits of its own spends: its
    /// maker's balance, when the maker has one (a metered key cannot mint unmetered
    /// keys); the policy lets a key with `admin:credits` make unmetered keys.
    async fn inherited_credits(
        &self,
        actor: &Actor,
    ) -> Result<Option<crate::credits::Credits>, ManageError> {
        let Some(principal) = actor.principal() else {
            return Ok(None);
        };
        if crate::manager::policy::holds_credits_admin(principal) {
            return Ok(None);
        }
        Ok(self
            .inner
            .store
            .get(principal.key_id())
            .await?
            .and_then(|maker| maker.credits))
    }

    /// The scopes a key being created or changed would hold: its own plus its role's.
    /// The role must exist.
    async fn effective_scopes_of_new(&self, record: &KeyRecord) -> Result<ScopeSet, ManageError> {
        let mut scopes = record.scopes.clone();
        if let Some(role) = &record.role {
            let role = self
                .inner
                .store
                .get_role(&record.tenant, &record.env, role)
                .await?
                .ok_or_else(|| ManageError::invalid(format!("unknown role {role:?}")))?;
            scopes.extend(&role.scopes);
        }
        Ok(scopes)
    }

    /// The scopes a stored key holds: its own plus its role's, resolved as at verify
    /// time (its tenant's and environment's role, else the global one; a role missing
    /// from the store adds none).
    async fn effective_scopes(&self, record: &KeyRecord) -> Result<ScopeSet, ManageError> {
        let mut scopes = record.scopes.clone();
        if let Some(role) = &record.role {
            if let Some(role) = self
                .inner
                .store
                .get_role(&record.tenant, &record.env, role)
                .await?
            {
                scopes.extend(&role.scopes);
            }
        }
        Ok(scopes)
    }

    /// Keys the actor may see, oldest first: a key actor's are those of its own tenant
    /// and environment (whatever `tenant` says); the system actor's are those of
    /// `tenant`, or of every tenant when `tenant` is `None`.
    pub async fn list(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: Option<&str>,
        include_revoked: bool,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, ManageError> {
        let mut filter = KeyFilter::all().include_revoked(include_revoked);
        filter.tenant = tenant.map(str::to_owned);
        filter.owner = owner.map(str::to_owned);
        self.list_matching(actor, filter, page).await
    }

    /// Keys matching `filter` that the actor may see, oldest first. A key actor's
    /// filter is confined to its own tenant and environment (a tenant or environment it
    /// names is replaced by its own); the system actor's is used as given
    /// (`filter.tenant == None`: every tenant).
    ///
    /// ```
    /// use keygate::{Actor, KeyManager, MemoryStore, NewKey};
    /// use keygate::store::{KeyFilter, PageRequest};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let manager = KeyManager::builder(MemoryStore::new()).build();
    /// let system = Actor::system();
    /// manager.create(&system, NewKey::named("a").tenant("acme")).await?;
    /// manager.create(&system, NewKey::named("g").tenant("globex")).await?;
    /// let all = manager.list_matching(&system, KeyFilter::all(), &PageRequest::first(10)).await?;
    /// assert_eq!(all.items.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn list_matching(
        &self,
        actor: &Actor,
        filter: KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, ManageError> {
        let filter = policy::listing_filter(actor, filter);
        let mut page = self.inner.store.list(&filter, page).await?;
        page.items
            .retain(|r| authorize(actor, Action::See(r)).is_ok());
        Ok(page)
    }

    /// One key, if the actor may see it.
    pub async fn get(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        match self.inner.store.get(id).await? {
            Some(record) => {
                authorize(actor, Action::See(&record))?;
                Ok(record)
            }
            None => Err(ManageError::NotFound),
        }
    }

    /// Changes a key's settings. A write that races another change of the same key is
    /// re-read and re-checked, never written over it; a key revoked meanwhile stays
    /// revoked and the update is refused.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &KeyId,
        update: KeyUpdate,
    ) -> Result<KeyRecord, ManageError> {
        let result = self.update_inner(actor, id, update).await;
        self.audit_failure(actor, "key.update", result.as_ref().err())
            .await;
        result
    }

    async fn update_inner(
        &self,
        actor: &Actor,
        id: &KeyId,
        update: KeyUpdate,
    ) -> Result<KeyRecord, ManageError> {
        let new_scopes = update.scopes.is_some() || update.role.is_some();
        self.change(actor, id, "key.update", new_scopes, |before| {
            self.apply_update(before, &update).map(Some)
        })
        .await
    }

    /// Disables a key: it is refused (401 `key_disabled`) until
    /// [`KeyManager::enable`]d, and keeps everything else (its id, settings, usage).
    /// Needs the same rights as editing the key; a revoked key cannot be disabled or
    /// enabled. Disabling a disabled key changes nothing (and is recorded all the same).
    ///
    /// ```
    /// use keygate::{Actor, KeyManager, MemoryStore, NewKey};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = KeyManager::builder(MemoryStore::new()).build();
    /// let system = Actor::system();
    /// let created = manager.create(&system, NewKey::named("ci").tenant("acme")).await?;
    /// let disabled = manager.disable(&system, &created.record.id).await?;
    /// assert!(disabled.disabled_at.is_some());
    /// let enabled = manager.enable(&system, &created.record.id).await?;
    /// assert!(enabled.disabled_at.is_none());
    /// # Ok::<(), keygate::manager::ManageError>(()) }).unwrap();
    /// ```
    pub async fn disable(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        self.set_disabled(actor, id, true).await
    }

    /// Enables a disabled key again (enabling an enabled key changes nothing).
    pub async fn enable(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        self.set_disabled(actor, id, false).await
    }

    async fn set_disabled(
        &self,
        actor: &Actor,
        id: &KeyId,
        disabled: bool,
    ) -> Result<KeyRecord, ManageError> {
        let action = if disabled {
            "key.disable"
        } else {
            "key.enable"
        };
        let now = self.inner.clock.now();
        let result = self
            .change(actor, id, action, false, |before| {
                if before.revoked_at.is_some() {
                    return Err(revoked_cannot_change());
                }
                if before.disabled_at.is_some() == disabled {
                    return Ok(None);
                }
                let mut after = before.clone();
                after.disabled_at = disabled.then_some(now);
                Ok(Some(after))
            })
            .await;
        self.audit_failure(actor, action, result.as_ref().err())
            .await;
        result
    }

    /// One change of a key's stored settings under the management policy: read,
    /// `apply` (`None`: nothing to change), authorize the before and after, then write
    /// over the version read with its `action` event. A write that raced another change
    /// is re-read and re-checked, never written over it; a key revoked meanwhile stays
    /// revoked and the change is refused.
    async fn change(
        &self,
        actor: &Actor,
        id: &KeyId,
        action: &str,
        new_scopes: bool,
        apply: impl Fn(&KeyRecord) -> Result<Option<KeyRecord>, ManageError>,
    ) -> Result<KeyRecord, ManageError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let before = self.get(actor, id).await?;
            let changed = apply(&before)?;
            let unchanged = changed.is_none();
            let after = changed.unwrap_or_else(|| before.clone());
            let before_scopes = self.effective_scopes(&before).await?;
            let after_scopes = if new_scopes {
                self.effective_scopes_of_new(&after).await?
            } else {
                before_scopes.clone()
            };
            authorize(
                actor,
                Action::Update {
                    before: Subject {
                        record: &before,
                        scopes: &before_scopes,
                    },
                    after: Subject {
                        record: &after,
                        scopes: &after_scopes,
                    },
                },
            )?;
            let event = self.success_event(actor, action, &after.tenant, &after.id);
            if unchanged {
                // Nothing changes; the request is recorded all the same.
                self.append(event).await;
                return Ok(before);
            }
            match self.inner.store.write(Write::Update(&after), &event).await {
                Ok(_) => {
                    let mut stored = after;
                    stored.version += 1;
                    return Ok(stored);
                }
                // Someone else wrote first: read again and re-check.
                Err(StoreError::VersionConflict) => {}
                Err(StoreError::Revoked) => return Err(revoked_cannot_change()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::VersionConflict.into())
    }

    /// `before` with `update` applied and validated (no I/O).
    fn apply_update(
        &self,
        before: &KeyRecord,
        update: &KeyUpdate,
    ) -> Result<KeyRecord, ManageError> {
        if before.revoked_at.is_some() {
            return Err(revoked_cannot_change());
        }
        let now = self.inner.clock.now();
        let mut record = before.clone();
        if let Some(name) = &update.name {
            new_key::check_name(name)?;
            new_key::check_no_key("name", [name.as_str()])?;
            record.name.clone_from(name);
        }
        if let Some(description) = &update.description {
            new_key::check_description(description.as_deref())?;
            new_key::check_no_key("description", description.as_deref())?;
            record.description.clone_from(description);
        }
        if let Some(expires_at) = update.expires_at {
            new_key::check_expiry(expires_at, now)?;
            record.expires_at = expires_at;
        }
        if let Some(ips) = &update.allowed_ips {
            record.allowed_ips.clone_from(ips);
        }
        if let Some(referrers) = &update.allowed_referrers {
            new_key::check_no_key("allowedReferrers", referrers.iter().map(String::as_str))?;
            record.allowed_referrers.clone_from(referrers);
        }
        new_key::check_restrictions(&record.allowed_ips, &record.allowed_referrers)?;
        if let Some(rate_limit) = update.rate_limit {
            if let Some(spec) = &rate_limit {
                spec.validate()
                    .map_err(|e| ManageError::invalid(e.to_string()))?;
            }
            record.rate_limit = rate_limit;
        }
        if let Some(limits) = &update.limits {
            record.limits.clone_from(limits);
        }
        if let Some(credits) = update.credits {
            record.credits = match credits {
                Some(grant) => {
                    grant
                        .validate()
                        .map_err(|e| ManageError::invalid(e.to_string()))?;
                    // The key's own balance from now on, in an epoch later than any
                    // of the balance it had (spends of that one no longer count).
                    let after = before
                        .credits
                        .as_ref()
                        .map_or(0, |c| c.epoch.saturating_add(1));
                    let epoch = u64::try_from(now.timestamp_micros())
                        .unwrap_or(0)
                        .max(after);
                    Some(credits_of(before.id.clone(), grant, epoch, now)?)
                }
                None => None,
            };
        }
        if let Some(metadata) = &update.metadata {
            new_key::check_metadata(metadata)?;
            new_key::check_metadata_holds_no_key(metadata)?;
            record.metadata.clone_from(metadata);
        }
        if let Some(scopes) = &update.scopes {
            new_key::check_no_key("scopes", scopes.to_strings().iter().map(String::as_str))?;
            record.scopes.clone_from(scopes);
        }
        if let Some(role) = &update.role {
            new_key::check_no_key("role", role.as_deref())?;
            record.role.clone_from(role);
        }
        Ok(record)
    }

    /// Issues a replacement key now; the old one keeps working for `grace` (default:
    /// the manager's, 24 h), then is refused. The new key copies every setting. A key
    /// has at most one successor: a second (or concurrent) rotation is refused.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &KeyId,
        grace: Option<Duration>,
    ) -> Result<CreatedKey, ManageError> {
        let result = self.rotate_inner(actor, id, grace, None).await;
        self.audit_failure(actor, "key.rotate", result.as_ref().err())
            .await;
        result
    }

    /// What key `id` was granted and what it used since `since` (default: 30 days
    /// ago): its effective scopes (own and role's), the scopes routes' requirements
    /// found it exercising ([`KeyManager::scope_use`]), and the granted scopes it did
    /// not exercise as such: a broad grant (`admin`, `read`) is listed even when a
    /// narrower scope it covers was used, since narrowing replaces it with that one.
    /// A `since` in the future reads as now (an empty window). Not found unless the
    /// actor may see the key.
    pub async fn scope_usage(
        &self,
        actor: &Actor,
        id: &KeyId,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<ScopeUsage, ManageError> {
        let record = self.get(actor, id).await?;
        let now = self.inner.clock.now();
        // A window starting in the future is an empty one, from now.
        let since = since
            .unwrap_or(now - Duration::days(DEFAULT_USAGE_WINDOW_DAYS))
            .min(now);
        let granted = self.effective_scopes(&record).await?;
        let used: Vec<ScopeUse> = self
            .inner
            .store
            .scope_use(id)
            .await?
            .into_iter()
            .filter(|u| u.last_used >= since)
            .collect();
        let unused = granted
            .to_strings()
            .into_iter()
            .filter(|g| !used.iter().any(|u| u.scope == *g))
            .collect();
        Ok(ScopeUsage {
            key: record,
            since,
            granted: granted.to_strings(),
            used,
            unused,
        })
    }

    /// Least privilege in one call: a replacement of key `id` holding only the scopes
    /// it used since `since` (default: 30 days ago; see [`KeyManager::scope_usage`]),
    /// as its own scopes and without a role, issued as a rotation (the old key keeps
    /// working for `grace`, then is refused). Everything else is copied as a rotation
    /// copies it. Under the management policy of a rotation; refused (conflict) when the
    /// key used no scope in the window (revoke it instead) or already holds no more than
    /// it used. Audited as `key.narrow`, naming the scopes dropped.
    pub async fn narrow(
        &self,
        actor: &Actor,
        id: &KeyId,
        since: Option<chrono::DateTime<chrono::Utc>>,
        grace: Option<Duration>,
    ) -> Result<CreatedKey, ManageError> {
        let result = async {
            let usage = self.scope_usage(actor, id, since).await?;
            if usage.used.is_empty() {
                return Err(ManageError::Conflict(format!(
                    "the key used no scope since {}: narrowing would leave it none (revoke it instead)",
                    usage.since.to_rfc3339()
                )));
            }
            if usage.unused.is_empty() && usage.key.role.is_none() {
                return Err(ManageError::Conflict(
                    "the key holds no scope it did not use: nothing to narrow".to_owned(),
                ));
            }
            let narrowed = ScopeSet::parse(usage.used.iter().map(|u| u.scope.as_str()))
                .map_err(|e| ManageError::invalid(e.to_string()))?;
            let dropped = usage.unused.join(" ");
            self.rotate_inner(actor, id, grace, Some((narrowed, dropped)))
                .await
        }
        .await;
        self.audit_failure(actor, "key.narrow", result.as_ref().err())
            .await;
        result
    }

    async fn rotate_inner(
        &self,
        actor: &Actor,
        id: &KeyId,
        grace: Option<Duration>,
        narrowed: Option<(ScopeSet, String)>,
    ) -> Result<CreatedKey, ManageError> {
        let grace = grace.unwrap_or(self.inner.grace);
        if grace < Duration::zero() || grace > Duration::days(30) {
            return Err(ManageError::invalid(
                "grace period must be between 0 and 30 days",
            ));
        }
        let old = self.get(actor, id).await?;
        let now = self.inner.clock.now();
        if !old.status_at(now).is_usable() || old.rotation.is_some() {
            return Err(not_rotatable());
        }
        let scopes = self.effective_scopes(&old).await?;
        authorize(
            actor,
            Action::Rotate(Subject {
                record: &old,
                scopes: &scopes,
            }),
        )?;
        let prefix = if old.prefix.is_empty() {
            self.inner.prefix.clone()
        } else {
            old.prefix.clone()
        };
        let env = if old.env.is_empty() {
            self.inner.env.clone()
        } else {
            old.env.clone()
        };
        let (key, mut new) = KeyRecord::generate(
            &self.inner.hasher,
            &prefix,
            &env,
            old.name.clone(),
            old.tenant.clone(),
        )
        .map_err(|e| ManageError::invalid(e.to_string()))?;
        new.description = old.description.clone();
        new.kind = old.kind;
        new.owner = old.owner.clone();
        new.role = old.role.clone();
        new.scopes = old.scopes.clone();
        if let Some((scopes, _)) = &narrowed {
            new.role = None;
            new.scopes = scopes.clone();
        }
        new.created_at = now;
        new.expires_at = old.expires_at;
        new.allowed_ips = old.allowed_ips.clone();
        new.allowed_referrers = old.allowed_referrers.clone();
        new.rate_limit = old.rate_limit;
        new.limits = old.limits.clone();
        // The successor spends the same balance (never a copy of it).
        new.credits = old.credits.clone();
        new.metadata = old.metadata.clone();
        new.created_by = actor
            .principal()
            .map(|p| p.key_id().clone())
            .or_else(|| old.created_by.clone());
        let event = match &narrowed {
            None => self.success_event(actor, "key.rotate", &new.tenant, id),
            Some((_, dropped)) => self
                .success_event(actor, "key.narrow", &new.tenant, id)
                .with_reason(format!("dropped {dropped}")),
        };
        let rotation = Write::Rotate {
            old: &old,
            grace_until: now + grace,
            new: &new,
        };
        match self.inner.store.write(rotation, &event).await {
            Ok(_) => Ok(CreatedKey { key, record: new }),
            Err(StoreError::Revoked) => Err(not_rotatable()),
            Err(StoreError::VersionConflict) => Err(ManageError::Store(StoreError::Conflict(
                "the key changed or was rotated meanwhile: read it again".into(),
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes a key now and for good (revoking a revoked key changes nothing).
    pub async fn revoke(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        let result = self.revoke_inner(actor, id).await;
        self.audit_failure(actor, "key.revoke", result.as_ref().err())
            .await;
        result
    }

    async fn revoke_inner(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        let record = self.get(actor, id).await?;
        let scopes = self.effective_scopes(&record).await?;
        authorize(
            actor,
            Action::Revoke(Subject {
                record: &record,
                scopes: &scopes,
            }),
        )?;
        let event = self.success_event(actor, "key.revoke", &record.tenant, &record.id);
        if record.revoked_at.is_some() {
            // Nothing changes; the request is recorded all the same.
            self.append(event).await;
            return Ok(record);
        }
        let revocation = Write::Revoke {
            id,
            at: self.inner.clock.now(),
        };
        match self.inner.store.write(revocation, &event).await? {
            Written::Revoked(record) => Ok(*record),
            other => Err(unexpected(&other)),
        }
    }

    /// The limits shared by every key of a tenant in an environment (`owner: None`) or
    /// of one owner there. A key actor reads only its own tenant's and environment's
    /// (`tenant` and `env` are then its own; another is "not found").
    ///
    /// ```
    /// use keygate::rate_limit::NamedLimits;
    /// use keygate::{Actor, KeyGate, MemoryStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = KeyGate::builder(MemoryStore::new()).build().manager();
    /// let org = NamedLimits::parse([("org", "600/m")])?;
    /// manager.set_shared_limits(&Actor::system(), Some("acme"), Some("live"), None, org.clone()).await?;
    /// let got = manager.shared_limits(&Actor::system(), Some("acme"), Some("live"), None).await?;
    /// assert_eq!(got, org);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn shared_limits(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        env: Option<&str>,
        owner: Option<&str>,
    ) -> Result<crate::rate_limit::NamedLimits, ManageError> {
        let (tenant, env) = Self::shared_scope(actor, tenant, env)?;
        authorize(
            actor,
            Action::SeeSharedLimits {
                tenant: &tenant,
                env: &env,
            },
        )?;
        Ok(self.inner.store.shared_limits(&tenant, &env, owner).await?)
    }

    /// Sets the limits shared by every key of a tenant in an environment (`owner:
    /// None`) or of one owner there, replacing what was set (empty: none). They apply
    /// from each key's next verification. A key actor needs the `admin:limits` scope
    /// and sets only its own tenant's and environment's. Audited (`limits.set`).
    pub async fn set_shared_limits(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        env: Option<&str>,
        owner: Option<&str>,
        limits: crate::rate_limit::NamedLimits,
    ) -> Result<crate::rate_limit::NamedLimits, ManageError> {
        let result = self
            .set_shared_limits_inner(actor, tenant, env, owner, &limits)
            .await;
        if let Err(e) = &result {
            let mut event = self.event(actor, "limits.set", Outcome::Failure);
            if let Some(tenant) = actor.tenant().or(tenant) {
                event = event.with_tenant(tenant);
            }
            self.append(event.with_reason(e.to_string())).await;
        }
        result.map(|()| limits)
    }

    async fn set_shared_limits_inner(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        env: Option<&str>,
        owner: Option<&str>,
        limits: &crate::rate_limit::NamedLimits,
    ) -> Result<(), ManageError> {
        let (tenant, env) = Self::shared_scope(actor, tenant, env)?;
        if let Some(owner) = owner {
            if owner.trim().is_empty() || owner.chars().count() > 200 {
                return Err(ManageError::invalid("owner must be 1 to 200 characters"));
            }
            new_key::check_text("owner", owner, |_| false)?;
        }
        authorize(
            actor,
            Action::SetSharedLimits {
                tenant: &tenant,
                env: &env,
            },
        )?;
        let described = limits
            .iter()
            .map(|(name, spec)| format!("{name}={spec}"))
            .collect::<Vec<_>>()
            .join(" ");
        let whose = owner.map_or_else(
            || format!("tenant, env {env}"),
            |o| format!("owner {o}, env {env}"),
        );
        let event = self
            .event(actor, "limits.set", Outcome::Success)
            .with_tenant(tenant.clone())
            .with_reason(if described.is_empty() {
                format!("{whose}: none")
            } else {
                format!("{whose}: {described}")
            });
        let change = Write::PutSharedLimits {
            tenant: &tenant,
            env: &env,
            owner,
            limits,
        };
        self.inner.store.write(change, &event).await?;
        Ok(())
    }

    /// The tenant and environment a shared-limits call is about: a key actor's own
    /// (what it names is checked by the policy), or what the system actor names.
    fn shared_scope(
        actor: &Actor,
        tenant: Option<&str>,
        env: Option<&str>,
    ) -> Result<(String, String), ManageError> {
        match actor.principal() {
            Some(p) => Ok((
                tenant.unwrap_or(p.tenant()).to_owned(),
                env.unwrap_or(p.env()).to_owned(),
            )),
            None => match (tenant, env) {
                (Some(t), Some(e)) if !t.trim().is_empty() && !e.trim().is_empty() => {
                    Ok((t.to_owned(), e.to_owned()))
                }
                _ => Err(ManageError::invalid(
                    "a tenant and an environment are required",
                )),
            },
        }
    }

    /// Deactivates `owner` of the actor's tenant (or `tenant` for the system actor): a
    /// persistent state, so the owner's personal keys are refused at verify time (in
    /// every environment, including keys issued in a race with this call) and no new
    /// personal key can be issued for the owner until [`KeyManager::reactivate_owner`].
    /// Its personal keys are also revoked. Returns the revoked ids.
    pub async fn deactivate_owner(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: &str,
    ) -> Result<Vec<KeyId>, ManageError> {
        let result = self.deactivate_owner_inner(actor, tenant, owner).await;
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = self.event(actor, "owner.deactivate", outcome);
        if let Some(tenant) = actor.tenant().or(tenant) {
            event = event.with_tenant(tenant);
        }
        event = match &result {
            Ok(revoked) => event.with_reason(format!(
                "owner {owner}: {} personal keys revoked",
                revoked.len()
            )),
            Err(e) => event.with_reason(format!("owner {owner}: {e}")),
        };
        self.append(event).await;
        result
    }

    async fn deactivate_owner_inner(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: &str,
    ) -> Result<Vec<KeyId>, ManageError> {
        let tenant = Self::owner_tenant(actor, tenant, owner)?;
        let now = self.inner.clock.now();
        self.inner
            .store
            .deactivate_owner(&tenant, owner, now)
            .await?;
        // Every environment: deactivation is about the person, not the environment.
        let mut revoked = Vec::new();
        let mut page = PageRequest::first(500);
        let filter = KeyFilter::tenant(tenant.clone()).owner(owner);
        loop {
            let batch = self.inner.store.list(&filter, &page).await?;
            for record in batch.items.iter().filter(|r| r.kind == KeyKind::Personal) {
                let event = self
                    .event(actor, "key.revoke", Outcome::Success)
                    .with_target(record.id.clone())
                    .with_tenant(tenant.clone())
                    .with_reason(format!("owner {owner} deactivated"));
                let revocation = Write::Revoke {
                    id: &record.id,
                    at: now,
                };
                self.inner.store.write(revocation, &event).await?;
                revoked.push(record.id.clone());
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(revoked)
    }

    /// Lifts an owner's deactivation: new personal keys may be issued again. Keys
    /// revoked by the deactivation stay revoked.
    pub async fn reactivate_owner(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: &str,
    ) -> Result<(), ManageError> {
        let result = match Self::owner_tenant(actor, tenant, owner) {
            Ok(tenant) => self
                .inner
                .store
                .reactivate_owner(&tenant, owner)
                .await
                .map_err(ManageError::from),
            Err(e) => Err(e),
        };
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = self
            .event(actor, "owner.reactivate", outcome)
            .with_reason(format!("owner {owner}"));
        if let Some(tenant) = actor.tenant().or(tenant) {
            event = event.with_tenant(tenant);
        }
        self.append(event).await;
        result
    }

    /// The tenant an owner operation is about, once the policy allows it.
    fn owner_tenant(
        actor: &Actor,
        tenant: Option<&str>,
        owner: &str,
    ) -> Result<String, ManageError> {
        if owner.trim().is_empty() {
            return Err(ManageError::invalid("owner is required"));
        }
        let tenant = match (actor.tenant(), tenant) {
            (Some(own), None) => own.to_owned(),
            (_, Some(t)) => t.to_owned(),
            (None, None) => return Err(ManageError::invalid("tenant is required")),
        };
        authorize(actor, Action::ManageOwner { tenant: &tenant })?;
        Ok(tenant)
    }

    /// The namespace a role operation of `actor` is about: the one asked for, else the
    /// actor's own (a key actor) or global (`None`, the system actor).
    fn role_namespace(
        actor: &Actor,
        asked: Option<&RoleNamespace>,
    ) -> Result<Option<RoleNamespace>, ManageError> {
        match (asked, actor.principal()) {
            (Some(ns), _) => Ok(Some(ns.clone())),
            (None, Some(p)) => RoleNamespace::new(p.tenant(), p.env())
                .map(Some)
                .map_err(|e| ManageError::invalid(e.to_string())),
            (None, None) => Ok(None),
        }
    }

    /// The role `name` as keys of `namespace` resolve it (`None`: the global one).
    async fn resolve_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<Option<Role>, ManageError> {
        let (tenant, env) = namespace.map_or(("", ""), |ns| (ns.tenant(), ns.env()));
        Ok(self.inner.store.get_role(tenant, env, name).await?)
    }

    /// Every role the actor may see: all of them for the system actor; the global ones
    /// and those of its own tenant and environment for a key actor.
    pub async fn list_roles(&self, actor: &Actor) -> Result<Vec<Role>, ManageError> {
        let mut roles = self.inner.store.list_roles().await?;
        roles.retain(|r| authorize(actor, Action::SeeRole(r)).is_ok());
        Ok(roles)
    }

    /// The role `name` as a key of `namespace` would hold it: that namespace's role,
    /// else the global one. `namespace` defaults to the actor's own tenant and
    /// environment (the global roles only, for the system actor). A role the actor may
    /// not see is [`ManageError::NotFound`].
    pub async fn get_role(
        &self,
        actor: &Actor,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<Role, ManageError> {
        let namespace = Self::role_namespace(actor, namespace)?;
        let role = self
            .resolve_role(namespace.as_ref(), name)
            .await?
            .ok_or(ManageError::NotFound)?;
        authorize(actor, Action::SeeRole(&role))?;
        Ok(role)
    }

    /// Creates a role; [`ManageError::Conflict`] if its namespace already has one of
    /// that name. The namespace is the role's own if it names one; otherwise the
    /// actor's tenant and environment for a key actor, and global for the system actor.
    /// See [`KeyManager::put_role`] for the policy.
    pub async fn create_role(&self, actor: &Actor, role: Role) -> Result<Role, ManageError> {
        let name = role.name().to_owned();
        let result = self.write_role(actor, role, "role.create").await;
        self.audit_role_failure(actor, "role.create", &name, result.as_ref().err())
            .await;
        result.map(|(role, _)| role)
    }

    /// Creates or replaces a role; whether it was created. The namespace is the role's
    /// own if it names one; otherwise the actor's tenant and environment for a key
    /// actor, and global for the system actor.
    ///
    /// A key actor defines roles of its own tenant and environment only (never global),
    /// and must hold every scope of the new role and of what the namespace's keys held
    /// under that name before (the role replaced, or the global role it now shadows).
    ///
    /// ```
    /// use keygate::{Actor, KeyManager, MemoryStore, ScopeSet};
    /// use keygate::role::Role;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let manager = KeyManager::builder(MemoryStore::new()).build();
    /// let viewer = Role::new("viewer", ScopeSet::parse(["read"])?)?;
    /// let (role, created) = manager.put_role(&Actor::system(), viewer.clone()).await?;
    /// assert!(created && role.is_global());
    /// // acme's own viewer role shadows the global one for acme's live keys.
    /// let acme = viewer.in_namespace("acme", "live")?;
    /// let (_, created) = manager.put_role(&Actor::system(), acme).await?;
    /// assert!(created);
    /// assert_eq!(manager.list_roles(&Actor::system()).await?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn put_role(&self, actor: &Actor, role: Role) -> Result<(Role, bool), ManageError> {
        let name = role.name().to_owned();
        let result = self.write_role(actor, role, "role.put").await;
        self.audit_role_failure(actor, "role.put", &name, result.as_ref().err())
            .await;
        result
    }

    /// Defines or replaces a role (`action` `role.create`: only defines).
    async fn write_role(
        &self,
        actor: &Actor,
        role: Role,
        action: &str,
    ) -> Result<(Role, bool), ManageError> {
        let create_only = action == "role.create";
        new_key::check_description(role.description.as_deref())?;
        new_key::check_no_key("name", [role.name()])?;
        new_key::check_no_key("description", role.description.as_deref())?;
        new_key::check_no_key(
            "scopes",
            role.scopes.to_strings().iter().map(String::as_str),
        )?;
        let _writing = self.inner.role_writes.lock().await;
        let namespace = Self::role_namespace(actor, role.namespace())?;
        let role = role.with_namespace(namespace);
        let before = self.resolve_role(role.namespace(), role.name()).await?;
        let exists = before
            .as_ref()
            .is_some_and(|b| b.namespace() == role.namespace());
        authorize(
            actor,
            Action::PutRole {
                namespace: role.namespace(),
                before: before.as_ref().map(|b| &b.scopes),
                after: &role.scopes,
            },
        )?;
        if create_only && exists {
            return Err(ManageError::Conflict(format!(
                "role {} already exists",
                role.name()
            )));
        }
        let event = self.role_event(actor, action, &role);
        self.inner
            .store
            .write(Write::PutRole(&role), &event)
            .await?;
        Ok((role, !exists))
    }

    /// Deletes the role `name` of `namespace` (default: the actor's own tenant and
    /// environment for a key actor, global for the system actor) and returns it.
    ///
    /// A role still held by non-revoked keys (of its namespace; of any tenant for a
    /// global role) is refused with [`ManageError::Conflict`] naming how many, unless
    /// `force`: those keys then hold the global role of that name if there is one, else
    /// only their own scopes. A key actor deletes roles of its own namespace only and
    /// must hold every scope of the deleted role and of the global role its keys fall
    /// back to.
    pub async fn delete_role(
        &self,
        actor: &Actor,
        namespace: Option<&RoleNamespace>,
        name: &str,
        force: bool,
    ) -> Result<Role, ManageError> {
        let result = self.delete_role_inner(actor, namespace, name, force).await;
        self.audit_role_failure(actor, "role.delete", name, result.as_ref().err())
            .await;
        result
    }

    async fn delete_role_inner(
        &self,
        actor: &Actor,
        namespace: Option<&RoleNamespace>,
        name: &str,
        force: bool,
    ) -> Result<Role, ManageError> {
        let _writing = self.inner.role_writes.lock().await;
        let namespace = Self::role_namespace(actor, namespace)?;
        let role = self
            .resolve_role(namespace.as_ref(), name)
            .await?
            .filter(|r| r.namespace() == namespace.as_ref());
        let fallback = match &namespace {
            Some(_) => self.resolve_role(None, name).await?,
            None => None,
        };
        let Some(role) = role else {
            // Refused the same way whether or not the role exists elsewhere.
            authorize(
                actor,
                Action::DeleteRole {
                    namespace: namespace.as_ref(),
                    role: &ScopeSet::new(),
                    fallback: None,
                },
            )?;
            return Err(ManageError::NotFound);
        };
        authorize(
            actor,
            Action::DeleteRole {
                namespace: namespace.as_ref(),
                role: &role.scopes,
                fallback: fallback.as_ref().map(|f| &f.scopes),
            },
        )?;
        if !force {
            let held_by = self.keys_holding(namespace.as_ref(), name).await?;
            if held_by > 0 {
                return Err(ManageError::Conflict(format!(
                    "role {name} is held by {held_by} key(s): change them first, or delete with force (they then hold {})",
                    if fallback.is_some() { "the global role of that name" } else { "only their own scopes" }
                )));
            }
        }
        let event = self.role_event(actor, "role.delete", &role);
        let deletion = Write::DeleteRole {
            namespace: namespace.as_ref(),
            name,
        };
        match self.inner.store.write(deletion, &event).await? {
            Written::RoleDeleted(true) => Ok(role),
            Written::RoleDeleted(false) => Err(ManageError::NotFound),
            other => Err(unexpected(&other)),
        }
    }

    /// How many non-revoked keys hold the role `name` of `namespace` (any tenant's
    /// holding that name, for a global role).
    async fn keys_holding(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<usize, ManageError> {
        let filter = match namespace {
            Some(ns) => KeyFilter::tenant(ns.tenant()).env(ns.env()),
            None => KeyFilter::all(),
        }
        .role(name);
        let mut page = PageRequest::first(1000);
        let mut count = 0;
        loop {
            let batch = self.inner.store.list(&filter, &page).await?;
            count += batch.items.len();
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(count),
            }
        }
    }

    /// The event recording a successful role write (made with it, in one transaction
    /// where the store can): the role's name, namespace and tenant.
    fn role_event(&self, actor: &Actor, action: &str, role: &Role) -> AuditEvent {
        let mut event = self.event(actor, action, Outcome::Success);
        if let (None, Some(tenant)) = (&event.tenant, role.tenant()) {
            event = event.with_tenant(tenant);
        }
        if let Some(ns) = role.namespace() {
            event = event.with_reason(format!("namespace {ns}"));
        }
        event.with_role(role.name())
    }

    /// Audits a refused role operation (a success is recorded with its write).
    async fn audit_role_failure(
        &self,
        actor: &Actor,
        action: &str,
        name: &str,
        error: Option<&ManageError>,
    ) {
        if let Some(err) = error {
            let event = self
                .event(actor, action, Outcome::Failure)
                .with_reason(err.to_string())
                .with_role(name);
            self.append(event).await;
        }
    }

    /// Verification counts the actor may read, summed into buckets of `granularity`:
    /// its own tenant's and environment's (every tenant's, and unknown keys', for the
    /// system actor). A key id the actor cannot see is not found. A range longer than
    /// [`Granularity::longest_range`] is cut to its last part (the report's `from`
    /// says where it starts); an empty range (`to` not after `from`) has no counts.
    ///
    /// ```
    /// use keygate::{Actor, KeyManager, MemoryStore};
    /// use keygate::analytics::{Granularity, VerificationFilter};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = KeyManager::builder(MemoryStore::new()).build();
    /// let now = chrono::Utc::now();
    /// let week = VerificationFilter::between(now - chrono::Duration::days(7), now);
    /// let report = manager.verification_counts(&Actor::system(), week, Granularity::Minute).await?;
    /// assert_eq!(report.from, now - chrono::Duration::days(1), "a day of minutes at most");
    /// assert!(report.counts.is_empty());
    /// # Ok::<(), keygate::manager::ManageError>(()) }).unwrap();
    /// ```
    pub async fn verification_counts(
        &self,
        actor: &Actor,
        mut filter: VerificationFilter,
        granularity: Granularity,
    ) -> Result<VerificationReport, ManageError> {
        filter.from = filter.from.max(filter.to - granularity.longest_range());
        if let Some(id) = &filter.key_id {
            // Not found unless the actor may see the key.
            self.get(actor, id).await?;
        }
        let counts = if filter.to > filter.from {
            let filter = analytics_filter(actor, filter.clone());
            rollup(
                self.inner.store.verification_counts(&filter).await?,
                granularity,
            )
        } else {
            Vec::new()
        };
        Ok(VerificationReport {
            from: filter.from,
            to: filter.to,
            granularity,
            counts,
        })
    }

    /// The scopes key `id` exercised (routes' requirements it met through them), first
    /// and last seen: granted minus these is what the key holds without using. Not found
    /// unless the actor may see the key.
    pub async fn scope_use(&self, actor: &Actor, id: &KeyId) -> Result<Vec<ScopeUse>, ManageError> {
        self.get(actor, id).await?;
        Ok(self.inner.store.scope_use(id).await?)
    }

    /// Audit events the actor may see (its tenant's; all for the system actor).
    /// (Audit events carry no environment: a caller sees its whole tenant's.)
    pub async fn audit_log(
        &self,
        actor: &Actor,
        mut filter: AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, ManageError> {
        if let Some(tenant) = actor.tenant() {
            filter.tenant = Some(tenant.to_owned());
        }
        Ok(self.inner.store.list_audit(&filter, page).await?)
    }

    fn event(&self, actor: &Actor, action: &str, outcome: Outcome) -> AuditEvent {
        let mut event = AuditEvent::new(action, outcome)
            .at(self.inner.clock.now())
            .with_client_ip(actor.client_ip());
        if let Some(p) = actor.principal() {
            event = event.with_actor(p.key_id().clone()).with_tenant(p.tenant());
        }
        event
    }

    /// The event recording a successful change of key `target` of `tenant` (made with
    /// it, in one transaction where the store can).
    fn success_event(
        &self,
        actor: &Actor,
        action: &str,
        tenant: &str,
        target: &KeyId,
    ) -> AuditEvent {
        let mut event = self
            .event(actor, action, Outcome::Success)
            .with_target(target.clone());
        if event.tenant.is_none() && !tenant.is_empty() {
            event = event.with_tenant(tenant.to_owned());
        }
        event
    }

    /// Audits a refused key operation (a success is recorded with its write).
    async fn audit_failure(&self, actor: &Actor, action: &str, error: Option<&ManageError>) {
        match error {
            // Not-found lookups are not changes; everything else refused is recorded.
            None | Some(ManageError::NotFound) => {}
            Some(err) => {
                let event = self
                    .event(actor, action, Outcome::Failure)
                    .with_reason(err.to_string());
                self.append(event).await;
            }
        }
    }

    async fn append(&self, event: AuditEvent) {
        if let Err(e) = self.inner.store.append_audit(&event).await {
            tracing::error!(error = %e, action = %event.action, "keygate: could not write audit event");
        }
    }
}

/// The key's state, not the request, is what is wrong: a conflict (409), which the
/// same request could not have avoided by being written differently.
fn revoked_cannot_change() -> ManageError {
    ManageError::Conflict("a revoked key cannot be changed".to_owned())
}

/// A store's write answered with another kind of result than its change returns.
fn unexpected(written: &Written) -> ManageError {
    ManageError::Store(StoreError::unavailable(format!(
        "the store answered a write with {written:?}"
    )))
}

fn not_rotatable() -> ManageError {
    ManageError::Conflict("only an active, not yet rotated key can be rotated".to_owned())
}

#[cfg(test)]
mod adversarial_tests;
#[cfg(test)]
mod credits_adversarial_tests;
#[cfg(test)]
mod narrow_tests;
#[cfg(test)]
mod policy_proptest;
#[cfg(test)]
mod role_adversarial_tests;
#[cfg(test)]
mod shared_limits_tests;
#[cfg(test)]
mod tests;

/// A key's credits made from an operator's `grant`: a balance of `account`, in `epoch`,
/// set at `now`.
fn credits_of(
    account: KeyId,
    grant: crate::credits::CreditGrant,
    epoch: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<crate::credits::Credits, ManageError> {
    let mut credits = crate::credits::Credits::new(account, grant.remaining, grant.refill, now)
        .map_err(|e| ManageError::invalid(e.to_string()))?;
    credits.epoch = epoch;
    Ok(credits)
}

/// How far back [`KeyManager::scope_usage`] and [`KeyManager::narrow`] look by default.
pub const DEFAULT_USAGE_WINDOW_DAYS: i64 = 30;

/// What a key was granted and what it used ([`KeyManager::scope_usage`]).
#[derive(Debug, Clone)]
pub struct ScopeUsage {
    /// The key.
    pub key: KeyRecord,
    /// The window's start.
    pub since: chrono::DateTime<chrono::Utc>,
    /// Its effective scopes (own and role's).
    pub granted: Vec<String>,
    /// The scopes it exercised in the window, with first and last use.
    pub used: Vec<ScopeUse>,
    /// Granted scopes it did not exercise as such.
    pub unused: Vec<String>,
}

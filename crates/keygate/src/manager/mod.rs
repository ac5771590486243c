//! `KeyManager`: create, list, get, update, rotate, revoke; owner deactivation; roles;
//! every change audited. The admin REST API and the CLI are thin layers over it.

mod actor;
mod error;
mod new_key;
mod update;

use std::sync::Arc;

use chrono::Duration;

pub use actor::Actor;
pub use error::ManageError;
pub use new_key::{parse_ip_rule, NewKey};
pub use update::KeyUpdate;

use crate::audit::{AuditEvent, AuditFilter, Outcome};
use crate::clock::{Clock, SystemClock};
use crate::hash::KeyHasher;
use crate::id::KeyId;
use crate::key_format;
use crate::record::{KeyKind, KeyRecord, Rotation};
use crate::role::Role;
use crate::scope_set::ScopeSet;
use crate::secret::ApiKeySecret;
use crate::store::{KeyFilter, KeyStore, Page, PageRequest};

/// A key just made (by create or rotate): the plaintext, shown once, and its record.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The plaintext key. Show it once; it cannot be recovered.
    pub key: ApiKeySecret,
    /// What was stored.
    pub record: KeyRecord,
}

/// Manages keys over any [`KeyStore`], enforcing tenant isolation and the privilege
/// ceiling (a key never gets more than its creator holds), and auditing every change.
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
        KeyManagerBuilder {
            inner: Inner {
                store: Arc::new(store),
                hasher: KeyHasher::default(),
                clock: Arc::new(SystemClock),
                prefix: "sk".to_owned(),
                env: "live".to_owned(),
                envs: Vec::new(),
                grace: Duration::hours(24),
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
        self.audit_result(
            actor,
            "key.create",
            &result
                .as_ref()
                .map(|c| (c.record.tenant.clone(), c.record.id.clone())),
        )
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
        let tenant = match (actor.tenant(), new.tenant) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(ManageError::Forbidden(
                    "a key can only create keys in its own tenant".into(),
                ))
            }
            (Some(own), _) => own.to_owned(),
            (None, Some(asked)) if !asked.trim().is_empty() && asked.len() <= 200 => asked,
            (None, _) => return Err(ManageError::invalid("tenant is required")),
        };
        let prefix = new.prefix.unwrap_or_else(|| self.inner.prefix.clone());
        let env = new.env.unwrap_or_else(|| self.inner.env.clone());
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
        if let (KeyKind::Personal, Some(p), Some(owner)) =
            (new.kind, actor.principal(), owner.as_deref())
        {
            if p.owner().is_some_and(|own| own != owner) && !p.has_scope("*") {
                return Err(ManageError::Forbidden(
                    "only an admin may create personal keys for others".into(),
                ));
            }
        }
        self.check_ceiling(actor, &new.scopes, new.role.as_deref())
            .await?;

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
        record.metadata = new.metadata;
        record.created_by = actor.principal().map(|p| p.key_id().clone());
        self.inner.store.insert(&record).await?;
        Ok(CreatedKey { key, record })
    }

    /// The role must exist, and the actor must hold every scope the key would get.
    async fn check_ceiling(
        &self,
        actor: &Actor,
        scopes: &ScopeSet,
        role: Option<&str>,
    ) -> Result<(), ManageError> {
        let mut wanted = scopes.clone();
        if let Some(role) = role {
            let role = self
                .inner
                .store
                .get_role(role)
                .await?
                .ok_or_else(|| ManageError::invalid(format!("unknown role {role:?}")))?;
            wanted.extend(&role.scopes);
        }
        if actor.covers(&wanted) {
            Ok(())
        } else {
            Err(ManageError::Forbidden(
                "a key cannot be given scopes its creator does not hold".into(),
            ))
        }
    }

    /// Keys of the actor's tenant (or `tenant` for the system actor), oldest first.
    pub async fn list(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: Option<&str>,
        include_revoked: bool,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, ManageError> {
        let tenant = match (actor.tenant(), tenant) {
            (Some(own), _) => own.to_owned(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => return Err(ManageError::invalid("tenant is required")),
        };
        let filter = KeyFilter {
            tenant,
            owner: owner.map(str::to_owned),
            include_revoked,
        };
        Ok(self.inner.store.list(&filter, page).await?)
    }

    /// One key, if the actor may see it.
    pub async fn get(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        match self.inner.store.get(id).await? {
            Some(record) if actor.sees_tenant(&record.tenant) => Ok(record),
            _ => Err(ManageError::NotFound),
        }
    }

    /// Changes a key's settings.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &KeyId,
        update: KeyUpdate,
    ) -> Result<KeyRecord, ManageError> {
        let result = self.update_inner(actor, id, update).await;
        self.audit_result(
            actor,
            "key.update",
            &result.as_ref().map(|r| (r.tenant.clone(), r.id.clone())),
        )
        .await;
        result
    }

    async fn update_inner(
        &self,
        actor: &Actor,
        id: &KeyId,
        update: KeyUpdate,
    ) -> Result<KeyRecord, ManageError> {
        let mut record = self.get(actor, id).await?;
        if record.revoked_at.is_some() {
            return Err(ManageError::invalid("a revoked key cannot be changed"));
        }
        let now = self.inner.clock.now();
        if let Some(name) = update.name {
            new_key::check_name(&name)?;
            record.name = name;
        }
        if let Some(description) = update.description {
            new_key::check_description(description.as_deref())?;
            record.description = description;
        }
        if let Some(expires_at) = update.expires_at {
            new_key::check_expiry(expires_at, now)?;
            record.expires_at = expires_at;
        }
        if let Some(ips) = update.allowed_ips {
            record.allowed_ips = ips;
        }
        if let Some(referrers) = update.allowed_referrers {
            record.allowed_referrers = referrers;
        }
        new_key::check_restrictions(&record.allowed_ips, &record.allowed_referrers)?;
        if let Some(rate_limit) = update.rate_limit {
            record.rate_limit = rate_limit;
        }
        if let Some(metadata) = update.metadata {
            new_key::check_metadata(&metadata)?;
            record.metadata = metadata;
        }
        let scopes_change = update.scopes.is_some() || update.role.is_some();
        if let Some(scopes) = update.scopes {
            record.scopes = scopes;
        }
        if let Some(role) = update.role {
            record.role = role;
        }
        if scopes_change {
            self.check_ceiling(actor, &record.scopes, record.role.as_deref())
                .await?;
        }
        self.inner.store.update(&record).await?;
        Ok(record)
    }

    /// Issues a replacement key now; the old one keeps working for `grace` (default:
    /// the manager's, 24 h), then is refused. The new key copies every setting.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &KeyId,
        grace: Option<Duration>,
    ) -> Result<CreatedKey, ManageError> {
        let result = self.rotate_inner(actor, id, grace).await;
        self.audit_result(
            actor,
            "key.rotate",
            &result
                .as_ref()
                .map(|c| (c.record.tenant.clone(), id.clone())),
        )
        .await;
        result
    }

    async fn rotate_inner(
        &self,
        actor: &Actor,
        id: &KeyId,
        grace: Option<Duration>,
    ) -> Result<CreatedKey, ManageError> {
        let grace = grace.unwrap_or(self.inner.grace);
        if grace < Duration::zero() || grace > Duration::days(30) {
            return Err(ManageError::invalid(
                "grace period must be between 0 and 30 days",
            ));
        }
        let mut old = self.get(actor, id).await?;
        let now = self.inner.clock.now();
        if !old.status_at(now).is_usable() || old.rotation.is_some() {
            return Err(ManageError::invalid(
                "only an active, not yet rotated key can be rotated",
            ));
        }
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
        new.created_at = now;
        new.expires_at = old.expires_at;
        new.allowed_ips = old.allowed_ips.clone();
        new.allowed_referrers = old.allowed_referrers.clone();
        new.rate_limit = old.rate_limit;
        new.metadata = old.metadata.clone();
        new.created_by = actor
            .principal()
            .map(|p| p.key_id().clone())
            .or_else(|| old.created_by.clone());
        self.inner.store.insert(&new).await?;
        old.rotation = Some(Rotation {
            replaced_by: new.id.clone(),
            grace_until: now + grace,
        });
        self.inner.store.update(&old).await?;
        Ok(CreatedKey { key, record: new })
    }

    /// Revokes a key now and for good.
    pub async fn revoke(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        let result = self.revoke_inner(actor, id).await;
        self.audit_result(
            actor,
            "key.revoke",
            &result.as_ref().map(|r| (r.tenant.clone(), r.id.clone())),
        )
        .await;
        result
    }

    async fn revoke_inner(&self, actor: &Actor, id: &KeyId) -> Result<KeyRecord, ManageError> {
        let mut record = self.get(actor, id).await?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(self.inner.clock.now());
            self.inner.store.update(&record).await?;
        }
        Ok(record)
    }

    /// Revokes every personal key of `owner` (in the actor's tenant, or `tenant` for the
    /// system actor). Returns the revoked ids.
    pub async fn deactivate_owner(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
        owner: &str,
    ) -> Result<Vec<KeyId>, ManageError> {
        let mut revoked = Vec::new();
        let mut page = PageRequest::first(500);
        loop {
            let batch = self.list(actor, tenant, Some(owner), false, &page).await?;
            for record in batch.items.iter().filter(|r| r.kind == KeyKind::Personal) {
                self.revoke(actor, &record.id).await?;
                revoked.push(record.id.clone());
            }
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let tenant = actor.tenant().or(tenant).unwrap_or_default().to_owned();
        let event = self
            .event(actor, "owner.deactivate", Outcome::Success)
            .with_tenant(tenant)
            .with_reason(format!(
                "owner {owner}: {} personal keys revoked",
                revoked.len()
            ));
        self.append(event).await;
        Ok(revoked)
    }

    /// Creates or replaces a role. An API caller may only define roles within its own
    /// scopes.
    pub async fn put_role(&self, actor: &Actor, role: Role) -> Result<Role, ManageError> {
        let result = if actor.covers(&role.scopes) {
            self.inner
                .store
                .put_role(&role)
                .await
                .map(|()| role)
                .map_err(ManageError::from)
        } else {
            Err(ManageError::Forbidden(
                "a role cannot hold scopes its creator does not hold".into(),
            ))
        };
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = self.event(actor, "role.put", outcome);
        if let Err(e) = &result {
            event = event.with_reason(e.to_string());
        }
        self.append(event).await;
        result
    }

    /// Every role.
    pub async fn list_roles(&self) -> Result<Vec<Role>, ManageError> {
        Ok(self.inner.store.list_roles().await?)
    }

    /// Audit events the actor may see (its tenant's; all for the system actor).
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

    async fn audit_result(
        &self,
        actor: &Actor,
        action: &str,
        result: &Result<(String, KeyId), &ManageError>,
    ) {
        let event = match result {
            Ok((tenant, target)) => {
                let mut e = self
                    .event(actor, action, Outcome::Success)
                    .with_target(target.clone());
                if e.tenant.is_none() && !tenant.is_empty() {
                    e = e.with_tenant(tenant.clone());
                }
                e
            }
            // Not-found lookups are not changes; everything else refused is recorded.
            Err(ManageError::NotFound) => return,
            Err(err) => self
                .event(actor, action, Outcome::Failure)
                .with_reason(err.to_string()),
        };
        self.append(event).await;
    }

    async fn append(&self, event: AuditEvent) {
        if let Err(e) = self.inner.store.append_audit(&event).await {
            tracing::error!(error = %e, action = %event.action, "keygate: could not write audit event");
        }
    }
}

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{decode_cursor, encode_cursor, KeyFilter, KeyStore, Page, PageRequest, StoreError};
use crate::analytics::{
    Granularity, ScopeUse, VerificationCount, VerificationFilter, VerificationOutcome,
};
use crate::audit::{AuditEvent, AuditFilter};
use crate::hash::{KeyHash, PrehashedBuilder};
use crate::id::KeyId;
use crate::record::{KeyKind, KeyRecord, Rotation};
use crate::role::{Role, RoleNamespace};

/// A [`KeyStore`] in process memory: for tests, demos and single-process services
/// that seed their keys at start. Nothing survives a restart.
///
/// [`MemoryStore::set_unavailable`] makes every call fail as a down database would,
/// to test the 503 path.
///
/// ```
/// use keygate::MemoryStore;
/// let store = MemoryStore::new();
/// store.set_unavailable(true); // every call now returns StoreError::Unavailable
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    unavailable: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// The records by hash: the hot path is one lookup, no SipHash (the key is already
    /// a SHA-256).
    keys: HashMap<KeyHash, Arc<KeyRecord>, PrehashedBuilder>,
    /// Each key's hash, by id.
    ids: HashMap<KeyId, KeyHash>,
    /// Roles by `(name, tenant, env)`; a global role's tenant and env are empty.
    roles: BTreeMap<(String, String, String), Role>,
    /// Deactivated owners: `(tenant, owner)` -> when.
    owners: HashMap<(String, String), DateTime<Utc>>,
    audit: Vec<AuditEvent>,
    /// Scopes keys exercised, by (key, scope).
    scope_use: BTreeMap<(KeyId, String), ScopeUse>,
    /// Shared limits by (tenant, env, owner; "" for the whole tenant).
    shared: HashMap<(String, String, String), crate::rate_limit::NamedLimits>,
    /// Verification counts by (minute, key, outcome).
    verifications: BTreeMap<(DateTime<Utc>, Option<KeyId>, VerificationOutcome), VerificationCount>,
}

impl State {
    /// When the owner of `record` was deactivated, for a personal key.
    fn owner_deactivated_at(&self, record: &KeyRecord) -> Option<DateTime<Utc>> {
        match (&record.kind, &record.owner) {
            (KeyKind::Personal, Some(owner)) => self
                .owners
                .get(&(record.tenant.clone(), owner.clone()))
                .copied(),
            _ => None,
        }
    }

    /// The stored record of `id`.
    fn record(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.ids
            .get(id)
            .and_then(|hash| self.keys.get(hash))
            .map(|r| &**r)
    }

    /// The stored record of `id`, to change in place (copied if shared).
    fn key_mut(&mut self, id: &KeyId) -> Result<&mut KeyRecord, StoreError> {
        let hash = self.ids.get(id).ok_or(StoreError::NotFound)?;
        let record = self
            .keys
            .get_mut(hash)
            .map(Arc::make_mut)
            .ok_or(StoreError::NotFound)?;
        record.clear_resolved();
        Ok(record)
    }

    /// Makes every key holding a role named `name` (in any namespace: over-forgetting
    /// is harmless) resolve it again on its next verification.
    fn forget_resolved_role(&mut self, name: &str) {
        for record in self.keys.values_mut() {
            if record.role.as_deref() == Some(name) {
                Arc::make_mut(record).clear_resolved();
            }
        }
    }

    /// Refreshes `owner_deactivated_at` on every personal key of `(tenant, owner)`.
    fn refresh_owner(&mut self, tenant: &str, owner: &str) {
        let at = self
            .owners
            .get(&(tenant.to_owned(), owner.to_owned()))
            .copied();
        for record in self.keys.values_mut() {
            if record.kind == KeyKind::Personal
                && record.tenant == tenant
                && record.owner.as_deref() == Some(owner)
                && record.owner_deactivated_at != at
            {
                let record = Arc::make_mut(record);
                record.owner_deactivated_at = at;
                record.clear_resolved();
            }
        }
    }
}

/// The map key of a role: `(name, tenant, env)`, empty for a global role.
fn role_key(namespace: Option<&RoleNamespace>, name: &str) -> (String, String, String) {
    let (tenant, env) = namespace.map_or(("", ""), |ns| (ns.tenant(), ns.env()));
    (name.to_owned(), tenant.to_owned(), env.to_owned())
}

#[derive(Debug, thiserror::Error)]
#[error("the memory store was set unavailable")]
struct SimulatedOutage;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates an outage: while `true`, every call fails with
    /// [`StoreError::Unavailable`].
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::unavailable(SimulatedOutage))
        } else {
            Ok(())
        }
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.check()?;
        Ok(self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>, StoreError> {
        self.check()?;
        Ok(self.state.write().unwrap_or_else(PoisonError::into_inner))
    }
}

fn page_of<T: Clone>(
    mut items: Vec<&T>,
    page: &PageRequest,
    key: impl Fn(&T) -> (DateTime<Utc>, String),
) -> Result<Page<T>, StoreError> {
    items.sort_by_key(|item| key(item));
    let after = match &page.cursor {
        Some(c) => Some(decode_cursor(c).ok_or(StoreError::InvalidCursor)?),
        None => None,
    };
    let limit = page.capped_limit();
    let mut rest = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|a| key(item) > *a));
    let taken: Vec<T> = rest.by_ref().take(limit).cloned().collect();
    let next_cursor = match (taken.last(), rest.next()) {
        (Some(last), Some(_)) => {
            let (at, id) = key(last);
            Some(encode_cursor(at, &id))
        }
        _ => None,
    };
    Ok(Page {
        items: taken,
        next_cursor,
    })
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        let state = self.read()?;
        Ok(state.keys.get(hash).cloned())
    }

    fn find_by_hash_now(&self, hash: &KeyHash) -> Option<Option<Arc<KeyRecord>>> {
        if self.unavailable.load(Ordering::Relaxed) {
            return None;
        }
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        Some(state.keys.get(hash).cloned())
    }

    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let state = self.read()?;
        Ok(state.record(id).cloned())
    }

    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut state = self.write()?;
        if state.ids.contains_key(&record.id) {
            return Err(StoreError::Conflict(format!("key id {} exists", record.id)));
        }
        if state.keys.contains_key(&record.hash) {
            return Err(StoreError::Conflict("a key with this hash exists".into()));
        }
        let mut stored = record.clone();
        stored.owner_deactivated_at = state.owner_deactivated_at(&stored);
        state.ids.insert(record.id.clone(), record.hash);
        state.keys.insert(record.hash, Arc::new(stored));
        Ok(())
    }

    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let existing = state.key_mut(&record.id)?;
        if existing.revoked_at.is_some() {
            return Err(StoreError::Revoked);
        }
        if existing.version != record.version {
            return Err(StoreError::VersionConflict);
        }
        existing.name.clone_from(&record.name);
        existing.description.clone_from(&record.description);
        existing.role.clone_from(&record.role);
        existing.scopes.clone_from(&record.scopes);
        existing.expires_at = record.expires_at;
        existing.allowed_ips.clone_from(&record.allowed_ips);
        existing
            .allowed_referrers
            .clone_from(&record.allowed_referrers);
        existing.rate_limit = record.rate_limit;
        existing.limits.clone_from(&record.limits);
        match (&mut existing.credits, &record.credits) {
            (Some(stored), Some(new))
                if stored.epoch == new.epoch && stored.account == new.account =>
            {
                stored.refill = new.refill;
            }
            (stored, new) => stored.clone_from(new),
        }
        existing.metadata.clone_from(&record.metadata);
        existing.disabled_at = record.disabled_at;
        existing.version = record.version + 1;
        Ok(())
    }

    async fn revoke(&self, id: &KeyId, at: DateTime<Utc>) -> Result<KeyRecord, StoreError> {
        let mut state = self.write()?;
        let existing = state.key_mut(id)?;
        if existing.revoked_at.is_none() {
            existing.revoked_at = Some(at);
        }
        existing.version += 1;
        Ok(existing.clone())
    }

    async fn rotate(
        &self,
        old: &KeyRecord,
        grace_until: DateTime<Utc>,
        new: &KeyRecord,
    ) -> Result<(), StoreError> {
        let mut state = self.write()?;
        {
            let existing = state.record(&old.id).ok_or(StoreError::NotFound)?;
            if existing.revoked_at.is_some() {
                return Err(StoreError::Revoked);
            }
            if existing.version != old.version || existing.rotation.is_some() {
                return Err(StoreError::VersionConflict);
            }
        }
        if state.ids.contains_key(&new.id) || state.keys.contains_key(&new.hash) {
            return Err(StoreError::Conflict(
                "a key with this id or hash exists".into(),
            ));
        }
        let existing = state.key_mut(&old.id)?;
        existing.rotation = Some(Rotation {
            replaced_by: new.id.clone(),
            grace_until,
        });
        existing.version += 1;
        let mut stored = new.clone();
        stored.owner_deactivated_at = state.owner_deactivated_at(&stored);
        state.ids.insert(new.id.clone(), new.hash);
        state.keys.insert(new.hash, Arc::new(stored));
        Ok(())
    }

    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let state = self.read()?;
        let items = state
            .keys
            .values()
            .map(|r| &**r)
            .filter(|r| filter.matches(r))
            .collect();
        page_of(items, page, |r| (r.created_at, r.id.to_string()))
    }

    async fn get_role(
        &self,
        tenant: &str,
        env: &str,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        let state = self.read()?;
        let at = |t: &str, e: &str| {
            state
                .roles
                .get(&(name.to_owned(), t.to_owned(), e.to_owned()))
        };
        Ok(at(tenant, env).or_else(|| at("", "")).cloned())
    }

    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        let mut state = self.write()?;
        state
            .roles
            .insert(role_key(role.namespace(), role.name()), role.clone());
        state.forget_resolved_role(role.name());
        Ok(())
    }

    async fn delete_role(
        &self,
        namespace: Option<&RoleNamespace>,
        name: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.write()?;
        let existed = state.roles.remove(&role_key(namespace, name)).is_some();
        if existed {
            state.forget_resolved_role(name);
        }
        Ok(existed)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        Ok(self.read()?.roles.values().cloned().collect())
    }

    async fn deactivate_owner(
        &self,
        tenant: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.write()?;
        state
            .owners
            .entry((tenant.to_owned(), owner.to_owned()))
            .or_insert(at);
        state.refresh_owner(tenant, owner);
        Ok(())
    }

    async fn reactivate_owner(&self, tenant: &str, owner: &str) -> Result<(), StoreError> {
        let mut state = self.write()?;
        state.owners.remove(&(tenant.to_owned(), owner.to_owned()));
        state.refresh_owner(tenant, owner);
        Ok(())
    }

    async fn owner_deactivated_at(
        &self,
        tenant: &str,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .read()?
            .owners
            .get(&(tenant.to_owned(), owner.to_owned()))
            .copied())
    }

    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut state = self.write()?;
        for (id, at) in usage {
            let State { keys, ids, .. } = &mut *state;
            if let Some(record) = ids.get(id).and_then(|hash| keys.get_mut(hash)) {
                if record.last_used_at.is_none_or(|prev| *at > prev) {
                    Arc::make_mut(record).last_used_at = Some(*at);
                }
            }
        }
        Ok(())
    }

    async fn settle_credits(
        &self,
        spends: &[crate::credits::CreditSpend],
    ) -> Result<Vec<Option<crate::credits::CreditBalance>>, StoreError> {
        let mut state = self.write()?;
        let mut balances = Vec::with_capacity(spends.len());
        for spend in spends {
            let of_account = |r: &KeyRecord| {
                r.credits
                    .as_ref()
                    .filter(|c| c.account == spend.account)
                    .map(|c| c.epoch)
            };
            let settled = state
                .keys
                .values()
                .find(|r| of_account(r) == Some(spend.epoch))
                .and_then(|r| r.credits.as_ref())
                .map(|c| {
                    spend.settle(crate::credits::CreditBalance {
                        remaining: c.remaining,
                        period: c.period,
                    })
                });
            if let Some(balance) = settled {
                for record in state.keys.values_mut() {
                    if of_account(record).is_some_and(|epoch| epoch <= spend.epoch) {
                        if let Some(credits) = &mut Arc::make_mut(record).credits {
                            credits.remaining = balance.remaining;
                            credits.period = balance.period;
                            credits.epoch = spend.epoch;
                            credits.refill = spend.refill;
                        }
                    }
                }
            }
            balances.push(settled);
        }
        Ok(balances)
    }

    async fn shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
    ) -> Result<crate::rate_limit::NamedLimits, StoreError> {
        let state = self.read()?;
        let at = (
            tenant.to_owned(),
            env.to_owned(),
            owner.unwrap_or("").to_owned(),
        );
        Ok(state.shared.get(&at).cloned().unwrap_or_default())
    }

    async fn put_shared_limits(
        &self,
        tenant: &str,
        env: &str,
        owner: Option<&str>,
        limits: &crate::rate_limit::NamedLimits,
    ) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let at = (
            tenant.to_owned(),
            env.to_owned(),
            owner.unwrap_or("").to_owned(),
        );
        if limits.is_empty() {
            state.shared.remove(&at);
        } else {
            state.shared.insert(at, limits.clone());
        }
        // The tenant's keys resolve their shared limits again.
        for record in state.keys.values_mut() {
            if record.tenant == tenant {
                Arc::make_mut(record).clear_resolved();
            }
        }
        Ok(())
    }

    async fn record_verifications(&self, counts: &[VerificationCount]) -> Result<(), StoreError> {
        let mut state = self.write()?;
        for count in counts {
            let minute = Granularity::Minute.start_of(count.at);
            let row = state
                .verifications
                .entry((minute, count.key_id.clone(), count.outcome))
                .or_insert_with(|| VerificationCount {
                    at: minute,
                    count: 0,
                    ..count.clone()
                });
            row.count = row.count.saturating_add(count.count);
        }
        Ok(())
    }

    async fn verification_counts(
        &self,
        filter: &VerificationFilter,
    ) -> Result<Vec<VerificationCount>, StoreError> {
        Ok(self
            .read()?
            .verifications
            .values()
            .filter(|c| filter.admits(c))
            .cloned()
            .collect())
    }

    async fn record_scope_use(&self, uses: &[ScopeUse]) -> Result<(), StoreError> {
        let mut state = self.write()?;
        for u in uses {
            let stored = state
                .scope_use
                .entry((u.key_id.clone(), u.scope.clone()))
                .or_insert_with(|| u.clone());
            stored.first_used = stored.first_used.min(u.first_used);
            stored.last_used = stored.last_used.max(u.last_used);
        }
        Ok(())
    }

    async fn scope_use(&self, key: &KeyId) -> Result<Vec<ScopeUse>, StoreError> {
        Ok(self
            .read()?
            .scope_use
            .values()
            .filter(|u| &u.key_id == key)
            .cloned()
            .collect())
    }

    async fn prune_verifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.write()?;
        let kept = state
            .verifications
            .split_off(&(before, None, VerificationOutcome::Valid));
        let pruned = std::mem::replace(&mut state.verifications, kept).len();
        Ok(u64::try_from(pruned).unwrap_or(u64::MAX))
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write()?.audit.push(event.clone());
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let state = self.read()?;
        let items = state.audit.iter().filter(|e| filter.matches(e)).collect();
        page_of(items, page, |e| (e.at, e.id.clone()))
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.write()?;
        let len = state.audit.len();
        state.audit.retain(|e| e.at >= before);
        Ok((len - state.audit.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        crate::testing::conformance::run_all(|| async { MemoryStore::new() }).await;
    }

    #[tokio::test]
    async fn outage_fails_every_call() {
        let store = MemoryStore::new();
        store.set_unavailable(true);
        let hash = crate::hash::KeyHasher::Sha256.hash("x");
        assert!(matches!(
            store.find_by_hash(&hash).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.list_roles().await,
            Err(StoreError::Unavailable(_))
        ));
        store.set_unavailable(false);
        assert!(matches!(store.find_by_hash(&hash).await, Ok(None)));
    }
}

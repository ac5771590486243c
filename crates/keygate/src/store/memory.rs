use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{decode_cursor, encode_cursor, KeyFilter, KeyStore, Page, PageRequest, StoreError};
use crate::audit::{AuditEvent, AuditFilter};
use crate::hash::KeyHash;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::role::Role;

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
    keys: HashMap<KeyId, KeyRecord>,
    by_hash: HashMap<KeyHash, KeyId>,
    roles: BTreeMap<String, Role>,
    audit: Vec<AuditEvent>,
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
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let state = self.read()?;
        Ok(state
            .by_hash
            .get(hash)
            .and_then(|id| state.keys.get(id))
            .cloned())
    }

    async fn get(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.read()?.keys.get(id).cloned())
    }

    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut state = self.write()?;
        if state.keys.contains_key(&record.id) {
            return Err(StoreError::Conflict(format!("key id {} exists", record.id)));
        }
        if state.by_hash.contains_key(&record.hash) {
            return Err(StoreError::Conflict("a key with this hash exists".into()));
        }
        state.by_hash.insert(record.hash, record.id.clone());
        state.keys.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn update(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let existing = state.keys.get_mut(&record.id).ok_or(StoreError::NotFound)?;
        let mut updated = record.clone();
        updated.hash = existing.hash;
        *existing = updated;
        Ok(())
    }

    async fn list(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>, StoreError> {
        let state = self.read()?;
        let items = state.keys.values().filter(|r| filter.matches(r)).collect();
        page_of(items, page, |r| (r.created_at, r.id.to_string()))
    }

    async fn get_role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        Ok(self.read()?.roles.get(name).cloned())
    }

    async fn put_role(&self, role: &Role) -> Result<(), StoreError> {
        self.write()?
            .roles
            .insert(role.name().to_owned(), role.clone());
        Ok(())
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        Ok(self.read()?.roles.values().cloned().collect())
    }

    async fn record_usage(&self, usage: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut state = self.write()?;
        for (id, at) in usage {
            if let Some(record) = state.keys.get_mut(id) {
                if record.last_used_at.is_none_or(|prev| *at > prev) {
                    record.last_used_at = Some(*at);
                }
            }
        }
        Ok(())
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
        let hash = crate::KeyHasher::Sha256.hash("x");
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

//! What to drop from a cache, and where those messages come from.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use keygate::hash::KeyHash;
use keygate::record::KeyKind;
use keygate::store::{BoxError, KeyFilter, PageRequest};
use keygate::{KeyId, KeyStore, StoreError};

/// One thing a cache must forget: a key (by hash or id), a role, or everything.
///
/// Stores and message buses carry it as a short text payload (its [`Display`](std::fmt::Display) form):
/// the key hash in hex (64 characters), `id:<key id>`, `role:<name>`, or `*`.
///
/// ```
/// use keygate::hash::KeyHasher;
/// use keygate_moka::Invalidation;
/// let hash = KeyHasher::Sha256.hash("sk_live_x");
/// let inv = Invalidation::Key(hash);
/// assert_eq!(inv.to_string(), hash.to_hex());
/// assert_eq!("role:viewer".parse::<Invalidation>()?, Invalidation::Role("viewer".into()));
/// assert_eq!("*".parse::<Invalidation>()?, Invalidation::All);
/// # Ok::<(), keygate_moka::InvalidPayload>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Invalidation {
    /// The key with this hash changed (updated, revoked, rotated, inserted).
    Key(KeyHash),
    /// The key with this id changed.
    Id(KeyId),
    /// A role with this name changed, in some namespace (global or a tenant's and
    /// environment's): every cached role and every cached key holding that name go.
    Role(String),
    /// Anything may have changed (for instance, messages were missed): drop everything.
    All,
}

impl Invalidation {
    /// What a cache must drop after `owner` of `tenant` was deactivated or reactivated:
    /// each of the owner's personal keys, by hash (read from `store`, revoked keys
    /// included). By hash rather than by a scan of the cache, so a lookup of one of
    /// those keys already in flight is not trusted either.
    ///
    /// ```
    /// use keygate::{KeyRecord, KeyStore, MemoryStore};
    /// use keygate::hash::KeyHasher;
    /// use keygate::record::KeyKind;
    /// use keygate_moka::Invalidation;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let (_, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "ci", "acme")?;
    /// record.kind = KeyKind::Personal;
    /// record.owner = Some("alice".into());
    /// store.insert(&record).await?;
    /// let drop = Invalidation::owner_keys(&store, "acme", "alice").await?;
    /// assert_eq!(drop, vec![Invalidation::Key(record.hash)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn owner_keys<S: KeyStore + ?Sized>(
        store: &S,
        tenant: &str,
        owner: &str,
    ) -> Result<Vec<Self>, StoreError> {
        let filter = KeyFilter::tenant(tenant).owner(owner).include_revoked(true);
        let mut page = PageRequest::first(1000);
        let mut out = Vec::new();
        loop {
            let batch = store.list(&filter, &page).await?;
            out.extend(
                batch
                    .items
                    .iter()
                    .filter(|r| r.kind == KeyKind::Personal)
                    .map(|r| Self::Key(r.hash)),
            );
            match batch.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(out),
            }
        }
    }
}

/// A payload that is not an [`Invalidation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an invalidation payload: {0:?}")]
pub struct InvalidPayload(String);

impl fmt::Display for Invalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(hash) => f.write_str(&hash.to_hex()),
            Self::Id(id) => write!(f, "id:{id}"),
            Self::Role(name) => write!(f, "role:{name}"),
            Self::All => f.write_str("*"),
        }
    }
}

impl FromStr for Invalidation {
    type Err = InvalidPayload;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPayload(s.chars().take(80).collect());
        if s == "*" {
            Ok(Self::All)
        } else if let Some(name) = s.strip_prefix("role:") {
            keygate::role::validate_role_name(name).map_err(|_| bad())?;
            Ok(Self::Role(name.to_owned()))
        } else if let Some(id) = s.strip_prefix("id:") {
            KeyId::parse(id).map(Self::Id).ok_or_else(bad)
        } else {
            KeyHash::from_hex(s).map(Self::Key).ok_or_else(bad)
        }
    }
}

/// A feed of invalidations from other processes: Postgres `LISTEN`, a polled change
/// table, a Redis channel. [`CachedStore::follow`](crate::CachedStore::follow) drives
/// one and applies what it yields.
///
/// `next_batch` waits for the next invalidations. `Some(Err(_))` reports a failure
/// (the caller logs it, waits, and calls again: the source reconnects then); a source
/// that may have missed messages, for instance after reconnecting, yields
/// [`Invalidation::All`]. `None` means the feed has ended for good.
///
/// ```
/// use keygate_moka::{Invalidation, InvalidationSource};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (tx, mut rx) = tokio::sync::mpsc::channel(16);
/// tx.send(Invalidation::All).await?;
/// drop(tx);
/// assert_eq!(rx.next_batch().await.transpose()?, Some(vec![Invalidation::All]));
/// assert!(rx.next_batch().await.is_none());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(()) }).unwrap();
/// ```
#[async_trait]
pub trait InvalidationSource: Send + 'static {
    /// The next invalidations; `None` when the feed has ended.
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>>;
}

#[async_trait]
impl<T: InvalidationSource + ?Sized> InvalidationSource for Box<T> {
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>> {
        (**self).next_batch().await
    }
}

/// An in-process channel is a source: whatever is sent is applied.
#[async_trait]
impl InvalidationSource for tokio::sync::mpsc::Receiver<Invalidation> {
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>> {
        let first = self.recv().await?;
        let mut batch = vec![first];
        while let Ok(more) = self.try_recv() {
            batch.push(more);
        }
        Some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate::hash::KeyHasher;

    #[test]
    fn payloads_round_trip() {
        let cases = [
            Invalidation::Key(KeyHasher::Sha256.hash("k")),
            Invalidation::Id(KeyId::generate()),
            Invalidation::Role("radiologist".into()),
            Invalidation::All,
        ];
        for inv in cases {
            assert_eq!(inv.to_string().parse::<Invalidation>(), Ok(inv));
        }
        for bad in ["", "role:Bad Name", "id:nope", "abc", "**"] {
            assert!(bad.parse::<Invalidation>().is_err(), "{bad}");
        }
    }
}

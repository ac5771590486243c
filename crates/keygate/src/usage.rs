//! Last-used tracking off the hot path: verifications note a time in memory; a batch
//! is written to the store by [`UsageRecorder::flush`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::id::KeyId;
use crate::store::{KeyStore, StoreError};

/// Collects last-used times in memory and writes them in one batch.
///
/// The verifier calls [`UsageRecorder::note`] on every success (a hash-map insert under
/// a short lock, no I/O). Call [`UsageRecorder::flush`] every few seconds and once on
/// shutdown; keygate's adapters and the CLI's `serve` do.
///
/// ```
/// use keygate::{KeyId, KeyStore, MemoryStore, UsageRecorder};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let recorder = UsageRecorder::default();
/// recorder.note(&KeyId::generate(), chrono::Utc::now());
/// assert_eq!(recorder.pending(), 1);
/// recorder.flush(&MemoryStore::new()).await?;
/// assert_eq!(recorder.pending(), 0);
/// # Ok::<(), keygate::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<HashMap<KeyId, DateTime<Utc>>>,
}

impl UsageRecorder {
    /// Notes that `key` was used at `at` (keeps the latest time per key).
    pub fn note(&self, key: &KeyId, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(key) {
            Some(t) if *t >= at => {}
            Some(t) => *t = at,
            None => {
                pending.insert(key.clone(), at);
            }
        }
    }

    /// How many keys have unwritten times.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Writes every noted time to `store` in one batch. On failure the times are kept
    /// for the next flush (newer notes win).
    pub async fn flush(&self, store: &dyn KeyStore) -> Result<usize, StoreError> {
        let batch: Vec<(KeyId, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match store.record_usage(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (key, at) in &batch {
                    self.note(key, *at);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyHasher, KeyRecord, MemoryStore};

    #[tokio::test]
    async fn keeps_latest_and_survives_a_failed_flush() {
        let store = MemoryStore::new();
        let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "h", "sk", "live", "n", "t");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let recorder = UsageRecorder::default();
        let t1 = DateTime::from_timestamp(100, 0).unwrap_or_default();
        let t2 = DateTime::from_timestamp(200, 0).unwrap_or_default();
        recorder.note(&record.id, t2);
        recorder.note(&record.id, t1);
        store.set_unavailable(true);
        assert!(recorder.flush(&store).await.is_err());
        assert_eq!(recorder.pending(), 1);
        store.set_unavailable(false);
        assert_eq!(recorder.flush(&store).await.ok(), Some(1));
        let got = store
            .get(&record.id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.last_used_at);
        assert_eq!(got, Some(t2));
    }
}

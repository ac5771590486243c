//! Last-used tracking off the hot path: verifications note a time in memory; a batch
//! is written to the store by [`UsageRecorder::flush`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::store::{KeyStore, StoreError};

/// Collects last-used times in memory and writes them in one batch.
///
/// The verifier notes every success: at most once per key and second it takes a
/// short lock for a hash-map update (no I/O); other verifications of the same shared
/// record cost one atomic read. The verifier's own task calls
/// [`UsageRecorder::flush`] every few seconds, and [`Verifier::shutdown`] once at the
/// end.
///
/// [`Verifier::shutdown`]: crate::Verifier::shutdown
///
/// ```
/// use keygate::{KeyId, KeyStore, MemoryStore};
/// use keygate::usage::UsageRecorder;
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
    /// Every key seen, with its latest time and whether that time is unwritten. Entries
    /// stay after a flush, so noting a known key never allocates.
    pending: Mutex<HashMap<KeyId, Noted, foldhash::fast::RandomState>>,
}

#[derive(Debug, Clone, Copy)]
struct Noted {
    at: DateTime<Utc>,
    unwritten: bool,
}

/// Past this many known keys, a flush forgets the written ones.
const KEEP_KNOWN: usize = 100_000;

impl UsageRecorder {
    /// Notes that `key` was used at `at` (keeps the latest time per key). Allocates only
    /// the first time a key is seen.
    pub fn note(&self, key: &KeyId, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(key) {
            Some(noted) if noted.at >= at => {}
            Some(noted) => {
                noted.at = at;
                noted.unwritten = true;
            }
            None => {
                pending.insert(
                    key.clone(),
                    Noted {
                        at,
                        unwritten: true,
                    },
                );
            }
        }
    }

    /// Notes a verification of the shared `record` at `at`: free when the record's
    /// use in this second was already noted (the hot path), else [`note`]. Last-used
    /// times are kept to the second.
    ///
    /// [`note`]: UsageRecorder::note
    pub(crate) fn note_record(&self, record: &KeyRecord, at_micros: i64) {
        if record.resolved.note_use(at_micros.div_euclid(1_000_000)) {
            if let Some(at) = DateTime::from_timestamp_micros(at_micros) {
                self.note(&record.id, at);
            }
        }
    }

    /// How many keys have unwritten times.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|n| n.unwritten)
            .count()
    }

    /// Writes every noted time to `store` in one batch. On failure the times are kept
    /// for the next flush (newer notes win).
    pub async fn flush(&self, store: &dyn KeyStore) -> Result<usize, StoreError> {
        let batch: Vec<(KeyId, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.len() > KEEP_KNOWN {
                pending.retain(|_, n| n.unwritten);
            }
            pending
                .iter_mut()
                .filter(|(_, n)| n.unwritten)
                .map(|(id, n)| {
                    n.unwritten = false;
                    (id.clone(), n.at)
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match store.record_usage(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for (key, at) in batch {
                    let noted = pending.entry(key).or_insert(Noted {
                        at,
                        unwritten: true,
                    });
                    noted.unwritten = true;
                    noted.at = noted.at.max(at);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::KeyHasher;
    use crate::{KeyRecord, MemoryStore};

    #[tokio::test]
    async fn keeps_latest_and_survives_a_failed_flush() {
        let store = MemoryStore::new();
        let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "h", "sk", "live", "n", "t");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let recorder = UsageRecorder::default();
        let t1 = DateTime::from_timestamp(100, 0).expect("a valid timestamp");
        let t2 = DateTime::from_timestamp(200, 0).expect("a valid timestamp");
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

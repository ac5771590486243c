//! Last-used tracking and verification counts off the hot path: verifications note a
//! time and count in memory; a batch is written to the store by [`UsageRecorder::flush`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::analytics::{Granularity, ScopeUse, VerificationCount, VerificationOutcome};
use crate::error::AuthError;
use crate::id::KeyId;
use crate::record::KeyRecord;
use crate::store::{KeyStore, StoreError};

/// Collects last-used times, verification counts and scope use in memory and writes
/// them in batches.
///
/// The verifier notes every success and rate-limit refusal with an atomic add on the
/// key's shared record; at most once per key and second it takes a short lock to note
/// the last use and hold the record, whose counts each flush takes (no I/O on the
/// request path). Other refusals of a well-formed key are counted under a lock. The
/// verifier's own task calls
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
    pending: Mutex<Pending>,
    /// Verification counts not yet written, by minute, key and outcome.
    counts: Mutex<HashMap<CountKey, Counted, foldhash::fast::RandomState>>,
    /// Scopes keys exercised since the last flush.
    scopes_used: Mutex<BTreeSet<(KeyId, String)>>,
    /// Bumped by every flush of scope use: a key notes a requirement once per value.
    scope_generation: AtomicU64,
    /// What shadow limits and shadow scope requirements would have refused since the
    /// last flush, by key, audit action and reason.
    shadow: Mutex<HashMap<ShadowKey, ShadowTally>>,
}

/// A key, the audit action (`key.shadow_limit`, `key.shadow_scope`) and the reason
/// (`would exceed burst`, `would lack write:beta`).
pub(crate) type ShadowKey = (KeyId, &'static str, String);

/// Requests one shadow limit of one key would have refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShadowTally {
    pub(crate) tenant: String,
    pub(crate) count: u64,
    pub(crate) first: DateTime<Utc>,
    pub(crate) last: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Noted {
    at: DateTime<Utc>,
    unwritten: bool,
    /// The shared record whose successes and rate-limit refusals are counted in it
    /// (taken at each flush).
    record: Option<Arc<KeyRecord>>,
    /// The latest time a count was noted in that record: the minute its counts go to.
    counted_at: DateTime<Utc>,
}

impl Noted {
    /// A key with no use to write yet, whose counts go to the minute of `at`.
    fn unused(at: DateTime<Utc>) -> Self {
        Self {
            at: DateTime::<Utc>::MIN_UTC,
            unwritten: false,
            record: None,
            counted_at: at,
        }
    }

    /// A use at `at`: the latest one is kept, to be written.
    fn used_at(&mut self, at: DateTime<Utc>) {
        if self.at < at {
            self.at = at;
            self.unwritten = true;
        }
    }
}

type CountKey = (DateTime<Utc>, Option<KeyId>, VerificationOutcome);

type Pending = HashMap<KeyId, Noted, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
struct Counted {
    tenant: Option<String>,
    env: Option<String>,
    count: u64,
}

/// Past this many known keys, a flush forgets the written ones.
const KEEP_KNOWN: usize = 100_000;

/// The entry of `key`, made (unused, counted at `at`) the first time: the only time the
/// key is cloned.
fn entry<'a>(pending: &'a mut Pending, key: &KeyId, at: DateTime<Utc>) -> &'a mut Noted {
    if !pending.contains_key(key) {
        pending.insert(key.clone(), Noted::unused(at));
    }
    pending.get_mut(key).expect("inserted above")
}

impl UsageRecorder {
    /// Notes that `key` was used at `at` (keeps the latest time per key). Allocates only
    /// the first time a key is seen.
    pub fn note(&self, key: &KeyId, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        entry(&mut pending, key, at).used_at(at);
    }

    /// Notes a successful verification of the shared `record` at `at`: one atomic add
    /// (its count) when the record's use in this second was already noted (the hot
    /// path), else also its last use, under one short lock. Last-used times are kept
    /// to the second.
    pub(crate) fn note_record(&self, record: &Arc<KeyRecord>, at_micros: i64) {
        record.resolved.count_use();
        if record.resolved.note_use(at_micros.div_euclid(1_000_000)) {
            if let Some(at) = DateTime::from_timestamp_micros(at_micros) {
                self.hold(record, at, true);
            }
        }
    }

    /// Notes a refusal of the shared `record` by its rate limit at `at_micros`: one
    /// atomic add on the record (a flood of refused requests takes no lock), and once
    /// per second the recorder holds the record so the next flush takes the count.
    pub(crate) fn note_limited(&self, record: &Arc<KeyRecord>, at_micros: i64) {
        if record
            .resolved
            .count_limited(at_micros.div_euclid(1_000_000))
        {
            if let Some(at) = DateTime::from_timestamp_micros(at_micros) {
                self.hold(record, at, false);
            }
        }
    }

    /// Makes the key's entry hold `record`, whose counts each flush takes, as counted
    /// at `at` (and `used` then: its last use); the counts of a record it held before
    /// (replaced by a cache reload) are taken first.
    fn hold(&self, record: &Arc<KeyRecord>, at: DateTime<Utc>, used: bool) {
        let replaced = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let noted = entry(&mut pending, &record.id, at);
            if used {
                noted.used_at(at);
            }
            let before = noted.counted_at;
            noted.counted_at = noted.counted_at.max(at);
            match &noted.record {
                Some(held) if Arc::ptr_eq(held, record) => None,
                _ => noted
                    .record
                    .replace(Arc::clone(record))
                    .map(|old| (old, before)),
            }
        };
        if let Some((old, at)) = replaced {
            self.take_counts(&old, at);
        }
    }

    /// Adds the successes and rate-limit refusals counted in `record` to the minute
    /// of `at`.
    fn take_counts(&self, record: &KeyRecord, at: DateTime<Utc>) {
        let (uses, limited) = record.resolved.take_counts();
        let minute = Granularity::Minute.start_of(at);
        for (outcome, n) in [
            (VerificationOutcome::Valid, uses),
            (VerificationOutcome::RateLimited, limited),
        ] {
            if n > 0 {
                self.add((minute, Some(record.id.clone()), outcome), Some(record), n);
            }
        }
    }

    /// Counts a refusal of a well-formed key at `at` (`record`: the stored key, `None`
    /// for an unknown one). Refusals not about a key (malformed, missing, store down)
    /// are not counted.
    pub(crate) fn count_refusal(
        &self,
        record: Option<&KeyRecord>,
        error: &AuthError,
        at: DateTime<Utc>,
    ) {
        if let Some(outcome) = VerificationOutcome::of(error) {
            let key = (
                Granularity::Minute.start_of(at),
                record.map(|r| r.id.clone()),
                outcome,
            );
            self.add(key, record, 1);
        }
    }

    /// Notes a request let through that shadow limits of `record` would have refused:
    /// counted as `shadow_limited` (beside its `valid`), and tallied per limit for the
    /// flush's audit events and log lines. Runs only when a shadow limit refuses.
    #[cold]
    pub(crate) fn note_shadow(
        &self,
        record: &KeyRecord,
        report: &crate::rate_limit::RateLimitReport,
        at_micros: i64,
    ) {
        let at = DateTime::from_timestamp_micros(at_micros).unwrap_or_default();
        let key = (
            Granularity::Minute.start_of(at),
            Some(record.id.clone()),
            VerificationOutcome::ShadowLimited,
        );
        self.add(key, Some(record), 1);
        for policy in report.shadow_refusals() {
            let name = if policy.daily_exceeded && !policy.rate_exceeded {
                format!("{}:daily", policy.name)
            } else {
                policy.name.to_string()
            };
            self.tally(
                (
                    record.id.clone(),
                    "key.shadow_limit",
                    format!("would exceed {name}"),
                ),
                &record.tenant,
                at,
            );
        }
    }

    /// Notes a request let through that a scope requirement in shadow mode would have
    /// refused (403): counted as `shadow_forbidden` and tallied for the flush's audit
    /// event (`key.shadow_scope`) and log line.
    #[cold]
    pub(crate) fn note_shadow_scope(
        &self,
        key: &KeyId,
        tenant: &str,
        env: &str,
        requirement: &crate::Requirement,
        at: DateTime<Utc>,
    ) {
        let count_key = (
            Granularity::Minute.start_of(at),
            Some(key.clone()),
            VerificationOutcome::ShadowForbidden,
        );
        self.add_for(count_key, Some((tenant, env)), 1);
        self.tally(
            (
                key.clone(),
                "key.shadow_scope",
                format!("would lack {requirement}"),
            ),
            tenant,
            at,
        );
    }

    fn tally(&self, key: ShadowKey, tenant: &str, at: DateTime<Utc>) {
        let mut shadow = self.shadow.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = shadow.entry(key).or_insert_with(|| ShadowTally {
            tenant: tenant.to_owned(),
            count: 0,
            first: at,
            last: at,
        });
        tally.count = tally.count.saturating_add(1);
        tally.last = tally.last.max(at);
    }

    /// Takes what shadow limits would have refused since the last call.
    pub(crate) fn take_shadow(&self) -> HashMap<ShadowKey, ShadowTally> {
        std::mem::take(&mut *self.shadow.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts back tallies a failed flush could not write.
    pub(crate) fn restore_shadow(&self, tallies: HashMap<ShadowKey, ShadowTally>) {
        let mut shadow = self.shadow.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, tally) in tallies {
            match shadow.get_mut(&key) {
                Some(t) => {
                    t.count = t.count.saturating_add(tally.count);
                    t.first = t.first.min(tally.first);
                }
                None => {
                    shadow.insert(key, tally);
                }
            }
        }
    }

    fn add(&self, key: CountKey, record: Option<&KeyRecord>, n: u64) {
        self.add_for(key, record.map(|r| (r.tenant.as_str(), r.env.as_str())), n);
    }

    /// Adds `n` to a count, of a key in `(tenant, env)` (`None`: an unknown key).
    fn add_for(&self, key: CountKey, owner: Option<(&str, &str)>, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let counted = counts.entry(key).or_insert_with(|| Counted {
            tenant: owner.map(|(tenant, _)| tenant.to_owned()),
            env: owner.map(|(_, env)| env.to_owned()),
            count: 0,
        });
        counted.count = counted.count.saturating_add(n);
    }

    /// The current scope-use generation (see [`ScopeUseNote`](crate::principal)).
    pub(crate) fn scope_generation(&self) -> u64 {
        self.scope_generation.load(Ordering::Relaxed)
    }

    /// Notes that `key` exercised `scopes`.
    pub(crate) fn note_scopes<'a>(&self, key: &KeyId, scopes: impl IntoIterator<Item = &'a str>) {
        let mut used = self
            .scopes_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for scope in scopes {
            used.insert((key.clone(), scope.to_owned()));
        }
    }

    /// Writes the scopes exercised since the last flush as used at `now`; kept on
    /// failure. Bumps the generation, so each key notes each requirement again.
    pub(crate) async fn flush_scope_use(
        &self,
        store: &dyn KeyStore,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.scope_generation.fetch_add(1, Ordering::Relaxed);
        let taken = std::mem::take(
            &mut *self
                .scopes_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if taken.is_empty() {
            return Ok(());
        }
        let batch: Vec<ScopeUse> = taken
            .iter()
            .map(|(key_id, scope)| ScopeUse {
                key_id: key_id.clone(),
                scope: scope.clone(),
                first_used: now,
                last_used: now,
            })
            .collect();
        if let Err(e) = store.record_scope_use(&batch).await {
            self.scopes_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(taken);
            return Err(e);
        }
        Ok(())
    }

    /// Verification counts not yet written (successes still in their records
    /// included).
    pub fn pending_verifications(&self) -> u64 {
        let in_records: u64 = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(|n| n.record.as_ref())
            .map(|r| r.resolved.counted())
            .sum();
        let counted: u64 = self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.count)
            .sum();
        in_records + counted
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

    /// Writes every noted time to `store` in one batch, then every verification count
    /// in another. On failure both are kept for the next flush (newer notes win, counts
    /// add up).
    pub async fn flush(&self, store: &dyn KeyStore) -> Result<usize, StoreError> {
        self.take_held_counts();
        let written = self.flush_times(store).await;
        let counted = self.flush_counts(store).await;
        let written = written?;
        counted?;
        Ok(written)
    }

    /// Moves the counts held in the records into the counts map.
    fn take_held_counts(&self) {
        let held: Vec<(Arc<KeyRecord>, DateTime<Utc>)> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(|n| n.record.as_ref().map(|r| (Arc::clone(r), n.counted_at)))
            .collect();
        for (record, at) in &held {
            self.take_counts(record, *at);
        }
    }

    /// Writes the verification counts.
    async fn flush_counts(&self, store: &dyn KeyStore) -> Result<(), StoreError> {
        let taken: Vec<(CountKey, Counted)> = self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        if taken.is_empty() {
            return Ok(());
        }
        let batch: Vec<VerificationCount> = taken
            .iter()
            .map(|((at, key_id, outcome), c)| VerificationCount {
                key_id: key_id.clone(),
                tenant: c.tenant.clone(),
                env: c.env.clone(),
                at: *at,
                outcome: *outcome,
                count: c.count,
            })
            .collect();
        if let Err(e) = store.record_verifications(&batch).await {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, c) in taken {
                let n = c.count;
                let kept = counts.entry(key).or_insert(Counted { count: 0, ..c });
                kept.count = kept.count.saturating_add(n);
            }
            return Err(e);
        }
        Ok(())
    }

    async fn flush_times(&self, store: &dyn KeyStore) -> Result<usize, StoreError> {
        let batch: Vec<(KeyId, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.len() > KEEP_KNOWN {
                // A key whose record holds uncounted successes stays (counted next time).
                pending.retain(|_, n| {
                    n.unwritten || n.record.as_ref().is_some_and(|r| r.resolved.counted() > 0)
                });
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
                    // Still to write: a newer note meanwhile keeps its later time.
                    let noted = pending.entry(key).or_insert_with(|| Noted::unused(at));
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

    /// The stored counts of the minutes around `at`.
    async fn counts_around(
        store: &MemoryStore,
        at: DateTime<Utc>,
    ) -> Vec<crate::analytics::VerificationCount> {
        store
            .verification_counts(&crate::analytics::VerificationFilter::between(
                at - chrono::Duration::minutes(1),
                at + chrono::Duration::minutes(1),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A live key of tenant acme, shared as the verifier shares records.
    fn test_record() -> Arc<KeyRecord> {
        Arc::new(KeyRecord::new(
            KeyHasher::Sha256.hash("k"),
            "h",
            "sk",
            "live",
            "n",
            "acme",
        ))
    }

    #[tokio::test]
    async fn counts_successes_and_refusals_and_keeps_them_through_a_failed_flush() {
        use crate::analytics::VerificationOutcome;
        let store = MemoryStore::new();
        let recorder = UsageRecorder::default();
        let record = test_record();
        let micros = 1_800_000_000_000_000;
        // Three uses in one second, two in the next: five successes.
        for at in [
            micros,
            micros + 10,
            micros + 20,
            micros + 1_000_000,
            micros + 1_000_001,
        ] {
            recorder.note_record(&record, at);
        }
        let at = DateTime::from_timestamp_micros(micros).expect("a time");
        recorder.count_refusal(Some(&record), &AuthError::ExpiredKey, at);
        recorder.count_refusal(
            None,
            &AuthError::InvalidKey(crate::error::InvalidKeyReason::Unknown),
            at,
        );
        recorder.count_refusal(None, &AuthError::MissingKey, at);
        assert_eq!(recorder.pending_verifications(), 7);

        // A cache reload hands out a new record of the same key: its uses count too,
        // and the old record's are not lost.
        let reloaded = Arc::new((*record).clone());
        recorder.note_record(&reloaded, micros + 2_000_000);
        assert_eq!(recorder.pending_verifications(), 8);

        store.set_unavailable(true);
        assert!(recorder.flush(&store).await.is_err());
        assert_eq!(
            recorder.pending_verifications(),
            8,
            "kept for the next flush"
        );
        store.set_unavailable(false);
        assert!(recorder.flush(&store).await.is_ok());
        assert_eq!(recorder.pending_verifications(), 0);
        let rows = counts_around(&store, at).await;
        let of = |outcome| -> u64 {
            rows.iter()
                .filter(|c| c.outcome == outcome)
                .map(|c| c.count)
                .sum()
        };
        assert_eq!(of(VerificationOutcome::Valid), 6, "{rows:?}");
        assert_eq!(of(VerificationOutcome::Expired), 1);
        assert_eq!(of(VerificationOutcome::Unknown), 1);
        assert!(rows
            .iter()
            .filter(|c| c.outcome == VerificationOutcome::Valid)
            .all(|c| c.key_id.as_ref() == Some(&record.id) && c.tenant.as_deref() == Some("acme")));
        // Nothing is written twice.
        assert!(recorder.flush(&store).await.is_ok());
        let again = counts_around(&store, at).await;
        assert_eq!(again, rows);
    }

    #[tokio::test]
    async fn rate_limited_refusals_are_counted_on_the_record_and_are_no_last_use() {
        use crate::analytics::VerificationOutcome;
        let store = MemoryStore::new();
        let record = test_record();
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let recorder = UsageRecorder::default();
        let micros = 1_800_000_000_000_000;
        for at in [micros, micros + 1, micros + 2, micros + 1_000_000] {
            recorder.note_limited(&record, at);
        }
        assert_eq!(recorder.pending_verifications(), 4);
        assert_eq!(recorder.pending(), 0, "a refusal is no last use");
        assert!(recorder.flush(&store).await.is_ok());
        let at = DateTime::from_timestamp_micros(micros).expect("a time");
        let rows = counts_around(&store, at).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].outcome, rows[0].count, rows[0].tenant.as_deref()),
            (VerificationOutcome::RateLimited, 4, Some("acme"))
        );
        let stored = store.get(&record.id).await.ok().flatten().expect("stored");
        assert_eq!(stored.last_used_at, None);
        // A success later still becomes the last use.
        recorder.note_record(&record, micros + 5_000_000);
        assert!(recorder.flush(&store).await.is_ok());
        let stored = store.get(&record.id).await.ok().flatten().expect("stored");
        assert_eq!(
            stored.last_used_at,
            DateTime::from_timestamp_micros(micros + 5_000_000)
        );
    }

    #[tokio::test]
    async fn scope_checks_note_the_scopes_they_exercise_once_per_flush() {
        use crate::{Principal, Requirement, ScopeSet};
        let store = MemoryStore::new();
        let recorder = Arc::new(UsageRecorder::default());
        let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "h", "sk", "live", "n", "t");
        let granted = ScopeSet::parse(["read:scans", "write:scans", "admin"]).expect("scopes");
        let principal = Principal::from_record(&record, granted);
        principal.note_scope_use_in(&recorder);
        let read = Requirement::parse("read:scans").expect("a requirement");
        let either = Requirement::parse("any(delete:scans, write:scans)").expect("a requirement");
        for _ in 0..3 {
            assert!(principal.require(&read).is_ok());
            assert!(principal.require(&either).is_ok());
        }
        let through_admin = Requirement::parse("delete:users").expect("a requirement");
        assert!(principal.require(&through_admin).is_ok(), "admin grants it");
        let at = |s| DateTime::from_timestamp(s, 0).expect("a time");
        recorder
            .flush_scope_use(&store, at(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let used = store
            .scope_use(&record.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = used.iter().map(|u| u.scope.as_str()).collect();
        // any(…) counts the first alternative met (`admin` grants delete:scans), one
        // suffices; the refused-looking delete:users is met through `admin` too.
        assert_eq!(names, vec!["delete:scans", "delete:users", "read:scans"]);
        // The next flush's generation notes them again, with a later last use.
        assert!(principal.require(&read).is_ok());
        recorder
            .flush_scope_use(&store, at(200))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = store
            .scope_use(&record.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read_use = again
            .iter()
            .find(|u| u.scope == "read:scans")
            .expect("read:scans");
        assert_eq!(
            (read_use.first_used, read_use.last_used),
            (at(100), at(200))
        );
        let delete_use = again
            .iter()
            .find(|u| u.scope == "delete:scans")
            .expect("delete:scans");
        assert_eq!(delete_use.last_used, at(100), "not exercised since");
    }

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

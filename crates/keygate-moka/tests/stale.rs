//! A down store: fail closed, or (opt-in) serve known keys stale for a bounded time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use common::CountingStore;
use keygate::clock::ManualClock;
use keygate::hash::KeyHasher;
use keygate::{AuthError, KeyGate, KeyRecord, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;

fn key() -> (String, KeyRecord) {
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    (secret.expose().to_owned(), record)
}

struct Setup {
    store: Arc<CountingStore>,
    cache: CachedStore<Arc<CountingStore>>,
    clock: ManualClock,
    gate: KeyGate,
    plain: String,
    record: KeyRecord,
}

async fn setup(stale_if_error: Option<Duration>) -> Setup {
    let store = CountingStore::new();
    let (plain, record) = key();
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::at_unix(1_800_000_000);
    let mut builder = CachedStore::builder(Arc::clone(&store))
        .ttl(Duration::from_secs(30))
        .clock(clock.clone());
    if let Some(window) = stale_if_error {
        builder = builder.stale_if_error(window);
    }
    let cache = builder.build();
    let gate = KeyGate::builder(cache.clone()).clock(clock.clone()).build();
    Setup {
        store,
        cache,
        clock,
        gate,
        plain,
        record,
    }
}

#[tokio::test]
async fn without_stale_if_error_a_down_store_fails_closed_once_the_entry_is_stale() {
    let s = setup(None).await;
    assert!(s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok());
    s.store.memory.set_unavailable(true);
    assert!(
        s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok(),
        "fresh entry"
    );
    s.clock.advance(Span::seconds(30));
    let refused = s.gate.verify(VerifyRequest::key(&s.plain)).await;
    assert_eq!(refused.err(), Some(AuthError::StoreUnavailable));
    assert_eq!(AuthError::StoreUnavailable.status(), 503);
}

#[tokio::test]
async fn unknown_keys_are_never_served_while_the_store_is_down() {
    let s = setup(Some(Duration::from_secs(600))).await;
    s.store.memory.set_unavailable(true);
    let (other, _) = key();
    let refused = s.gate.verify(VerifyRequest::key(&other)).await;
    assert_eq!(refused.err(), Some(AuthError::StoreUnavailable));
}

#[tokio::test]
async fn stale_if_error_serves_a_known_key_for_a_bounded_time() {
    let s = setup(Some(Duration::from_secs(60))).await;
    assert!(s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok());
    s.store.memory.set_unavailable(true);

    s.clock.advance(Span::seconds(31));
    assert!(
        s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok(),
        "stale, store down"
    );
    s.clock.advance(Span::seconds(50));
    assert!(
        s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok(),
        "still within 30 + 60 s"
    );
    assert_eq!(s.cache.stats().keys.stale_serves, 2);

    s.clock.advance(Span::seconds(10));
    let refused = s.gate.verify(VerifyRequest::key(&s.plain)).await;
    assert_eq!(
        refused.err(),
        Some(AuthError::StoreUnavailable),
        "past the window"
    );

    // Back up: served fresh again.
    s.store.memory.set_unavailable(false);
    assert!(s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok());
}

#[tokio::test]
async fn an_invalidated_key_is_never_served_stale() {
    let s = setup(Some(Duration::from_secs(600))).await;
    assert!(s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok());
    s.clock.advance(Span::seconds(31));
    s.store.memory.set_unavailable(true);
    // The stale entry moves aside for stale-if-error ...
    assert!(s.gate.verify(VerifyRequest::key(&s.plain)).await.is_ok());
    // ... and an invalidation (say, a revoke announced by another instance) drops it.
    s.cache.invalidate(&s.record.hash).await;
    let refused = s.gate.verify(VerifyRequest::key(&s.plain)).await;
    assert_eq!(refused.err(), Some(AuthError::StoreUnavailable));
}

#[tokio::test]
async fn only_unavailability_is_papered_over() {
    let s = setup(Some(Duration::from_secs(600))).await;
    assert!(s.cache.find_by_hash(&s.record.hash).await.is_ok());
    s.clock.advance(Span::seconds(31));
    s.store.memory.set_unavailable(true);
    let got = s.cache.find_by_hash(&s.record.hash).await;
    assert!(matches!(got, Ok(Some(_))));
    s.store.memory.set_unavailable(false);
    assert!(matches!(s.cache.get(&s.record.id).await, Ok(Some(_))));
}

//! Concurrent misses for one key make exactly one store call.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::CountingStore;
use futures_util::future::join_all;
use keygate::hash::KeyHasher;
use keygate::{KeyGate, KeyRecord, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_verifications_make_one_store_call() {
    // The store takes 50 ms to answer, so every verification arrives while the first
    // load is in flight.
    let store = CountingStore::slow(Duration::from_millis(50));
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "hot", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::new(Arc::clone(&store));
    let gate = KeyGate::builder(cache.clone()).prefix("sk").build();
    let key = secret.expose().to_owned();

    let tasks = (0..1000).map(|_| {
        let gate = gate.clone();
        let key = key.clone();
        tokio::spawn(async move { gate.verify(VerifyRequest::key(&key)).await.is_ok() })
    });
    let results = join_all(tasks).await;

    assert!(
        results.iter().all(|r| matches!(r, Ok(true))),
        "every verification succeeds"
    );
    assert_eq!(store.finds(), 1, "exactly one store call");
    let stats = cache.stats();
    assert_eq!(stats.keys.loads, 1);
    assert_eq!(stats.keys.hits + stats.keys.misses, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_during_an_outage_share_one_failed_call() {
    let store = CountingStore::slow(Duration::from_millis(50));
    store.memory.set_unavailable(true);
    let cache = CachedStore::new(Arc::clone(&store));
    let hash = KeyHasher::Sha256.hash("sk_live_unknown");
    let tasks = (0..100).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { cache.find_by_hash(&hash).await.is_err() })
    });
    let results = join_all(tasks).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(true))),
        "every lookup fails"
    );
    assert_eq!(
        store.finds(),
        1,
        "the failure is shared, not retried 100 times"
    );

    // Errors are not cached: the next lookup asks again.
    store.memory.set_unavailable(false);
    assert!(matches!(cache.find_by_hash(&hash).await, Ok(None)));
    assert_eq!(store.finds(), 2);
}

//! Hits, misses, TTLs, negative entries, roles, the size bound, and the conformance suite.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::CountingStore;
use keygate::clock::ManualClock;
use keygate::hash::KeyHasher;
use keygate::role::Role;
use keygate::{KeyGate, KeyRecord, KeyStore, MemoryStore, ScopeSet, VerifyRequest};
use keygate_moka::CachedStore;

fn clock() -> ManualClock {
    ManualClock::at_unix(1_800_000_000)
}

fn cached(store: &Arc<CountingStore>, clock: &ManualClock) -> CachedStore<Arc<CountingStore>> {
    CachedStore::builder(Arc::clone(store))
        .ttl(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
}

fn key(name: &str) -> (String, KeyRecord) {
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", name, "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    (secret.expose().to_owned(), record)
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    keygate::testing::conformance::run_all(|| async { CachedStore::new(MemoryStore::new()) }).await;
}

#[tokio::test]
async fn known_keys_are_served_from_cache_until_their_ttl() {
    let store = CountingStore::new();
    let clock = clock();
    let cache = cached(&store, &clock);
    let (_, record) = key("a");
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    for _ in 0..3 {
        let got = cache
            .find_by_hash(&record.hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.as_deref(), Some(&record));
    }
    assert_eq!(store.finds(), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.keys.hits, stats.keys.misses, stats.keys.loads),
        (2, 1, 1)
    );

    clock.advance(chrono::Duration::seconds(29));
    cache
        .find_by_hash(&record.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.finds(), 1, "still fresh at 29 s");
    assert!(
        cache.find_by_hash_now(&record.hash).is_some(),
        "the hot path too"
    );
    clock.advance(chrono::Duration::seconds(1));
    assert!(
        cache.find_by_hash_now(&record.hash).is_none(),
        "the hot path never answers past the TTL"
    );
    cache
        .find_by_hash(&record.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.finds(), 2, "reloaded at 30 s");
}

#[tokio::test]
async fn unknown_keys_are_cached_briefly() {
    let store = CountingStore::new();
    let clock = clock();
    let cache = cached(&store, &clock);
    let (_, record) = key("late");

    assert_eq!(cache.find_by_hash(&record.hash).await.ok(), Some(None));
    assert_eq!(cache.find_by_hash(&record.hash).await.ok(), Some(None));
    assert_eq!(store.finds(), 1);
    assert_eq!(cache.stats().keys.negative_hits, 1);

    // Written behind the cache's back: unseen until the negative TTL passes.
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cache.find_by_hash(&record.hash).await.ok(), Some(None));
    clock.advance(chrono::Duration::seconds(5));
    let got = cache
        .find_by_hash(&record.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.map(|r| r.id.clone()), Some(record.id));
}

#[tokio::test]
async fn inserting_through_the_cache_drops_a_negative_entry() {
    let store = CountingStore::new();
    let cache = cached(&store, &clock());
    let (_, record) = key("new");
    assert_eq!(cache.find_by_hash(&record.hash).await.ok(), Some(None));
    cache
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let got = cache
        .find_by_hash(&record.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.as_deref(), Some(&record));
}

#[tokio::test]
async fn roles_are_cached_and_put_role_refreshes_them() {
    let store = CountingStore::new();
    let clock = clock();
    let cache = cached(&store, &clock);
    let role = |scopes: &[&str]| {
        Role::new(
            "viewer",
            ScopeSet::parse(scopes).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    cache
        .put_role(&role(&["read:scans"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (plain, record) = key("with-role");
    cache
        .insert(&record.with_role("viewer"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gate = KeyGate::builder(cache.clone()).clock(clock.clone()).build();

    for _ in 0..3 {
        let ok = gate
            .verify(VerifyRequest::key(&plain))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.principal.has_scope("read:scans"));
        assert!(!ok.principal.has_scope("write:scans"));
    }
    assert_eq!(
        store.role_gets(),
        1,
        "one role load for three verifications"
    );
    assert_eq!(
        cache.stats().roles.hits,
        0,
        "the cached record keeps its principal: no role lookup at all on a hit"
    );

    cache
        .put_role(&role(&["read:scans", "write:scans"]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ok = gate
        .verify(VerifyRequest::key(&plain))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ok.principal.has_scope("write:scans"),
        "the edited role applies at once"
    );
    assert_eq!(store.role_gets(), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let store = CountingStore::new();
    let cache = CachedStore::builder(Arc::clone(&store))
        .max_keys(50)
        .build();
    for i in 0..500 {
        let (_, record) = key(&format!("k{i}"));
        store
            .memory
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        cache
            .find_by_hash(&record.hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    cache.run_pending_tasks().await;
    let entries = cache.stats().key_entries;
    assert!(entries <= 50, "{entries} entries cached, bound is 50");
}

#[tokio::test]
async fn zero_ttl_caches_nothing() {
    let store = CountingStore::new();
    let cache = CachedStore::builder(Arc::clone(&store))
        .ttl(Duration::ZERO)
        .negative_ttl(Duration::ZERO)
        .build();
    let (_, record) = key("z");
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        cache
            .find_by_hash(&record.hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(store.finds(), 3);
}

//! Invalidation: by hash, by id, by role, all; through writes, a handle and a source;
//! and loads in flight when an invalidation lands.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::CountingStore;
use keygate::hash::KeyHasher;
use keygate::{AuthError, KeyGate, KeyRecord, KeyStore, VerifyRequest};
use keygate_moka::{CachedStore, Invalidation};
use tokio::sync::Semaphore;

fn key() -> (String, KeyRecord) {
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    (secret.expose().to_owned(), record)
}

async fn seeded() -> (
    Arc<CountingStore>,
    CachedStore<Arc<CountingStore>>,
    String,
    KeyRecord,
) {
    let store = CountingStore::new();
    let (plain, record) = key();
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::builder(Arc::clone(&store))
        .ttl(Duration::from_secs(3600))
        .build();
    (store, cache, plain, record)
}

#[tokio::test]
async fn a_revoke_through_the_cache_applies_at_once() {
    let (_, cache, plain, record) = seeded().await;
    let gate = KeyGate::builder(cache.clone()).build();
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_ok());
    cache
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = gate.verify(VerifyRequest::key(&plain)).await;
    assert!(
        matches!(refused, Err(AuthError::InvalidKey(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_disable_and_an_enable_through_the_manager_apply_at_once() {
    let (_, cache, plain, record) = seeded().await;
    let gate = KeyGate::builder(cache.clone()).build();
    let manager = gate.manager();
    let system = keygate::Actor::system();
    assert!(
        gate.verify(VerifyRequest::key(&plain)).await.is_ok(),
        "warm"
    );
    manager
        .disable(&system, &record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = gate.verify(VerifyRequest::key(&plain)).await;
    assert!(
        matches!(refused, Err(AuthError::DisabledKey)),
        "{refused:?}"
    );
    manager
        .enable(&system, &record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        gate.verify(VerifyRequest::key(&plain)).await.is_ok(),
        "enabled"
    );
}

#[tokio::test]
async fn invalidate_by_hash_id_and_all() {
    let (store, cache, _, record) = seeded().await;
    let look = || async {
        cache
            .find_by_hash(&record.hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    look().await;
    look().await;
    assert_eq!(store.finds(), 1);
    cache.invalidate(&record.hash).await;
    look().await;
    assert_eq!(store.finds(), 2);
    cache.invalidate_id(&record.id).await;
    look().await;
    assert_eq!(store.finds(), 3);
    cache.invalidate_all().await;
    look().await;
    assert_eq!(store.finds(), 4);
    look().await;
    assert_eq!(store.finds(), 4);
    assert_eq!(cache.stats().invalidations, 3);
}

#[tokio::test]
async fn changes_behind_the_cache_arrive_through_a_source() {
    let (store, cache, plain, record) = seeded().await;
    let gate = KeyGate::builder(cache.clone()).build();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let follower = cache.follow(rx);
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_ok());

    // Another process revokes the key and announces it.
    store
        .memory
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        gate.verify(VerifyRequest::key(&plain)).await.is_ok(),
        "not announced yet"
    );
    let payload = Invalidation::Key(record.hash).to_string();
    tx.send(payload.parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(tx);
    follower.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_in_flight_during_an_invalidation_is_not_kept() {
    let gate = Arc::new(Semaphore::new(0));
    let store = CountingStore::held(Arc::clone(&gate));
    let (_, record) = key();
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::new(Arc::clone(&store));

    // A lookup starts and reads the store ...
    let hash = record.hash;
    let lookup = tokio::spawn({
        let cache = cache.clone();
        async move { cache.find_by_hash(&hash).await }
    });
    while store.finds() == 0 {
        tokio::task::yield_now().await;
    }
    // ... the key is revoked and invalidated while the answer is on its way ...
    store
        .memory
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.invalidate(&hash).await;
    gate.add_permits(1);
    let first = lookup
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.and_then(|r| r.revoked_at),
        None,
        "the in-flight read predates the revoke"
    );

    // ... so that answer is not trusted: the next lookup reads the store again.
    gate.add_permits(1);
    let next = cache
        .find_by_hash(&hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(next.and_then(|r| r.revoked_at).is_some());
    assert_eq!(store.finds(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_never_answers_with_a_load_that_raced_an_invalidation() {
    let permits = Arc::new(Semaphore::new(0));
    let store = CountingStore::held(Arc::clone(&permits));
    let (_, record) = key();
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::new(Arc::clone(&store));
    let hash = record.hash;
    let lookup = tokio::spawn({
        let cache = cache.clone();
        async move { cache.find_by_hash(&hash).await }
    });
    while store.finds() == 0 {
        tokio::task::yield_now().await;
    }
    store
        .memory
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.invalidate(&hash).await;
    permits.add_permits(1);
    let _ = lookup.await.unwrap_or_else(|e| panic!("{e}"));
    // The pre-revoke answer arrived after the invalidation: the hot path must not
    // hand it out.
    assert!(cache.find_by_hash_now(&hash).is_none());
    permits.add_permits(1);
    let fresh = cache.find_by_hash(&hash).await.ok().flatten();
    assert!(fresh.and_then(|r| r.revoked_at).is_some());
    let now = cache.find_by_hash_now(&hash).flatten();
    assert!(
        now.is_some_and(|r| r.revoked_at.is_some()),
        "the new answer is"
    );
}

#[tokio::test]
async fn the_front_answers_warm_keys_until_an_invalidation() {
    let (store, cache, plain, record) = seeded().await;
    assert!(cache.find_by_hash_now(&record.hash).is_none(), "cold");
    let gate = KeyGate::builder(cache.clone()).build();
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_ok());
    let warm = cache.find_by_hash_now(&record.hash).flatten();
    assert_eq!(warm.map(|r| r.id.clone()), Some(record.id.clone()));
    // Unknown keys never enter the front.
    let unknown = KeyHasher::Sha256.hash("sk_live_unknown");
    let _ = cache.find_by_hash(&unknown).await;
    assert!(cache.find_by_hash_now(&unknown).is_none());

    // A change announced from elsewhere (another key's) distrusts every front entry
    // once; the next full lookup vouches for this one again without a store call.
    let (_, other) = key();
    cache.apply(&Invalidation::Key(other.hash)).await;
    assert!(cache.find_by_hash_now(&record.hash).is_none());
    let finds = store.finds();
    assert!(cache
        .find_by_hash(&record.hash)
        .await
        .ok()
        .flatten()
        .is_some());
    assert_eq!(store.finds(), finds, "moka still had it");
    assert!(cache.find_by_hash_now(&record.hash).flatten().is_some());

    // Its own revocation, from elsewhere: gone from the front at once.
    store
        .memory
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.apply(&Invalidation::Key(record.hash)).await;
    assert!(cache.find_by_hash_now(&record.hash).is_none());
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_err());
}

#[tokio::test]
async fn hits_share_one_record() {
    let (_, cache, _, record) = seeded().await;
    let first = cache.find_by_hash(&record.hash).await.ok().flatten();
    let second = cache.find_by_hash(&record.hash).await.ok().flatten();
    match (first, second) {
        (Some(a), Some(b)) => assert!(Arc::ptr_eq(&a, &b), "a hit copies nothing"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_rotation_through_the_cache_applies_at_once() {
    let (store, cache, _, record) = seeded().await;
    let (_, successor) = key();
    // A negative entry for the successor, and the old key cached as unrotated.
    assert!(cache
        .find_by_hash(&successor.hash)
        .await
        .ok()
        .flatten()
        .is_none());
    assert!(cache
        .find_by_hash(&record.hash)
        .await
        .ok()
        .flatten()
        .is_some());
    let grace = chrono::Utc::now() + chrono::Duration::hours(1);
    cache
        .rotate(&record, grace, &successor)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let old = cache.find_by_hash(&record.hash).await.ok().flatten();
    assert_eq!(
        old.and_then(|r| r.rotation.clone()).map(|r| r.replaced_by),
        Some(successor.id.clone())
    );
    assert!(cache
        .find_by_hash(&successor.hash)
        .await
        .ok()
        .flatten()
        .is_some());
    assert_eq!(store.finds(), 4, "both were read again");
}

#[tokio::test]
async fn owner_deactivation_through_the_cache_applies_at_once() {
    let store = CountingStore::new();
    let (plain, mut record) = key();
    record.kind = keygate::record::KeyKind::Personal;
    record.owner = Some("alice".into());
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::builder(Arc::clone(&store))
        .ttl(Duration::from_secs(3600))
        .build();
    let gate = KeyGate::builder(cache.clone()).build();
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_ok());
    cache
        .deactivate_owner("acme", "alice", chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        gate.verify(VerifyRequest::key(&plain)).await.is_err(),
        "refused at once"
    );
    cache
        .reactivate_owner("acme", "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(gate.verify(VerifyRequest::key(&plain)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_starts_after_a_revoke_never_joins_a_load_from_before_it() {
    let permits = Arc::new(Semaphore::new(0));
    let store = CountingStore::held(Arc::clone(&permits));
    let (_, record) = key();
    store
        .memory
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = CachedStore::new(Arc::clone(&store));
    let hash = record.hash;
    let lookup = |cache: CachedStore<Arc<CountingStore>>| async move {
        cache
            .find_by_hash(&hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // A lookup reads the key before the revoke; its answer is on the wire ...
    let early = tokio::spawn(lookup(cache.clone()));
    while store.finds() == 0 {
        tokio::task::yield_now().await;
    }
    cache
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // ... a lookup that starts once the revoke returned must not share it.
    let late = tokio::spawn(lookup(cache.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    permits.add_permits(16);
    let _ = early.await.unwrap_or_else(|e| panic!("{e}"));
    let late = late.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        late.is_some_and(|r| r.revoked_at.is_some()),
        "a lookup begun after the revoke sees it"
    );
}

//! Cache invalidation over Redis pub/sub, against a real server
//! (`KEYGATE_TEST_REDIS_URL`; skipped without one unless `CI=true`).
#![cfg(feature = "invalidation")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use keygate::hash::KeyHasher;
use keygate::{KeyRecord, KeyStore, MemoryStore};
use keygate_moka::{CachedStore, Invalidation, InvalidationSource};
use keygate_redis::{RedisInvalidationPublisher, RedisInvalidationSource};
use redis::AsyncCommands;

async fn next(source: &mut RedisInvalidationSource) -> Vec<Invalidation> {
    match tokio::time::timeout(Duration::from_secs(5), source.next_batch()).await {
        Ok(Some(Ok(batch))) => batch,
        other => panic!("no batch: {other:?}"),
    }
}

#[tokio::test]
async fn published_invalidations_arrive_and_noise_is_skipped() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("channel");
    let mut source = RedisInvalidationSource::with_channel(client.clone(), channel.clone());
    assert_eq!(
        next(&mut source).await,
        vec![Invalidation::All],
        "after subscribing"
    );
    let publisher = RedisInvalidationPublisher::with_channel(client.clone(), channel.clone());
    let hash = KeyHasher::Sha256.hash("sk_live_x");
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _: i64 = raw
        .publish(&channel, "not an invalidation")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let receivers = publisher
        .publish(&Invalidation::Key(hash))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receivers, 1);
    publisher
        .publish(&Invalidation::Role("viewer".into()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = next(&mut source).await;
    if seen.len() == 1 {
        seen.extend(next(&mut source).await);
    }
    assert_eq!(
        seen,
        vec![Invalidation::Key(hash), Invalidation::Role("viewer".into())]
    );
}

#[tokio::test]
async fn a_cached_store_following_the_channel_forgets_a_revoked_key() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("follow");
    let inner = Arc::new(MemoryStore::new());
    let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    inner
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cached = CachedStore::new(inner.clone());
    let hash = KeyHasher::Sha256.hash(key.expose());

    let follower = cached.follow(RedisInvalidationSource::with_channel(
        client.clone(),
        channel.clone(),
    ));
    let publisher = RedisInvalidationPublisher::with_channel(client, channel);
    // Wait (bounded) until the follower is subscribed and has applied what it got so
    // far: the `All` it yields on subscribing, and the one `All` that reached it.
    let settled = async {
        while publisher.publish(&Invalidation::All).await.unwrap_or(0) == 0 {
            tokio::task::yield_now().await;
        }
        while cached.stats().invalidations < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), settled)
        .await
        .unwrap_or_else(|_| panic!("the follower never subscribed"));
    assert!(cached.find_by_hash(&hash).await.ok().flatten().is_some());

    // Revoked behind the cache's back (another instance did it), then announced.
    inner
        .revoke(&record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Still cached as it was.
    let stale = cached.find_by_hash(&hash).await.ok().flatten();
    assert!(stale.is_some_and(|r| r.revoked_at.is_none()));
    publisher
        .publish(&Invalidation::Key(hash))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let forgotten = async {
        loop {
            let seen = cached.find_by_hash(&hash).await.ok().flatten();
            if seen.is_some_and(|r| r.revoked_at.is_some()) {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), forgotten)
        .await
        .unwrap_or_else(|_| panic!("the cache kept the stale entry"));
    follower.abort();
}

/// Two instances, each with its own cache over one shared store: a revoke made through
/// instance A (a `PublishingStore`) reaches instance B's cache over Redis pub/sub.
#[tokio::test]
async fn a_revoke_through_one_instance_reaches_the_others_cache() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("fleet");
    let shared = Arc::new(MemoryStore::new());
    let instance_a =
        keygate::KeyManager::builder(CachedStore::new(keygate_redis::PublishingStore::new(
            shared.clone(),
            RedisInvalidationPublisher::with_channel(client.clone(), channel.clone()),
        )))
        .build();
    let cache_b = CachedStore::new(shared.clone());
    let follower = cache_b.follow(RedisInvalidationSource::with_channel(
        client.clone(),
        channel.clone(),
    ));
    let created = instance_a
        .create(
            &keygate::Actor::system(),
            keygate::NewKey::named("k").tenant("acme"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let verifier_b = keygate::Verifier::builder(cache_b.clone()).build();
    let key = created.key.expose().to_owned();
    // B is subscribed once it has seen the `All` it yields on subscribing.
    tokio::time::timeout(Duration::from_secs(5), async {
        while cache_b.stats().invalidations < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("B never subscribed"));
    assert!(
        verifier_b
            .verify(keygate::VerifyRequest::key(&key))
            .await
            .is_ok(),
        "B caches the key"
    );

    let started = std::time::Instant::now();
    instance_a
        .revoke(&keygate::Actor::system(), &created.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(Duration::from_secs(5), async {
        while verifier_b
            .verify(keygate::VerifyRequest::key(&key))
            .await
            .is_ok()
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("B kept accepting the revoked key"));
    let elapsed = started.elapsed();
    println!("revoke propagation through Redis pub/sub: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(100), "took {elapsed:?}");
    follower.abort();
}

#[tokio::test]
async fn a_publishing_store_passes_the_conformance_suite() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("conformance");
    keygate::testing::conformance::run_all(|| {
        let publisher = RedisInvalidationPublisher::with_channel(client.clone(), channel.clone());
        async move { keygate_redis::PublishingStore::new(MemoryStore::new(), publisher) }
    })
    .await;
}

/// Every new write is announced: revoke, rotate (both keys), owner deactivation and
/// reactivation (the owner's personal keys).
#[tokio::test]
async fn a_publishing_store_announces_revoke_rotate_and_owner_changes() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("writes");
    let mut source = RedisInvalidationSource::with_channel(client.clone(), channel.clone());
    assert_eq!(next(&mut source).await, vec![Invalidation::All]);
    let store = keygate_redis::PublishingStore::new(
        MemoryStore::new(),
        RedisInvalidationPublisher::with_channel(client, channel),
    );
    let (_, mut old) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    old.kind = keygate::record::KeyKind::Personal;
    old.owner = Some("alice".into());
    let (_, new) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k2", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    store.insert(&old).await.unwrap_or_else(|e| panic!("{e}"));
    store
        .rotate(&old, chrono::Utc::now(), &new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .revoke(&new.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .deactivate_owner("acme", "alice", chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .reactivate_owner("acme", "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let want = vec![
        Invalidation::Key(old.hash),
        Invalidation::Key(old.hash),
        Invalidation::Id(old.id.clone()),
        Invalidation::Key(new.hash),
        Invalidation::Key(new.hash),
        Invalidation::Key(old.hash),
        Invalidation::Key(old.hash),
    ];
    let mut heard = Vec::new();
    while heard.len() < want.len() {
        heard.extend(next(&mut source).await);
    }
    assert_eq!(heard, want);
}

/// Role writes of any namespace are announced by name: a put, and a delete that
/// deleted something (a delete of nothing changes nothing).
#[tokio::test]
async fn a_publishing_store_announces_role_puts_and_deletes() {
    let Some(client) = common::redis().await else {
        return;
    };
    let channel = common::unique_prefix("roles");
    let mut source = RedisInvalidationSource::with_channel(client.clone(), channel.clone());
    assert_eq!(next(&mut source).await, vec![Invalidation::All]);
    let store = keygate_redis::PublishingStore::new(
        MemoryStore::new(),
        RedisInvalidationPublisher::with_channel(client, channel),
    );
    let role = keygate::role::Role::new("viewer", keygate::ScopeSet::new())
        .unwrap_or_else(|e| panic!("{e}"))
        .in_namespace("acme", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .put_role(&role)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store
        .delete_role(role.namespace(), "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    assert!(!store
        .delete_role(role.namespace(), "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    store
        .put_role(
            &keygate::role::Role::new("other", keygate::ScopeSet::new())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let want = vec![
        Invalidation::Role("viewer".into()),
        Invalidation::Role("viewer".into()),
        Invalidation::Role("other".into()),
    ];
    let mut heard = Vec::new();
    while heard.len() < want.len() {
        heard.extend(next(&mut source).await);
    }
    assert_eq!(heard, want);
}

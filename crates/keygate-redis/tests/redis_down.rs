//! What the Redis limiter does when Redis is down: a dead port (127.0.0.1:1), so these
//! run everywhere, with or without a Redis server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate::clock::{Clock, ManualClock};
use keygate::hash::KeyHasher;
use keygate::render::SharedRenderer;
use keygate::{
    AuthError, KeyGate, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits, VerifyRequest,
};
use keygate_redis::{OnRedisError, RedisRateLimiter};

const DEAD: &str = "redis://127.0.0.1:1";

async fn gate(on_error: OnRedisError) -> (KeyGate, String, ManualClock) {
    let store = Arc::new(MemoryStore::new());
    let (key, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    record.rate_limit = Some(RateLimitSpec::per_hour(2));
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let limiter = RedisRateLimiter::from_url(DEAD)
        .unwrap_or_else(|e| panic!("{e}"))
        .on_redis_error(on_error)
        .build();
    let clock = ManualClock::at_unix(1_800_000_000);
    let gate = KeyGate::builder(store)
        .clock(clock.clone())
        .rate_limits(RateLimits::new(limiter))
        .build();
    (gate, key.expose().to_owned(), clock)
}

#[tokio::test]
async fn fail_closed_answers_503() {
    let (gate, key, clock) = gate(OnRedisError::FailClosed).await;
    let started = Instant::now();
    let err = gate.verify(VerifyRequest::key(&key)).await.err();
    assert_eq!(err, Some(AuthError::StoreUnavailable));
    let response = SharedRenderer::default().response(&AuthError::StoreUnavailable);
    assert_eq!(response.status, 503);
    // Within the back-off Redis is not asked again, and the answer stays 503.
    let err = gate.verify(VerifyRequest::key(&key)).await.err();
    assert_eq!(err, Some(AuthError::StoreUnavailable));
    // And after it, Redis is tried again (still down).
    clock.advance(chrono::Duration::seconds(1));
    let err = gate.verify(VerifyRequest::key(&key)).await.err();
    assert_eq!(err, Some(AuthError::StoreUnavailable));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead Redis must not stall requests: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn local_fallback_keeps_limiting_in_process() {
    let (gate, key, clock) = gate(OnRedisError::LocalFallback).await;
    let first = gate.verify(VerifyRequest::key(&key)).await;
    let status = first.ok().and_then(|v| v.rate_limit);
    assert_eq!(
        status.map(|r| r.summary()).map(|s| (s.limit, s.remaining)),
        Some((2, 1))
    );
    assert!(gate.verify(VerifyRequest::key(&key)).await.is_ok());
    match gate.verify(VerifyRequest::key(&key)).await {
        Err(AuthError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 1800),
        other => panic!("{other:?}"),
    }
    clock.advance(chrono::Duration::minutes(30));
    assert!(gate.verify(VerifyRequest::key(&key)).await.is_ok());
}

#[test]
fn building_needs_no_runtime_and_no_server() {
    let limiter = RedisRateLimiter::from_url(DEAD).map(|b| b.build());
    assert!(limiter.is_ok());
    let now = ManualClock::at_unix(0).now();
    assert_eq!(now.timestamp(), 0);
}

#[cfg(feature = "invalidation")]
#[tokio::test]
async fn invalidation_feed_reports_a_dead_redis_as_an_error() {
    use keygate_moka::{Invalidation, InvalidationSource};
    use keygate_redis::{RedisInvalidationPublisher, RedisInvalidationSource};

    let client = redis::Client::open(DEAD).unwrap_or_else(|e| panic!("{e}"));
    let mut source = RedisInvalidationSource::new(client.clone());
    assert!(matches!(source.next_batch().await, Some(Err(_))));
    let publisher = RedisInvalidationPublisher::new(client);
    assert!(publisher.publish(&Invalidation::All).await.is_err());
}

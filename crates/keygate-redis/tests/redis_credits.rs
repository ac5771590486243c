//! Credits in Redis against a real server (`KEYGATE_TEST_REDIS_URL`; skipped without
//! one unless `CI=true`), and failing closed against a dead port.

mod common;

use std::sync::Arc;

use keygate::clock::{Clock, ManualClock};
use keygate::credits::{CreditLedger, Credits, Refill};
use keygate::hash::KeyHasher;
use keygate::{AuthError, KeyGate, KeyId, KeyRecord, KeyStore, MemoryStore, VerifyRequest};
use keygate_redis::RedisCredits;

fn ledger(client: &redis::Client, test: &str) -> RedisCredits {
    RedisCredits::builder(client.clone())
        .key_prefix(common::unique_prefix(test))
        .build()
}

fn clock() -> ManualClock {
    ManualClock::at_unix(1_800_000_000) // 2027-01-15 08:00:00 UTC
}

fn credits(remaining: u64, refill: Option<Refill>, at: &ManualClock) -> Credits {
    Credits::new(KeyId::generate(), remaining, refill, at.now()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn spends_all_or_nothing_refills_and_gives_back() {
    let Some(client) = common::redis().await else {
        return;
    };
    let ledger = ledger(&client, "credits-spend");
    let at = clock();
    let c = credits(5, Refill::daily(8).ok(), &at);
    let spend = |cost| {
        let (ledger, c, now) = (&ledger, &c, at.now());
        async move {
            ledger
                .spend(c, cost, now)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    assert_eq!(spend(3).await.remaining, 2);
    let refused = spend(3).await;
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 2, "a refused spend takes nothing");
    ledger
        .refund(&c, 1, at.now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spend(3).await.remaining, 0);
    // The next day: refilled to 8.
    at.advance(chrono::Duration::days(1));
    assert_eq!(spend(1).await.remaining, 7);
    // What the store is told: this instance's spends of the current period.
    let unsettled = ledger.take_unsettled();
    assert_eq!(unsettled.len(), 1);
    assert_eq!((unsettled[0].spent, unsettled[0].period), (1, c.period + 1));
    // An operator sets a new balance (a later epoch): it replaces the held one.
    let reset = Credits {
        remaining: 2,
        epoch: 7,
        period: c.period + 1,
        ..c.clone()
    };
    assert_eq!(
        ledger
            .spend(&reset, 1, at.now())
            .await
            .map(|s| s.remaining)
            .ok(),
        Some(1)
    );
    // A stale record (the older epoch) spends from the new balance.
    assert_eq!(spend(1).await.remaining, 0);
    assert!(!spend(1).await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_one_balance_exactly() {
    let Some(client) = common::redis().await else {
        return;
    };
    let prefix = common::unique_prefix("credits-shared");
    let at = clock();
    let c = credits(37, None, &at);
    let instances: Vec<RedisCredits> = (0..3)
        .map(|_| {
            RedisCredits::builder(client.clone())
                .key_prefix(prefix.clone())
                .build()
        })
        .collect();
    let mut tasks = Vec::new();
    for ledger in &instances {
        for _ in 0..20 {
            let (ledger, c, now) = (ledger.clone(), c.clone(), at.now());
            tasks.push(tokio::spawn(async move {
                ledger.spend(&c, 1, now).await.map(|s| s.allowed)
            }));
        }
    }
    let mut allowed = 0;
    for task in tasks {
        let spent = task.await.unwrap_or_else(|e| panic!("{e}"));
        allowed += usize::from(spent.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(allowed, 37, "60 requests on 3 instances against 37 credits");
    let settled: u64 = instances
        .iter()
        .flat_map(|l| l.take_unsettled())
        .map(|s| s.spent)
        .sum();
    assert_eq!(settled, 37, "what the instances tell the store adds up");
}

#[tokio::test]
async fn a_gate_over_redis_spends_and_settles_with_the_store() {
    let Some(client) = common::redis().await else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let at = clock();
    let (key, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    record.credits = Credits::new(record.id.clone(), 4, None, at.now()).ok();
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let prefix = common::unique_prefix("credits-gate");
    let gate = |store: Arc<MemoryStore>| {
        KeyGate::builder(store)
            .clock(at.clone())
            .flush_interval(None)
            .credits(
                RedisCredits::builder(client.clone())
                    .key_prefix(prefix.clone())
                    .build(),
            )
            .build()
    };
    let (one, two) = (gate(store.clone()), gate(store.clone()));
    let mut passed = 0;
    for gate in [&one, &two, &one, &two, &one, &two] {
        match gate.verify(VerifyRequest::key(key.expose())).await {
            Ok(_) => passed += 1,
            Err(AuthError::UsageExceeded { retry_after: None }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(passed, 4);
    one.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    two.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let stored = store
        .get(&record.id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.credits);
    assert_eq!(stored.map(|c| c.remaining), Some(0));
}

#[tokio::test]
async fn redis_down_fails_closed_and_spends_nothing() {
    let store = Arc::new(MemoryStore::new());
    let (key, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    record.credits = Credits::new(record.id.clone(), 4, None, chrono::Utc::now()).ok();
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (plain, plain_record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "p", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .insert(&plain_record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gate = KeyGate::builder(store)
        .credits(
            RedisCredits::from_url("redis://127.0.0.1:1")
                .unwrap_or_else(|e| panic!("{e}"))
                .build(),
        )
        .build();
    let err = gate.verify(VerifyRequest::key(key.expose())).await.err();
    assert_eq!(err, Some(AuthError::StoreUnavailable));
    // A key without credits never asks Redis.
    assert!(gate
        .verify(VerifyRequest::key(plain.expose()))
        .await
        .is_ok());
}

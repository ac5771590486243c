//! The Redis limiter against a real server (`KEYGATE_TEST_REDIS_URL`; skipped without
//! one unless `CI=true`). Time is the caller's `ManualClock`: nothing sleeps.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use keygate::clock::{Clock, ManualClock};
use keygate::hash::KeyHasher;
use keygate::rate_limit::{
    Counter, LimitCheck, LimitName, MemoryRateLimiter, RateLimitError, RateLimiter,
};
use keygate::{
    KeyGate, KeyId, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits, VerifyRequest,
};
use keygate_redis::{RedisRateLimiter, TimeSource};
use redis::AsyncCommands;

fn limiter(client: &redis::Client, test: &str) -> RedisRateLimiter {
    RedisRateLimiter::builder(client.clone())
        .key_prefix(common::unique_prefix(test))
        .build()
}

fn start() -> ManualClock {
    ManualClock::at_unix(1_800_000_000)
}

async fn allowed(
    limiter: &RedisRateLimiter,
    key: &KeyId,
    spec: &RateLimitSpec,
    now: DateTime<Utc>,
) -> bool {
    match limiter.check(key, spec, now).await {
        Ok(_) => true,
        Err(RateLimitError::Limited(_)) => false,
        Err(e) => panic!("redis limiter failed: {e:?}"),
    }
}

#[tokio::test]
async fn burst_then_steady_rate() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "burst");
    let clock = start();
    let key = KeyId::generate();
    let spec = RateLimitSpec::per_minute(60).with_burst(3);
    let mut count = 0;
    for _ in 0..100 {
        // 10 attempts per second for 10 seconds
        count += usize::from(allowed(&limiter, &key, &spec, clock.now()).await);
        clock.advance(Duration::milliseconds(100));
    }
    assert_eq!(count, 3 + 9, "the burst, then one per second");
}

#[tokio::test]
async fn headers_and_retry_after_match_the_in_process_limiter() {
    let Some(client) = common::redis().await else {
        return;
    };
    let redis = limiter(&client, "same");
    let memory = MemoryRateLimiter::new();
    let clock = start();
    let key = KeyId::generate();
    // A walk through bursts, refusals, limit changes, a quota and a UTC midnight.
    let specs: [RateLimitSpec; 4] = [
        RateLimitSpec::per_hour(5),
        RateLimitSpec::per_second(3).with_burst(2),
        RateLimitSpec::per_minute(100).with_daily_quota(7),
        RateLimitSpec::per_hour(2),
    ];
    let steps = [
        0, 1, 1, 250, 900, 3_000, 0, 17_000, 61_000, 0, 86_400_000, 1,
    ];
    let (mut compared, mut refused) = (0, 0);
    for (i, advance_ms) in steps.iter().cycle().take(120).enumerate() {
        clock.advance(Duration::milliseconds(*advance_ms));
        let spec = &specs[(i / 10) % specs.len()];
        let from_redis = redis.check(&key, spec, clock.now()).await;
        let in_process = memory.check(&key, spec, clock.now()).await;
        match (from_redis, in_process) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "step {i} ({spec})"),
            (Err(RateLimitError::Limited(a)), Err(RateLimitError::Limited(b))) => {
                assert_eq!(a, b, "step {i} ({spec})");
                refused += 1;
            }
            (a, b) => panic!("step {i} ({spec}): redis {a:?}, in process {b:?}"),
        }
        compared += 1;
    }
    assert_eq!(compared, 120);
    assert!(
        (20..100).contains(&refused),
        "both answers exercised: {refused} refused"
    );
}

#[tokio::test]
async fn daily_quota_resets_at_utc_midnight() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "quota");
    let clock = ManualClock::new(
        "2027-03-01T23:59:50Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let key = KeyId::generate();
    let spec = RateLimitSpec::per_second(100).with_daily_quota(3);
    for _ in 0..3 {
        assert!(allowed(&limiter, &key, &spec, clock.now()).await);
    }
    match limiter.check(&key, &spec, clock.now()).await {
        Err(RateLimitError::Limited(l)) => {
            assert_eq!(
                (l.retry_after, l.status.limit, l.status.remaining),
                (10, 3, 0)
            )
        }
        other => panic!("{other:?}"),
    }
    clock.advance(Duration::seconds(10));
    let status = limiter.check(&key, &spec, clock.now()).await;
    assert_eq!(status.map(|s| (s.limit, s.remaining)).ok(), Some((3, 2)));
}

#[tokio::test]
async fn a_changed_limit_applies_to_the_next_request() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "change");
    let clock = start();
    let key = KeyId::generate();
    let two = RateLimitSpec::per_hour(2);
    assert!(allowed(&limiter, &key, &two, clock.now()).await);
    assert!(allowed(&limiter, &key, &two, clock.now()).await);
    assert!(!allowed(&limiter, &key, &two, clock.now()).await);
    let status = limiter
        .check(&key, &RateLimitSpec::per_hour(100), clock.now())
        .await;
    assert_eq!(status.map(|s| (s.limit, s.remaining)).ok(), Some((100, 97)));
}

#[tokio::test]
async fn state_expires_once_it_no_longer_matters() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "ttl");
    let clock = start();
    let key = KeyId::generate();
    assert!(allowed(&limiter, &key, &RateLimitSpec::per_minute(1), clock.now()).await);
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ttl: i64 = connection
        .pttl(limiter.redis_key(&key))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The burst (1) is back after 60 s; one more second of slack.
    assert!((60_000..=61_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn server_time_mode_uses_redis_time() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = RedisRateLimiter::builder(client.clone())
        .key_prefix(common::unique_prefix("server-time"))
        .time_source(TimeSource::Server)
        .build();
    let key = KeyId::generate();
    let spec = RateLimitSpec::per_hour(3);
    // The caller's clock is far in the past: ignored.
    let ancient = ManualClock::at_unix(1_000_000_000).now();
    let status = limiter
        .check(&key, &spec, ancient)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((status.limit, status.remaining), (3, 2));
    assert!(
        status.reset > 1_700_000_000,
        "reset from Redis TIME: {}",
        status.reset
    );
    assert!(allowed(&limiter, &key, &spec, ancient).await);
    assert!(allowed(&limiter, &key, &spec, ancient).await);
    assert!(!allowed(&limiter, &key, &spec, ancient).await);
}

async fn store_with_key(spec: &str) -> (Arc<MemoryStore>, String) {
    let store = Arc::new(MemoryStore::new());
    let (key, mut record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "shared", "acme")
        .unwrap_or_else(|e| panic!("{e}"));
    record.rate_limit = spec.parse().ok();
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (store, key.expose().to_owned())
}

fn instance(
    store: &Arc<MemoryStore>,
    client: &redis::Client,
    prefix: &str,
    clock: &ManualClock,
) -> KeyGate {
    let limiter = RedisRateLimiter::builder(client.clone())
        .key_prefix(prefix)
        .build();
    KeyGate::builder(store.clone())
        .prefix("sk")
        .clock(clock.clone())
        .rate_limits(RateLimits::new(limiter))
        .build()
}

#[tokio::test]
async fn two_instances_together_allow_exactly_the_limit() {
    let Some(client) = common::redis().await else {
        return;
    };
    let (store, key) = store_with_key("5/h").await;
    let prefix = common::unique_prefix("two-instances");
    let clock = start();
    let a = instance(&store, &client, &prefix, &clock);
    let b = instance(&store, &client, &prefix, &clock);
    let mut allowed = [0, 0];
    for i in 0..20 {
        let gate = if i % 2 == 0 { &a } else { &b };
        if gate.verify(VerifyRequest::key(&key)).await.is_ok() {
            allowed[i % 2] += 1;
        }
    }
    assert_eq!(allowed, [3, 2], "5 in total, shared");
    // One interval later, exactly one more, whichever instance asks.
    clock.advance(Duration::seconds(720));
    let more = [
        b.verify(VerifyRequest::key(&key)).await.is_ok(),
        a.verify(VerifyRequest::key(&key)).await.is_ok(),
    ];
    assert_eq!(more, [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_two_instances_never_exceed_the_limit() {
    let Some(client) = common::redis().await else {
        return;
    };
    let (store, key) = store_with_key("10/h").await;
    let prefix = common::unique_prefix("concurrent");
    let clock = start();
    let gates = [
        instance(&store, &client, &prefix, &clock),
        instance(&store, &client, &prefix, &clock),
    ];
    let mut tasks = Vec::new();
    for i in 0..60 {
        let gate = gates[i % 2].clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            gate.verify(VerifyRequest::key(&key)).await.is_ok()
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += usize::from(task.await.expect("the task finishes"));
    }
    assert_eq!(total, 10);
}

/// unkey #1995 on Redis: one script decides every limit, so a request one limit
/// refuses spends no other (the in-process limiter's rule, also across instances).
#[tokio::test]
async fn a_refusal_by_one_limit_moves_no_other_counter_in_redis() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "atomic");
    let now = start().now().timestamp_micros();
    let key = KeyId::generate();
    let tiny: LimitName = "tiny".parse().unwrap_or_else(|e| panic!("{e}"));
    let own = RateLimitSpec::per_hour(100);
    let checks = [
        LimitCheck {
            counter: Counter::Key(&key),
            spec: own,
        },
        LimitCheck {
            counter: Counter::KeyLimit {
                key: &key,
                name: &tiny,
            },
            spec: RateLimitSpec::per_hour(1),
        },
    ];
    let first = limiter.check_all(&checks, now).await;
    assert!(first.is_ok_and(|c| c.allowed()));
    for _ in 0..20 {
        let refused = limiter
            .check_all(&checks, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!refused.allowed());
        let allowed: Vec<bool> = refused.steps().iter().map(|s| s.allowed).collect();
        assert_eq!(
            allowed,
            [true, false],
            "the own limit would allow, tiny refuses"
        );
    }
    let status = limiter
        .check(&key, &own, start().now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status.remaining, 98,
        "the own limit counted two requests, not 22"
    );
    // The same decisions as the in-process limiter, step for step.
    let local = MemoryRateLimiter::new();
    let key2 = KeyId::generate();
    let local_checks = [
        LimitCheck {
            counter: Counter::Key(&key2),
            spec: own,
        },
        checks[1],
    ];
    let mut decisions = Vec::new();
    for _ in 0..3 {
        decisions.push(
            local
                .check_all(&local_checks, now)
                .await
                .map(|c| c.allowed())
                .ok(),
        );
    }
    assert_eq!(decisions, [Some(true), Some(false), Some(false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_is_shared_by_every_key_on_every_instance() {
    let Some(client) = common::redis().await else {
        return;
    };
    let store = Arc::new(MemoryStore::new());
    let mut keys = Vec::new();
    for name in ["a", "b", "c"] {
        let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", name, "acme")
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        keys.push(key.expose().to_owned());
    }
    let prefix = common::unique_prefix("tenant-shared");
    let clock = start();
    let org: LimitName = "org".parse().unwrap_or_else(|e| panic!("{e}"));
    let gate = |org: LimitName| {
        let limiter = RedisRateLimiter::builder(client.clone())
            .key_prefix(&prefix)
            .build();
        KeyGate::builder(store.clone())
            .prefix("sk")
            .clock(clock.clone())
            .rate_limits(
                RateLimits::new(limiter)
                    .fallback(RateLimitSpec::per_hour(100))
                    .per_tenant(org, RateLimitSpec::per_hour(7)),
            )
            .build()
    };
    let gates = [gate(org.clone()), gate(org)];
    let mut tasks = Vec::new();
    for i in 0..45 {
        let gate = gates[i % 2].clone();
        let key = keys[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            match gate.verify(VerifyRequest::key(&key)).await {
                Ok(_) => None,
                Err(keygate::AuthError::RateLimited {
                    report: Some(report),
                    ..
                }) => Some(report.violated()),
                Err(other) => panic!("{other:?}"),
            }
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.expect("the task finishes") {
            None => allowed += 1,
            Some(violated) => assert_eq!(violated, ["org"]),
        }
    }
    assert_eq!(
        allowed, 7,
        "three keys on two instances share one budget of 7"
    );
}

/// A shadow limit in the script: never refuses, keeps counting as if it were enforced,
/// and says when it would have refused.
#[tokio::test]
async fn a_shadow_limit_never_refuses_in_redis() {
    let Some(client) = common::redis().await else {
        return;
    };
    let limiter = limiter(&client, "shadow");
    let now = start().now().timestamp_micros();
    let key = KeyId::generate();
    let probe: LimitName = "probe".parse().unwrap_or_else(|e| panic!("{e}"));
    let checks = [
        LimitCheck {
            counter: Counter::Key(&key),
            spec: RateLimitSpec::per_hour(100),
        },
        LimitCheck {
            counter: Counter::KeyLimit {
                key: &key,
                name: &probe,
            },
            spec: RateLimitSpec::per_hour(2).in_shadow(),
        },
    ];
    let mut would_refuse = Vec::new();
    for _ in 0..4 {
        let counted = limiter
            .check_all(&checks, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(counted.allowed(), "a shadow limit never refuses");
        would_refuse.push(!counted.steps()[1].allowed);
    }
    assert_eq!(would_refuse, [false, false, true, true]);
    let own = limiter
        .check(&key, &RateLimitSpec::per_hour(100), start().now())
        .await
        .map(|s| s.remaining)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(own, 95, "every request counted in the enforced limit");
}

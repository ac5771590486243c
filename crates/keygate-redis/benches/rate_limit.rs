//! Side by side in one run: one limiter check in process vs in Redis, and a protected
//! hello-world tower service (`ApiKeyLayer` over `service_fn`, called with `oneshot`)
//! with rate limits off, in process, and in Redis.
//!
//! Run: `KEYGATE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p keygate-redis`
//! (without the variable the Redis rows are skipped).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use keygate::clock::{Clock, SystemClock};
use keygate::hash::KeyHasher;
use keygate::rate_limit::{MemoryRateLimiter, RateLimiter};
use keygate::{KeyGate, KeyId, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits};
use keygate_redis::RedisRateLimiter;
use keygate_tower::ApiKeyLayer;
use tower::{service_fn, Layer, ServiceExt};

/// Never reached while benchmarking: every check is an allowed one.
fn huge() -> RateLimitSpec {
    RateLimitSpec::per_second(1_000_000_000)
}

fn redis_limiter(rt: &tokio::runtime::Runtime) -> Option<RedisRateLimiter> {
    let url = std::env::var("KEYGATE_TEST_REDIS_URL").ok()?;
    let limiter = RedisRateLimiter::from_url(&url)
        .ok()?
        .key_prefix(format!("keygate-bench:{}:", KeyId::generate()))
        .build();
    let probe = rt.block_on(limiter.check(&KeyId::generate(), &huge(), SystemClock.now()));
    match probe {
        Ok(_) => Some(limiter),
        Err(e) => {
            eprintln!("skipping the Redis rows: {e}");
            None
        }
    }
}

async fn hello(_: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

fn request(key: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri("/hello")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = redis_limiter(&rt);
    let spec = huge();
    let key = KeyId::generate();

    let mut group = c.benchmark_group("limiter_check");
    let memory = MemoryRateLimiter::new();
    group.bench_function("in_process", |b| {
        b.iter(|| {
            memory
                .check_now(black_box(&key), &spec, SystemClock.now())
                .unwrap()
        })
    });
    if let Some(redis) = &redis {
        group.bench_function("redis", |b| {
            b.iter(|| {
                rt.block_on(redis.check(black_box(&key), &spec, SystemClock.now()))
                    .unwrap()
            })
        });
    }
    group.finish();

    let store = Arc::new(MemoryStore::new());
    let (secret, mut record) =
        KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "bench", "acme").unwrap();
    record.rate_limit = Some(spec);
    rt.block_on(store.insert(&record)).unwrap();
    let secret = secret.expose().to_owned();
    let service = |limits: Option<RateLimits>| {
        let mut builder = KeyGate::builder(store.clone()).prefix("sk");
        if let Some(limits) = limits {
            builder = builder.rate_limits(limits);
        }
        ApiKeyLayer::new(builder.build()).layer(service_fn(hello))
    };
    let mut routes = vec![
        ("limits_off", service(None)),
        ("limits_in_process", service(Some(RateLimits::in_memory()))),
    ];
    if let Some(redis) = redis {
        routes.push(("limits_redis", service(Some(RateLimits::new(redis)))));
    }
    let mut group = c.benchmark_group("hello_route");
    for (name, svc) in routes {
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = rt.block_on(svc.clone().oneshot(request(&secret))).unwrap();
                assert_eq!(response.status(), 200);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

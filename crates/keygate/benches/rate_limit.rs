//! One in-process limiter check: a single hot key, and a key among 50,000 tracked
//! ones; and one failure-throttle check.
//!
//! Run: `cargo bench -p keygate --bench rate_limit` (the Redis limiter and whole-route
//! numbers, side by side with these: `cargo bench -p keygate-redis`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keygate::clock::{Clock, SystemClock};
use keygate::rate_limit::{FailureThrottle, MemoryRateLimiter};
use keygate::{KeyId, RateLimitSpec};

fn bench(c: &mut Criterion) {
    let spec = RateLimitSpec::per_second(1_000_000_000);
    let limiter = MemoryRateLimiter::new();
    let keys: Vec<KeyId> = (0..50_000).map(|_| KeyId::generate()).collect();
    for key in &keys {
        limiter.check_now(key, &spec, SystemClock.now()).unwrap();
    }
    let hot = keys[0].clone();
    let mut group = c.benchmark_group("memory_limiter");
    group.bench_function("hot_key", |b| {
        b.iter(|| {
            limiter
                .check_now(black_box(&hot), &spec, SystemClock.now())
                .unwrap()
        })
    });
    let mut i = 0;
    group.bench_function("among_50k_keys", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            limiter
                .check_now(black_box(&keys[i]), &spec, SystemClock.now())
                .unwrap()
        })
    });
    let throttle = FailureThrottle::new(RateLimitSpec::per_minute(10));
    let ip = "192.0.2.1".parse().unwrap();
    group.bench_function("failure_throttle_check", |b| {
        b.iter(|| throttle.check(black_box(ip), SystemClock.now()).is_ok())
    });
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

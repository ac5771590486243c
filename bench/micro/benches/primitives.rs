//! keygate's primitives not benchmarked beside their crates (those are in
//! `crates/keygate/benches/{verify,rate_limit}.rs`): parse + checksum, SHA-256 and HMAC
//! (keygate's per-call keying beside a pre-keyed state), a scope check against 50
//! scopes, a `CachedStore` hit, and a verification through the cache.
//!
//! Run: `cargo xtask bench micro` (all micro-benchmarks, one table) or
//! `cargo bench -p bench-micro`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use keygate::hash::KeyHasher;
use keygate::key_format::{self, ParsedKey};
use keygate::{
    KeyGate, KeyRecord, KeyStore, MemoryStore, Principal, Requirement, ScopeSet, VerifyRequest,
};
use keygate_moka::CachedStore;
use sha2::Sha256;

fn key() -> String {
    key_format::generate("keygate_sk", "live")
        .unwrap()
        .expose()
        .to_owned()
}

fn record(key: &str, scopes: ScopeSet) -> KeyRecord {
    let hint = ParsedKey::parse(key).unwrap().hint();
    KeyRecord::new(
        KeyHasher::Sha256.hash(key),
        hint,
        "keygate_sk",
        "live",
        "b",
        "acme",
    )
    .with_scopes(scopes)
}

fn hashing(c: &mut Criterion) {
    let key = key();
    let mut g = c.benchmark_group("primitive");
    g.bench_function("parse_and_checksum_valid", |b| {
        b.iter(|| ParsedKey::parse(black_box(&key)).unwrap())
    });
    g.bench_function("sha256_of_key", |b| {
        b.iter(|| KeyHasher::Sha256.hash(black_box(&key)))
    });
    let pepper = b"a server-side pepper of 32 bytes".to_vec();
    let keygate_hmac = KeyHasher::hmac_sha256(pepper.clone());
    g.bench_function("hmac_keygate_hasher", |b| {
        b.iter(|| keygate_hmac.hash(black_box(&key)))
    });
    let prekeyed = <Hmac<Sha256> as Mac>::new_from_slice(&pepper).unwrap();
    g.bench_function("hmac_prekeyed_state_clone", |b| {
        b.iter(|| {
            let mut mac = prekeyed.clone();
            mac.update(black_box(key.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    g.finish();
}

fn scopes(c: &mut Criterion) {
    let names: Vec<String> = (0..49)
        .map(|i| format!("read:resource{i:02}"))
        .chain(["write:hello".to_owned()])
        .collect();
    let set = ScopeSet::parse(&names).unwrap();
    assert_eq!(set.len(), 50);
    let key = key();
    let principal = Principal::from_record(&record(&key, set.clone()), set.clone());
    let last = Requirement::parse("write:hello").unwrap();
    let missing = Requirement::parse("delete:hello").unwrap();
    let mut g = c.benchmark_group("scope_check_50");
    g.bench_function("requirement_granted", |b| {
        b.iter(|| black_box(&last).is_satisfied_by(black_box(&set)))
    });
    g.bench_function("requirement_refused", |b| {
        b.iter(|| black_box(&missing).is_satisfied_by(black_box(&set)))
    });
    g.bench_function("principal_has_scope_str", |b| {
        b.iter(|| black_box(&principal).has_scope(black_box("write:hello")))
    });
    g.finish();
}

fn cache(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = Arc::new(MemoryStore::new());
    let key = key();
    let scopes = ScopeSet::parse(["read:hello"]).unwrap();
    rt.block_on(async {
        memory.insert(&record(&key, scopes.clone())).await.unwrap();
        for _ in 0..9_999 {
            memory
                .insert(&record(&self::key(), scopes.clone()))
                .await
                .unwrap();
        }
    });
    let cached = CachedStore::new(memory.clone());
    let hash = KeyHasher::Sha256.hash(&key);
    rt.block_on(cached.find_by_hash(&hash)).unwrap().unwrap();
    let gate = KeyGate::builder(cached.clone())
        .prefix("keygate_sk")
        .envs(["live"])
        .build();
    rt.block_on(gate.verify(VerifyRequest::key(&key))).unwrap();

    let mut g = c.benchmark_group("store");
    g.bench_function("cached_store_hit", |b| {
        b.iter(|| rt.block_on(cached.find_by_hash(black_box(&hash))).unwrap())
    });
    g.bench_function("memory_store_hit", |b| {
        b.iter(|| rt.block_on(memory.find_by_hash(black_box(&hash))).unwrap())
    });
    g.bench_function("verify_warm_cached_store", |b| {
        b.iter(|| {
            rt.block_on(gate.verify(VerifyRequest::key(black_box(&key))))
                .unwrap()
        })
    });
    g.bench_function("block_on_empty", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = hashing, scopes, cache
}
criterion_main!(benches);

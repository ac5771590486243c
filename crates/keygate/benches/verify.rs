//! `Verifier::verify` on a valid key and on a bad-checksum key, beside SHA-256 of the
//! same key: the checksum must make rejecting garbage cheaper than hashing it.
//!
//! Run: `cargo bench -p keygate --bench verify` (or `cargo xtask bench`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use keygate::hash::KeyHasher;
use keygate::{key_format, KeyRecord, KeyStore, MemoryStore, ScopeSet, Verifier, VerifyRequest};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let key = key_format::generate("sk", "live").unwrap();
    let key = key.expose().to_owned();
    let record = KeyRecord::new(
        KeyHasher::Sha256.hash(&key),
        "hint",
        "sk",
        "live",
        "bench",
        "acme",
    )
    .with_scopes(ScopeSet::parse(["read:scans", "write:scans"]).unwrap());
    rt.block_on(store.insert(&record)).unwrap();
    // Many other keys, so the lookup is not trivially a one-entry map.
    for i in 0..10_000 {
        let other = KeyRecord::new(
            KeyHasher::Sha256.hash(&format!("other{i}")),
            "h",
            "sk",
            "live",
            "o",
            "acme",
        );
        rt.block_on(store.insert(&other)).unwrap();
    }
    let verifier = Verifier::builder(store).prefix("sk").envs(["live"]).build();

    let mut bad = key.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();

    let mut group = c.benchmark_group("verify");
    // A warm key and a bad checksum are answered from memory: the verify future is
    // ready at its first poll, so it is polled once here (`now_or_never`) and no
    // executor round-trip is measured; `*_block_on` shows that round-trip beside it.
    group.bench_function("valid_key", |b| {
        b.iter(|| {
            verifier
                .verify(VerifyRequest::key(black_box(&key)))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    group.bench_function("bad_checksum", |b| {
        b.iter(|| {
            verifier
                .verify(VerifyRequest::key(black_box(&bad)))
                .now_or_never()
                .unwrap()
                .unwrap_err()
        })
    });
    group.bench_function("valid_key_block_on", |b| {
        b.iter(|| {
            rt.block_on(verifier.verify(VerifyRequest::key(black_box(&key))))
                .unwrap()
        })
    });
    group.bench_function("sha256_of_key", |b| {
        b.iter(|| KeyHasher::Sha256.hash(black_box(&key)))
    });
    // Attribution: the parse/checksum step alone, and the executor's own cost per call.
    group.bench_function("parse_bad_checksum", |b| {
        b.iter(|| key_format::ParsedKey::parse(black_box(&bad)).unwrap_err())
    });
    group.bench_function("block_on_empty", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

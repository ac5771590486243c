//! Verify latency: a warm cache vs a cold SQLite lookup vs a cold PostgreSQL lookup,
//! with 10k keys in the table, and 1M when `KEYGATE_BENCH_FULL` is set.
//!
//! ```text
//! cargo bench -p keygate-sqlx --bench verify
//! KEYGATE_BENCH_FULL=1 KEYGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p keygate-sqlx --bench verify
//! ```
//!
//! "Cold" means no cache: every verification is one indexed lookup by hash. PostgreSQL
//! is skipped when `KEYGATE_TEST_POSTGRES_URL` is unset or unreachable. Filler rows go
//! in with multi-row INSERTs (SQLite) and COPY (PostgreSQL), in one transaction. After
//! each size, a side-by-side pass prints the three latencies and their ratios.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keygate::hash::KeyHasher;
use keygate::{KeyGate, KeyRecord, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;
use keygate_sqlx::{PostgresStore, SqliteStore};
use sqlx::{QueryBuilder, Sqlite};
use tokio::runtime::Runtime;

/// Real keys looked up in turn (the rest of the table is filler).
const PROBES: usize = 100;

struct Fixture {
    rt: Runtime,
    sqlite: SqliteStore,
    postgres: Option<PostgresStore>,
    keys: Vec<String>,
    rows: usize,
    _file: TempFile,
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn suffix() -> String {
    let mut buf = [0u8; 6];
    getrandom::fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

async fn postgres() -> Option<PostgresStore> {
    let Ok(url) = std::env::var("KEYGATE_TEST_POSTGRES_URL") else {
        eprintln!("postgres: skipped (KEYGATE_TEST_POSTGRES_URL is not set)");
        return None;
    };
    let store = PostgresStore::builder(&url)
        .schema(format!("kg_bench_{}", suffix()))
        .acquire_timeout(Duration::from_secs(3))
        .connect()
        .await;
    match store {
        Ok(store) => Some(store),
        Err(err) => {
            eprintln!("postgres: skipped ({err})");
            None
        }
    }
}

fn filler(i: usize) -> (String, Vec<u8>) {
    let id = format!("key_f{i:015}");
    let hash = KeyHasher::Sha256.hash(&id).as_bytes().to_vec();
    (id, hash)
}

async fn fill_sqlite(store: &SqliteStore, from: usize, to: usize) {
    let mut tx = store.pool().begin().await.unwrap();
    let rows: Vec<usize> = (from..to).collect();
    for chunk in rows.chunks(2000) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO keygate_keys (id, hash, hint, prefix, env, name, tenant, kind, created_at) ",
        );
        q.push_values(chunk, |mut row, &i| {
            let (id, hash) = filler(i);
            row.push_bind(id)
                .push_bind(hash)
                .push_bind("sk_live_…fill")
                .push_bind("sk")
                .push_bind("live")
                .push_bind("filler")
                .push_bind("bench")
                .push_bind("service")
                .push_bind(1_700_000_000_000_000_i64 + i as i64);
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn fill_postgres(store: &PostgresStore, from: usize, to: usize) {
    let mut tx = store.pool().begin().await.unwrap();
    let mut copy = tx
        .copy_in_raw(
            "COPY keygate_keys (id, hash, hint, prefix, env, name, tenant, kind, created_at) \
             FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    for i in from..to {
        let (id, hash) = filler(i);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(
            buf,
            "{id},\\x{hex},sk_live_…fill,sk,live,filler,bench,service,2024-01-01 00:00:00+00"
        )
        .unwrap();
        if buf.len() > (1 << 20) {
            copy.send(std::mem::take(&mut buf)).await.unwrap();
        }
    }
    copy.send(buf).await.unwrap();
    copy.finish().await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE keygate_keys")
        .execute(store.pool())
        .await
        .unwrap();
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let file = TempFile(std::env::temp_dir().join(format!("keygate-bench-{}.db", suffix())));
        let (sqlite, postgres, keys) = rt.block_on(async {
            let sqlite = SqliteStore::connect(&format!("sqlite://{}", file.0.display()))
                .await
                .unwrap();
            let postgres = postgres().await;
            let mut keys = Vec::new();
            for i in 0..PROBES {
                let (key, record) =
                    KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", format!("p{i}"), "bench")
                        .unwrap();
                sqlite.insert(&record).await.unwrap();
                if let Some(pg) = &postgres {
                    pg.insert(&record).await.unwrap();
                }
                keys.push(key.expose().to_owned());
            }
            (sqlite, postgres, keys)
        });
        Self {
            rt,
            sqlite,
            postgres,
            keys,
            rows: PROBES,
            _file: file,
        }
    }

    /// Grows both tables to `rows` keys.
    fn grow_to(&mut self, rows: usize) {
        let (from, to) = (self.rows, rows);
        let start = Instant::now();
        self.rt.block_on(async {
            fill_sqlite(&self.sqlite, from, to).await;
            if let Some(pg) = &self.postgres {
                fill_postgres(pg, from, to).await;
            }
        });
        eprintln!("seeded {} rows in {:?}", to - from, start.elapsed());
        self.rows = rows;
    }

    /// The gates to compare, by name.
    fn gates(&self) -> Vec<(&'static str, KeyGate)> {
        let warm = KeyGate::builder(CachedStore::new(self.sqlite.clone())).build();
        self.rt.block_on(async {
            for key in &self.keys {
                warm.verify(VerifyRequest::key(key)).await.unwrap();
            }
        });
        let mut gates = vec![
            ("warm cache", warm),
            ("cold sqlite", KeyGate::builder(self.sqlite.clone()).build()),
        ];
        if let Some(pg) = &self.postgres {
            gates.push(("cold postgres", KeyGate::builder(pg.clone()).build()));
        }
        gates
    }

    /// Mean time per verification, `n` of them.
    fn time(&self, gate: &KeyGate, n: usize) -> Duration {
        self.rt.block_on(async {
            let start = Instant::now();
            for i in 0..n {
                let key = &self.keys[i % self.keys.len()];
                black_box(gate.verify(VerifyRequest::key(key)).await.unwrap());
            }
            start.elapsed() / n as u32
        })
    }

    fn bench(&self, c: &mut Criterion) {
        let gates = self.gates();
        let mut group = c.benchmark_group(format!("verify/{}_keys", self.rows));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for (name, gate) in &gates {
            let mut i = 0usize;
            group.bench_function(*name, |b| {
                b.to_async(&self.rt).iter(|| {
                    i = i.wrapping_add(1);
                    let key = &self.keys[i % self.keys.len()];
                    let gate = gate.clone();
                    async move { black_box(gate.verify(VerifyRequest::key(key)).await.unwrap()) }
                });
            });
        }
        group.finish();
        self.side_by_side(&gates);
    }

    /// The three variants timed in alternation, so they share the machine's state.
    fn side_by_side(&self, gates: &[(&'static str, KeyGate)]) {
        let mut totals = vec![Duration::ZERO; gates.len()];
        for _ in 0..5 {
            for (total, (_, gate)) in totals.iter_mut().zip(gates) {
                *total += self.time(gate, 2000);
            }
        }
        let warm = totals[0] / 5;
        eprintln!("side by side at {} keys:", self.rows);
        for ((name, _), total) in gates.iter().zip(&totals) {
            let mean = *total / 5;
            eprintln!(
                "  {name:<14} {:>9.2} µs/verify  {:>7.1}x warm cache",
                mean.as_secs_f64() * 1e6,
                mean.as_secs_f64() / warm.as_secs_f64()
            );
        }
    }

    fn cleanup(&self) {
        if let Some(pg) = &self.postgres {
            self.rt.block_on(async {
                if let Some(schema) = pg.schema() {
                    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                        .execute(pg.pool())
                        .await;
                }
                pg.pool().close().await;
            });
        }
    }
}

fn verify(c: &mut Criterion) {
    let mut fixture = Fixture::new();
    fixture.grow_to(10_000);
    fixture.bench(c);
    if std::env::var_os("KEYGATE_BENCH_FULL").is_some() {
        fixture.grow_to(1_000_000);
        fixture.bench(c);
    } else {
        eprintln!("1M keys: skipped (set KEYGATE_BENCH_FULL=1)");
    }
    fixture.cleanup();
}

criterion_group!(benches, verify);
criterion_main!(benches);

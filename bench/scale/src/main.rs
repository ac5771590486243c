//! `cargo xtask bench scale [--quick]`: keygate's SQL stores at 1,000,000 keys.
//!
//! For SQLite (a temporary file) and PostgreSQL (`KEYGATE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, in a schema of its own, dropped after;
//! skipped with the reason when unreachable):
//! 1. 10,000 real keys through the store's `insert` (timed: the API's write rate), then
//!    filler rows up to 1,000,000 written straight into `keygate_keys` in one transaction
//!    (multi-row INSERT / COPY; the table layout of `keygate-sqlx`'s migrations);
//! 2. cold verification: `KeyGate::verify` with no cache, each of 2,000 real keys once,
//!    in random order: p50, p99 and mean;
//! 3. memory (SQLite only): the process's resident set before and after 100,000 keys
//!    are loaded into a `CachedStore` (`/proc/self/statm`), per cached key.
//!
//! `--quick`: 100,000 keys, 1,000 probes, 10,000 cached. Every loop is bounded by its
//! count.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use keygate::hash::KeyHasher;
use keygate::{KeyGate, KeyId, KeyRecord, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;
use keygate_sqlx::{PostgresStore, SqliteStore};
use sqlx::{QueryBuilder, Sqlite};

type Error = Box<dyn std::error::Error>;

struct Sizes {
    total: usize,
    api: usize,
    probes: usize,
    cached: usize,
}

fn filler(i: usize) -> (String, Vec<u8>) {
    let id = KeyId::generate().to_string();
    let hash = KeyHasher::Sha256
        .hash(&format!("filler-{i}"))
        .as_bytes()
        .to_vec();
    (id, hash)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Inserts `n` real keys through the store API; returns their plaintexts and the time.
async fn api_keys(store: &impl KeyStore, n: usize) -> Result<(Vec<String>, Duration), Error> {
    let start = Instant::now();
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let (key, record) =
            KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", format!("k{i}"), "bench")?;
        store.insert(&record).await?;
        keys.push(key.expose().to_owned());
    }
    Ok((keys, start.elapsed()))
}

async fn fill_sqlite(store: &SqliteStore, n: usize) -> Result<Duration, Error> {
    let start = Instant::now();
    let mut tx = store.pool().begin().await?;
    let rows: Vec<usize> = (0..n).collect();
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
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(start.elapsed())
}

async fn fill_postgres(store: &PostgresStore, n: usize) -> Result<Duration, Error> {
    let start = Instant::now();
    let mut tx = store.pool().begin().await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY keygate_keys (id, hash, hint, prefix, env, name, tenant, kind, created_at) \
             FROM STDIN (FORMAT csv)",
        )
        .await?;
    let mut buf = Vec::with_capacity(1 << 20);
    for i in 0..n {
        let (id, hash) = filler(i);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(
            buf,
            "{id},\\x{hex},sk_live_…fill,sk,live,filler,bench,service,2024-01-01 00:00:00+00"
        )?;
        if buf.len() > (1 << 20) {
            copy.send(std::mem::take(&mut buf)).await?;
        }
    }
    copy.send(buf).await?;
    copy.finish().await?;
    tx.commit().await?;
    sqlx::query("ANALYZE keygate_keys")
        .execute(store.pool())
        .await?;
    Ok(start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Cold verifications of `probes` real keys in a shuffled order: (p50, p99, mean).
async fn cold(
    store: impl KeyStore,
    keys: &[String],
    probes: usize,
) -> Result<[Duration; 3], Error> {
    let gate = KeyGate::builder(store).prefix("sk").build();
    let mut order: Vec<usize> = (0..keys.len().min(probes)).collect();
    // A fixed xorshift shuffle: no rand dependency, the same order every run.
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..order.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut times = Vec::with_capacity(order.len());
    for &i in &order {
        let start = Instant::now();
        gate.verify(VerifyRequest::key(&keys[i])).await?;
        times.push(start.elapsed());
    }
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    times.sort();
    Ok([percentile(&times, 0.5), percentile(&times, 0.99), mean])
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

struct Row {
    backend: &'static str,
    api: (usize, Duration),
    fill: (usize, Duration),
    cold: [Duration; 3],
}

async fn sqlite(sizes: &Sizes, dir: &std::path::Path) -> Result<(Row, String), Error> {
    let path = dir.join(format!("scale-{}.db", std::process::id()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await?;
    let (keys, api_time) = api_keys(&store, sizes.api).await?;
    let fill_n = sizes.total - sizes.api;
    let fill_time = fill_sqlite(&store, fill_n).await?;
    let cold = cold(store.clone(), &keys, sizes.probes).await?;

    // Memory: the same lookups once without a cache (SQLite's page cache and the
    // allocator warm up), then into a CachedStore.
    let hashes: Vec<_> = (0..sizes.cached)
        .map(|i| KeyHasher::Sha256.hash(&format!("filler-{i}")))
        .collect();
    for h in &hashes {
        store.find_by_hash(h).await?;
    }
    let cached = CachedStore::builder(store.clone())
        .max_keys(sizes.cached as u64 * 2)
        .ttl(Duration::from_secs(3600))
        .build();
    let before = rss_bytes();
    let mut found = 0usize;
    for h in &hashes {
        found += usize::from(cached.find_by_hash(h).await?.is_some());
    }
    // Let moka apply its pending writes before reading the resident set.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    let entries = cached.stats().key_entries;
    let memory = format!(
        "| SQLite + CachedStore | {} | {found} | {} | {:.1} MiB | {:.1} MiB | **{:.0}** |\n",
        sizes.cached,
        entries,
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        after.saturating_sub(before) as f64 / found.max(1) as f64
    );
    drop(cached);
    store.pool().close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok((
        Row {
            backend: "SQLite (file)",
            api: (sizes.api, api_time),
            fill: (fill_n, fill_time),
            cold,
        },
        memory,
    ))
}

async fn postgres(sizes: &Sizes) -> Result<Row, String> {
    let url = std::env::var("KEYGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("kg_scale_{}", std::process::id());
    let store = PostgresStore::builder(&url)
        .schema(schema.clone())
        .acquire_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("{url} unreachable: {e}"))?;
    let result = async {
        let (keys, api_time) = api_keys(&store, sizes.api).await?;
        let fill_n = sizes.total - sizes.api;
        let fill_time = fill_postgres(&store, fill_n).await?;
        let cold = cold(store.clone(), &keys, sizes.probes).await?;
        Ok::<_, Error>(Row {
            backend: "PostgreSQL (127.0.0.1)",
            api: (sizes.api, api_time),
            fill: (fill_n, fill_time),
            cold,
        })
    }
    .await;
    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await;
    store.pool().close().await;
    result.map_err(|e| e.to_string())
}

fn main() -> Result<(), Error> {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            total: 100_000,
            api: 2_000,
            probes: 1_000,
            cached: 10_000,
        }
    } else {
        Sizes {
            total: 1_000_000,
            api: 10_000,
            probes: 2_000,
            cached: 100_000,
        }
    };
    let dir = std::env::var_os("KEYGATE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (sqlite_row, memory) = rt.block_on(sqlite(&sizes, &dir))?;
    let pg = rt.block_on(postgres(&sizes));

    let mut out = format!(
        "### Scale: {} keys per store, cold verification (no cache) of {} real keys in random order\n\n",
        sizes.total, sizes.probes
    );
    out.push_str("| store | keys via `insert` (API) | API write rate | filler rows (direct SQL, one transaction) | fill time | cold verify p50 µs | p99 µs | mean µs |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let mut rows = vec![sqlite_row];
    let mut skipped = String::new();
    match pg {
        Ok(r) => rows.push(r),
        Err(e) => skipped = format!("\nPostgreSQL skipped: {e}\n"),
    }
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} in {:.1} s | {:.0}/s | {} | {:.1} s | {} | {} | {} |\n",
            r.backend,
            r.api.0,
            r.api.1.as_secs_f64(),
            r.api.0 as f64 / r.api.1.as_secs_f64(),
            r.fill.0,
            r.fill.1.as_secs_f64(),
            us(r.cold[0]),
            us(r.cold[1]),
            us(r.cold[2]),
        ));
    }
    out.push_str(&skipped);
    out.push_str(
        "\n### Memory of the cache (resident set of this process, `/proc/self/statm`)\n\n",
    );
    out.push_str("| cache | keys looked up | found | cache entries | RSS before | RSS after | bytes per cached key |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    out.push_str(&memory);
    println!("{out}");
    Ok(())
}

//! A revoke on one instance reaches another instance's cache: through NOTIFY on
//! PostgreSQL (within 100 ms), through the polled change table on SQLite (within about
//! a second). Each test prints the measured times.

mod common;

use std::time::{Duration, Instant};

use common::key;
use keygate::{KeyGate, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;

/// One instance: a cache (TTL one hour, so only invalidation can refresh it) that
/// follows `feed`, and a gate over it.
struct Instance<S: KeyStore> {
    cache: CachedStore<S>,
    gate: KeyGate,
}

impl<S: KeyStore + Clone> Instance<S> {
    fn new(store: &S) -> Self {
        let cache = CachedStore::builder(store.clone())
            .ttl(Duration::from_secs(3600))
            .build();
        let gate = KeyGate::builder(cache.clone()).prefix("sk").build();
        Self { cache, gate }
    }

    async fn accepts(&self, key: &str) -> bool {
        self.gate.verify(VerifyRequest::key(key)).await.is_ok()
    }

    /// Waits until the follower has connected (its first batch drops everything).
    async fn wait_until_following(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cache.stats().invalidations == 0 {
            assert!(Instant::now() < deadline, "the feed never connected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Revokes `rounds` keys through `writer`'s cache and measures how long `reader` keeps
/// accepting each one, failing past `limit`.
async fn measure<S: KeyStore + Clone>(
    writer: &Instance<S>,
    reader: &Instance<S>,
    rounds: usize,
    limit: Duration,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let (plain, record) = key(&format!("k{i}"));
        writer
            .cache
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(writer.accepts(&plain).await);
        assert!(reader.accepts(&plain).await, "cached on the reader now");

        writer
            .cache
            .revoke(&record.id, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let start = Instant::now();
        assert!(
            !writer.accepts(&plain).await,
            "the writer sees its own revoke at once"
        );
        while reader.accepts(&plain).await {
            assert!(
                start.elapsed() < limit,
                "the reader still accepts a revoked key after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(start.elapsed());
    }
    times
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "{label}: revoke propagation median {median:?}, max {max:?} over {} revokes",
        times.len()
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revoke_reaches_another_instance_within_100_ms() {
    common::pg::with_postgres("postgres propagation", |pg| async move {
        let schema = pg.schema();
        let (store_a, store_b) = (pg.store_in(&schema).await, pg.store_in(&schema).await);
        let (a, b) = (Instance::new(&store_a), Instance::new(&store_b));
        let feeds = [
            a.cache.follow(store_a.invalidations()),
            b.cache.follow(store_b.invalidations()),
        ];
        a.wait_until_following().await;
        b.wait_until_following().await;

        let times = measure(&a, &b, 20, Duration::from_millis(100)).await;
        report("postgres (LISTEN/NOTIFY)", times);
        for feed in feeds {
            feed.abort();
        }
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_revoke_reaches_another_process_within_a_second() {
    // Two stores on one file: two connection pools, as two processes would have.
    let db = common::TempDb::new();
    let open = || async {
        keygate_sqlx::SqliteStore::connect(&db.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (store_a, store_b) = (open().await, open().await);
    let (a, b) = (Instance::new(&store_a), Instance::new(&store_b));
    // The default interval: one poll a second.
    let feeds = [
        a.cache.follow(store_a.changes()),
        b.cache.follow(store_b.changes()),
    ];
    a.wait_until_following().await;
    b.wait_until_following().await;

    let times = measure(&a, &b, 3, Duration::from_millis(1500)).await;
    report("sqlite (change table polled every 1 s)", times);
    for feed in feeds {
        feed.abort();
    }
}

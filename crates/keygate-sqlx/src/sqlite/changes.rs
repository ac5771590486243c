//! [`SqliteChanges`]: polls the change table so a cache sees writes made by other
//! processes (the CLI, another instance) on the same file.

use std::time::Duration;

use async_trait::async_trait;
use keygate::store::BoxError;
use keygate_moka::{Invalidation, InvalidationSource};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

/// Default time between two polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Rows read per poll; a poll that fills it is followed at once by the next.
const BATCH: i64 = 1000;

/// The change feed of a [`SqliteStore`](crate::SqliteStore): an
/// [`InvalidationSource`] that reads new rows of `keygate_changes` every
/// [`interval`](SqliteChanges::interval) (1 s by default).
///
/// The first batch is [`Invalidation::All`] (whatever was cached before the feed
/// started may be stale), then one invalidation per change. If the poller fell so far
/// behind that pruned rows were lost, it yields [`Invalidation::All`] again. The feed
/// ends when the store's pool is closed.
///
/// ```
/// use std::time::Duration;
/// use keygate_moka::CachedStore;
/// use keygate_sqlx::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// let cached = CachedStore::new(store.clone());
/// let feed = cached.follow(store.changes().interval(Duration::from_millis(250)));
/// # feed.abort();
/// # Ok::<(), keygate_sqlx::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use]
pub struct SqliteChanges {
    pool: SqlitePool,
    interval: Duration,
    last: Option<i64>,
    behind: bool,
}

impl SqliteChanges {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            interval: DEFAULT_POLL_INTERVAL,
            last: None,
            behind: false,
        }
    }

    /// Time between two polls (default 1 s): a change made by another process reaches
    /// the cache within about this long.
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every;
        self
    }

    async fn start(&mut self) -> Result<Vec<Invalidation>, BoxError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM keygate_changes")
            .fetch_one(&self.pool)
            .await?;
        self.last = Some(last.unwrap_or(0));
        Ok(vec![Invalidation::All])
    }

    async fn poll(&mut self, last: i64) -> Result<Vec<Invalidation>, BoxError> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM keygate_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        self.behind = rows.len() as i64 == BATCH;
        let mut batch = Vec::with_capacity(rows.len());
        let mut expected = last + 1;
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let payload: String = row.try_get("payload")?;
            if seq != expected && last > 0 {
                // Rows between were pruned before we read them.
                batch.push(Invalidation::All);
            }
            expected = seq + 1;
            batch.push(payload.parse().unwrap_or_else(|err| {
                tracing::warn!(%err, "keygate: unreadable change row; dropping the whole cache");
                Invalidation::All
            }));
            self.last = Some(seq);
        }
        Ok(batch)
    }
}

#[async_trait]
impl InvalidationSource for SqliteChanges {
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>> {
        loop {
            if self.pool.is_closed() {
                return None;
            }
            let Some(last) = self.last else {
                return Some(self.start().await);
            };
            if !self.behind {
                tokio::time::sleep(self.interval).await;
            }
            match self.poll(last).await {
                // Nothing new: poll again.
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => return Some(Ok(batch)),
                Err(_) if self.pool.is_closed() => return None,
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

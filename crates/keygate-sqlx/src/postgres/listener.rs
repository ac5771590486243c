//! [`PgInvalidations`]: `LISTEN` on a store's channel, as an [`InvalidationSource`].

use async_trait::async_trait;
use keygate::store::BoxError;
use keygate_moka::{Invalidation, InvalidationSource};
use sqlx::postgres::{PgListener, PgNotification, PgPool};

/// The change feed of a [`PostgresStore`](crate::PostgresStore): every instance's
/// writes, as they commit.
///
/// It connects on first use and then yields [`Invalidation::All`] (anything cached
/// before it listened may be stale); likewise after every reconnection, since
/// notifications sent while disconnected are lost. It holds one connection of the
/// store's pool, and ends when the pool is closed.
///
/// ```no_run
/// use keygate_moka::CachedStore;
/// use keygate_sqlx::PostgresStore;
/// # async fn run() -> Result<(), keygate_sqlx::Error> {
/// let store = PostgresStore::connect("postgres://keygate@db.internal/keygate").await?;
/// let cached = CachedStore::new(store.clone());
/// let _feed = cached.follow(store.invalidations());
/// # Ok(()) }
/// ```
pub struct PgInvalidations {
    pool: PgPool,
    channel: String,
    listener: Option<PgListener>,
}

impl std::fmt::Debug for PgInvalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgInvalidations")
            .field("channel", &self.channel)
            .field("connected", &self.listener.is_some())
            .finish()
    }
}

fn parse(notification: &PgNotification) -> Invalidation {
    notification.payload().parse().unwrap_or_else(|err| {
        tracing::warn!(%err, "keygate: unreadable notification; dropping the whole cache");
        Invalidation::All
    })
}

impl PgInvalidations {
    pub(crate) fn new(pool: PgPool, channel: String) -> Self {
        Self {
            pool,
            channel,
            listener: None,
        }
    }

    /// The channel listened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    async fn listen(&mut self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        self.listener = Some(listener);
        Ok(())
    }
}

#[async_trait]
impl InvalidationSource for PgInvalidations {
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>> {
        if self.pool.is_closed() {
            return None;
        }
        let Some(listener) = self.listener.as_mut() else {
            return Some(match self.listen().await {
                Ok(()) => Ok(vec![Invalidation::All]),
                Err(_) if self.pool.is_closed() => return None,
                Err(err) => Err(err.into()),
            });
        };
        match listener.try_recv().await {
            Ok(Some(first)) => {
                let mut batch = vec![parse(&first)];
                while let Some(more) = listener.next_buffered() {
                    batch.push(parse(&more));
                }
                Some(Ok(batch))
            }
            // The connection dropped and was re-established: messages may be lost.
            Ok(None) => Some(Ok(vec![Invalidation::All])),
            Err(_) if self.pool.is_closed() => None,
            Err(err) => {
                self.listener = None;
                Some(Err(err.into()))
            }
        }
    }
}

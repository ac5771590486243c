//! The task that applies an [`InvalidationSource`] to a cache.

use std::sync::Weak;
use std::time::Duration;

use crate::invalidation::InvalidationSource;
use crate::invalidator::Caches;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// Spawns the follower; it ends when the source ends or the cache is dropped.
pub(crate) fn spawn(
    caches: Weak<Caches>,
    mut source: impl InvalidationSource,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        while let Some(next) = source.next_batch().await {
            let Some(caches) = caches.upgrade() else {
                return;
            };
            match next {
                Ok(batch) => {
                    retry = FIRST_RETRY;
                    for invalidation in &batch {
                        tracing::debug!(%invalidation, "keygate: cache invalidation");
                        caches.apply(invalidation).await;
                    }
                }
                Err(err) => {
                    drop(caches);
                    tracing::warn!(error = %err, retry_in = ?retry, "keygate: invalidation source failed");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
        tracing::debug!("keygate: invalidation source ended");
    })
}

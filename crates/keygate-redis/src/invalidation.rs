//! Redis pub/sub for cache invalidation: a publisher for whoever changes keys, and a
//! [`InvalidationSource`] that every instance's `CachedStore` follows.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{FutureExt, StreamExt};
use keygate::store::BoxError;
use keygate_moka::{Invalidation, InvalidationSource};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubStream};
use redis::{AsyncCommands, Client, RedisError};
use tokio::sync::OnceCell;

/// The channel used when none is given.
pub const DEFAULT_CHANNEL: &str = "keygate:invalidate";

/// How long connecting, subscribing or publishing may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes [`Invalidation`]s on a Redis channel: the alternative to Postgres
/// `NOTIFY` for a fleet whose store has no notifications of its own.
///
/// Call it after a change commits (revoke, rotate, update, role edit); every instance
/// following a [`RedisInvalidationSource`] on the same channel drops the entry. Each
/// message is the invalidation's text form (a key hash in hex, `id:…`, `role:…`, `*`).
///
/// ```no_run
/// use keygate::hash::KeyHasher;
/// use keygate_moka::Invalidation;
/// use keygate_redis::RedisInvalidationPublisher;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let publisher = RedisInvalidationPublisher::new(redis::Client::open("redis://127.0.0.1")?);
/// let receivers = publisher.publish(&Invalidation::Key(KeyHasher::Sha256.hash("sk_live_x"))).await?;
/// println!("{receivers} instances told");
/// # Ok::<(), redis::RedisError>(()) }).unwrap();
/// ```
pub struct RedisInvalidationPublisher {
    client: Client,
    channel: String,
    connection: OnceCell<ConnectionManager>,
}

impl fmt::Debug for RedisInvalidationPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidationPublisher")
            .field("server", &self.client.get_connection_info().addr)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisInvalidationPublisher {
    /// Publishes on [`DEFAULT_CHANNEL`]; connects on first use.
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationPublisher;
    /// let publisher = RedisInvalidationPublisher::new(redis::Client::open("redis://127.0.0.1")?);
    /// assert_eq!(publisher.channel(), "keygate:invalidate");
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn new(client: Client) -> Self {
        Self::with_channel(client, DEFAULT_CHANNEL)
    }

    /// Publishes on `channel`.
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationPublisher;
    /// let client = redis::Client::open("redis://127.0.0.1")?;
    /// let publisher = RedisInvalidationPublisher::with_channel(client, "billing:invalidate");
    /// assert_eq!(publisher.channel(), "billing:invalidate");
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn with_channel(client: Client, channel: impl Into<String>) -> Self {
        Self {
            client,
            channel: channel.into(),
            connection: OnceCell::new(),
        }
    }

    /// The channel.
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationPublisher;
    /// let publisher = RedisInvalidationPublisher::new(redis::Client::open("redis://127.0.0.1")?);
    /// assert!(!publisher.channel().is_empty());
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Publishes one invalidation; returns how many subscribers received it. Fails
    /// (rather than waits) when Redis does not answer within 2 s.
    ///
    /// ```no_run
    /// use keygate_moka::Invalidation;
    /// use keygate_redis::RedisInvalidationPublisher;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let publisher = RedisInvalidationPublisher::new(redis::Client::open("redis://127.0.0.1")?);
    /// publisher.publish(&Invalidation::Role("viewer".into())).await?;
    /// # Ok::<(), redis::RedisError>(()) }).unwrap();
    /// ```
    pub async fn publish(&self, invalidation: &Invalidation) -> Result<u64, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(IO_TIMEOUT)
            .set_response_timeout(IO_TIMEOUT);
        let mut connection = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await?
            .clone();
        connection
            .publish(&self.channel, invalidation.to_string())
            .await
    }
}

/// Follows a Redis channel of [`Invalidation`]s: give it to
/// `CachedStore::follow` (keygate-moka) on every instance.
///
/// It subscribes on the first call to `next_batch` and again after the connection is
/// lost (reporting the loss as an error first, so the follower backs off). Messages
/// published while it was not subscribed are lost, as with any pub/sub, so every
/// (re)subscription yields [`Invalidation::All`] first: the cache starts over rather
/// than keep an entry that changed meanwhile. Messages that are not invalidations are
/// logged and skipped.
///
/// ```no_run
/// use keygate::MemoryStore;
/// use keygate_moka::CachedStore;
/// use keygate_redis::RedisInvalidationSource;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cached = CachedStore::new(MemoryStore::new());
/// let source = RedisInvalidationSource::new(redis::Client::open("redis://127.0.0.1")?);
/// let follower = cached.follow(source);
/// # follower.abort();
/// # Ok::<(), redis::RedisError>(()) }).unwrap();
/// ```
pub struct RedisInvalidationSource {
    client: Client,
    channel: String,
    messages: Option<PubSubStream>,
}

impl fmt::Debug for RedisInvalidationSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidationSource")
            .field("server", &self.client.get_connection_info().addr)
            .field("channel", &self.channel)
            .field("subscribed", &self.messages.is_some())
            .finish()
    }
}

impl RedisInvalidationSource {
    /// Follows [`DEFAULT_CHANNEL`].
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationSource;
    /// let source = RedisInvalidationSource::new(redis::Client::open("redis://127.0.0.1")?);
    /// assert_eq!(source.channel(), "keygate:invalidate");
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn new(client: Client) -> Self {
        Self::with_channel(client, DEFAULT_CHANNEL)
    }

    /// Follows `channel`.
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationSource;
    /// let client = redis::Client::open("redis://127.0.0.1")?;
    /// let source = RedisInvalidationSource::with_channel(client, "billing:invalidate");
    /// assert_eq!(source.channel(), "billing:invalidate");
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn with_channel(client: Client, channel: impl Into<String>) -> Self {
        Self {
            client,
            channel: channel.into(),
            messages: None,
        }
    }

    /// The channel.
    ///
    /// ```
    /// use keygate_redis::RedisInvalidationSource;
    /// let source = RedisInvalidationSource::new(redis::Client::open("redis://127.0.0.1")?);
    /// assert!(!source.channel().is_empty());
    /// # Ok::<(), redis::RedisError>(())
    /// ```
    pub fn channel(&self) -> &str {
        &self.channel
    }

    async fn subscribe(&self) -> Result<PubSubStream, BoxError> {
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, RedisError>(pubsub.into_on_message())
        };
        match tokio::time::timeout(IO_TIMEOUT, subscribe).await {
            Ok(result) => Ok(result?),
            Err(_) => Err("subscribing to the redis invalidation channel timed out".into()),
        }
    }
}

fn parse(channel: &str, message: &redis::Msg, into: &mut Vec<Invalidation>) {
    let payload = message.get_payload_bytes();
    match std::str::from_utf8(payload).map(str::parse::<Invalidation>) {
        Ok(Ok(invalidation)) => into.push(invalidation),
        _ => tracing::warn!(
            channel,
            payload = %String::from_utf8_lossy(payload).chars().take(80).collect::<String>(),
            "keygate-redis: ignoring a message that is not an invalidation"
        ),
    }
}

#[async_trait]
impl InvalidationSource for RedisInvalidationSource {
    async fn next_batch(&mut self) -> Option<Result<Vec<Invalidation>, BoxError>> {
        let Some(messages) = self.messages.as_mut() else {
            return Some(match self.subscribe().await {
                Ok(messages) => {
                    self.messages = Some(messages);
                    Ok(vec![Invalidation::All])
                }
                Err(err) => Err(err),
            });
        };
        loop {
            let Some(first) = messages.next().await else {
                self.messages = None;
                return Some(Err("redis pub/sub connection lost".into()));
            };
            let mut batch = Vec::new();
            parse(&self.channel, &first, &mut batch);
            while let Some(Some(more)) = messages.next().now_or_never() {
                parse(&self.channel, &more, &mut batch);
            }
            if !batch.is_empty() {
                return Some(Ok(batch));
            }
        }
    }
}

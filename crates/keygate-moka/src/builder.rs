//! Configuration of a [`CachedStore`].

use std::sync::Arc;
use std::time::Duration;

use keygate::clock::{Clock, SystemClock};
use keygate::KeyStore;

use crate::invalidator::Caches;
use crate::store::CachedStore;
use crate::tier::{Tier, TierConfig};

/// Default time a known key (or role) is answered from the cache: 30 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Default time an unknown key (or role) is answered from the cache: 5 seconds.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Default bound on cached keys: 100,000 entries (roughly 1 KB each).
pub const DEFAULT_MAX_KEYS: u64 = 100_000;
/// Default bound on cached roles: 10,000 entries.
pub const DEFAULT_MAX_ROLES: u64 = 10_000;

/// moka refuses expiry times above 1,000 years.
const LONGEST: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// Builds a [`CachedStore`].
///
/// | setting | default |
/// |---|---|
/// | [`ttl`](Self::ttl) (known keys and roles) | [`DEFAULT_TTL`], 30 s |
/// | [`negative_ttl`](Self::negative_ttl) (unknown keys and roles) | [`DEFAULT_NEGATIVE_TTL`], 5 s |
/// | [`max_keys`](Self::max_keys) | [`DEFAULT_MAX_KEYS`], 100,000 |
/// | [`max_roles`](Self::max_roles) | [`DEFAULT_MAX_ROLES`], 10,000 |
/// | [`stale_if_error`](Self::stale_if_error) | off: a down store means 503 |
/// | [`clock`](Self::clock) | the system clock |
///
/// ```
/// use std::time::Duration;
/// use keygate::MemoryStore;
/// use keygate_moka::CachedStore;
/// let cached = CachedStore::builder(MemoryStore::new())
///     .ttl(Duration::from_secs(60))
///     .negative_ttl(Duration::from_secs(2))
///     .max_keys(50_000)
///     .stale_if_error(Duration::from_secs(300))
///     .build();
/// # let _ = cached;
/// ```
#[must_use]
pub struct CachedStoreBuilder<S> {
    store: S,
    ttl: Duration,
    negative_ttl: Duration,
    max_keys: u64,
    max_roles: u64,
    stale_if_error: Option<Duration>,
    clock: Arc<dyn Clock>,
}

impl<S> std::fmt::Debug for CachedStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStoreBuilder")
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("max_keys", &self.max_keys)
            .field("max_roles", &self.max_roles)
            .field("stale_if_error", &self.stale_if_error)
            .finish_non_exhaustive()
    }
}

impl<S: KeyStore> CachedStoreBuilder<S> {
    pub(crate) fn new(store: S) -> Self {
        Self {
            store,
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_keys: DEFAULT_MAX_KEYS,
            max_roles: DEFAULT_MAX_ROLES,
            stale_if_error: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// How long a known key or role is answered without asking the store. Revokes
    /// made through this cache, or announced by an invalidation source, apply at once;
    /// this bounds how long a change made elsewhere, unannounced, can go unseen.
    /// Zero caches nothing (concurrent lookups still share one load).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an unknown key or role is answered without asking the store: keep it
    /// short, it shields the store from floods of bad keys.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// At most this many keys are cached (the least useful go first).
    pub fn max_keys(mut self, max: u64) -> Self {
        self.max_keys = max;
        self
    }

    /// At most this many roles are cached.
    pub fn max_roles(mut self, max: u64) -> Self {
        self.max_roles = max;
        self
    }

    /// While the store is unavailable, answer with a known key (or role) whose entry
    /// went stale less than `window` ago. Never for unknown keys, never for an entry
    /// that was invalidated. Off by default: without it a down store means 503 for
    /// every key not freshly cached.
    ///
    /// "Unavailable" is a load failing with `StoreError::Unavailable`: a store that
    /// cannot connect, or one that takes longer than its own time limit (keygate-sqlx's
    /// `query_timeout`). A store without a time limit that hangs is not unavailable to
    /// the cache: it waits with it.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = Some(window);
        self
    }

    /// The clock that ages entries (default: the system clock). Tests pass a
    /// [`keygate::clock::ManualClock`] and move time instead of sleeping.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, shared (for instance with the verifier).
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The cached store.
    ///
    /// # Panics
    /// If `ttl` plus the stale-if-error window, or `negative_ttl`, exceeds 1,000
    /// years (moka's limit for expiry times).
    pub fn build(self) -> CachedStore<S> {
        let config = |max_capacity| TierConfig {
            ttl: self.ttl,
            negative_ttl: self.negative_ttl,
            stale_if_error: self.stale_if_error,
            max_capacity,
        };
        let longest = self
            .ttl
            .saturating_add(self.stale_if_error.unwrap_or_default())
            .max(self.negative_ttl);
        assert!(
            longest <= LONGEST,
            "keygate-moka: cache durations must not exceed 1,000 years"
        );
        let caches = Caches::new(
            Tier::new(config(self.max_keys), Arc::clone(&self.clock), true),
            Tier::new(config(self.max_roles), self.clock, false),
        );
        CachedStore::from_parts(self.store, caches)
    }
}

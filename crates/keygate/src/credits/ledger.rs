//! The [`CreditLedger`] trait: where balances are spent.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::balance::{Credits, Refill};
use crate::id::KeyId;
use crate::rate_limit::RateLimitError;

/// What a spend decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// Whether the cost was spent (there were enough credits). A refused spend moves
    /// nothing.
    pub allowed: bool,
    /// The balance after the spend (or as it stands, when refused).
    pub remaining: u64,
    /// The refill interval the balance belongs to.
    pub period: i64,
}

/// What an instance spent from one balance since it last told the store: the store
/// subtracts it from the stored balance ([`KeyStore::settle_credits`]), so the stored
/// balance is every instance's spends together, whatever order they arrive in.
///
/// [`KeyStore::settle_credits`]: crate::KeyStore::settle_credits
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditSpend {
    /// The balance (see [`Credits::account`]).
    pub account: KeyId,
    /// The epoch the spends were counted in: dropped if an operator set the balance
    /// since.
    pub epoch: u64,
    /// The refill interval they were spent in: a stored balance of an earlier interval
    /// is refilled first (to the refill's amount), one of a later interval is left
    /// alone.
    pub period: i64,
    /// The balance's refill in this epoch.
    pub refill: Option<Refill>,
    /// Credits spent (net of refunds).
    pub spent: u64,
}

impl CreditSpend {
    /// The stored balance `stored` after this spend is settled on it (the rule every
    /// store follows; see [`KeyStore::settle_credits`](crate::KeyStore::settle_credits)).
    ///
    /// ```
    /// use keygate::credits::{CreditBalance, CreditSpend};
    /// use keygate::credits::Refill;
    /// let spend = CreditSpend { account: keygate::KeyId::generate(), epoch: 0, period: 7, refill: Refill::daily(100).ok(), spent: 30 };
    /// let same = CreditBalance { remaining: 50, period: 7 };
    /// assert_eq!(spend.settle(same), CreditBalance { remaining: 20, period: 7 });
    /// let earlier = CreditBalance { remaining: 5, period: 6 }; // refilled first
    /// assert_eq!(spend.settle(earlier), CreditBalance { remaining: 70, period: 7 });
    /// let later = CreditBalance { remaining: 5, period: 8 }; // left alone
    /// assert_eq!(spend.settle(later), later);
    /// ```
    pub fn settle(&self, stored: CreditBalance) -> CreditBalance {
        match stored.period.cmp(&self.period) {
            std::cmp::Ordering::Less => CreditBalance {
                remaining: self
                    .refill
                    .map_or(0, |r| r.amount)
                    .saturating_sub(self.spent),
                period: self.period,
            },
            std::cmp::Ordering::Equal => CreditBalance {
                remaining: stored.remaining.saturating_sub(self.spent),
                period: self.period,
            },
            std::cmp::Ordering::Greater => stored,
        }
    }
}

/// A stored balance after [`KeyStore::settle_credits`](crate::KeyStore::settle_credits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditBalance {
    /// Uses left.
    pub remaining: u64,
    /// The refill interval they belong to.
    pub period: i64,
}

/// Spends keys' credits, all or nothing, never below zero.
///
/// Implementations: [`MemoryCredits`](super::MemoryCredits) (one process: one locked
/// update per spend, balances written to the store in batches by the verifier's flush)
/// and `keygate_redis::RedisCredits` (one balance for every instance, one Lua script
/// per spend). Either way the store keeps each balance, settled at every flush, so a
/// restart starts from it.
///
/// ```
/// use keygate::credits::{CreditLedger, Credits, MemoryCredits};
/// use keygate::KeyId;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let ledger = MemoryCredits::new();
/// let now = chrono::Utc::now();
/// let credits = Credits::new(KeyId::generate(), 5, None, now)?;
/// assert_eq!(ledger.spend(&credits, 3, now).await?.remaining, 2);
/// assert!(!ledger.spend(&credits, 3, now).await?.allowed); // 2 left: refused, none spent
/// assert_eq!(ledger.spend(&credits, 2, now).await?.remaining, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[async_trait]
pub trait CreditLedger: Send + Sync + fmt::Debug + 'static {
    /// Spends `cost` from the balance `credits` describes (as last read from the
    /// store: the ledger's own balance wins while it has one of the same epoch), if it
    /// holds that many.
    async fn spend(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Spent, RateLimitError>;

    /// [`spend`](CreditLedger::spend) answered without waiting, when the ledger can
    /// (in process always; across the network never: the default). It must spend only
    /// when it answers `Some`.
    fn spend_sync(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Option<Result<Spent, RateLimitError>> {
        let _ = (credits, cost, now);
        None
    }

    /// Gives back `cost` spent by a request that was then refused by a rate limit.
    async fn refund(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<(), RateLimitError>;

    /// [`refund`](CreditLedger::refund) without waiting, when the ledger can.
    fn refund_sync(&self, credits: &Credits, cost: u64, now: DateTime<Utc>) -> Option<()> {
        let _ = (credits, cost, now);
        None
    }

    /// What was spent since the last call, per balance, for the store; nothing is
    /// reported twice.
    fn take_unsettled(&self) -> Vec<CreditSpend>;

    /// Puts back spends the store could not be told about, for the next flush.
    fn restore_unsettled(&self, spends: Vec<CreditSpend>);

    /// What the store holds after settling `spend` (`None`: the store dropped it, the
    /// balance having been set since): an in-process ledger catches up with the spends
    /// of other instances from it.
    fn settled(&self, spend: &CreditSpend, balance: Option<CreditBalance>) {
        let _ = (spend, balance);
    }
}

#[async_trait]
impl<L: CreditLedger + ?Sized> CreditLedger for Arc<L> {
    async fn spend(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Spent, RateLimitError> {
        (**self).spend(credits, cost, now).await
    }

    fn spend_sync(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Option<Result<Spent, RateLimitError>> {
        (**self).spend_sync(credits, cost, now)
    }

    async fn refund(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<(), RateLimitError> {
        (**self).refund(credits, cost, now).await
    }

    fn refund_sync(&self, credits: &Credits, cost: u64, now: DateTime<Utc>) -> Option<()> {
        (**self).refund_sync(credits, cost, now)
    }

    fn take_unsettled(&self) -> Vec<CreditSpend> {
        (**self).take_unsettled()
    }

    fn restore_unsettled(&self, spends: Vec<CreditSpend>) {
        (**self).restore_unsettled(spends);
    }

    fn settled(&self, spend: &CreditSpend, balance: Option<CreditBalance>) {
        (**self).settled(spend, balance);
    }
}

/// Spends noted per balance until the store is told: shared by every ledger (the
/// in-process one keeps its own inside each balance's lock).
#[derive(Debug, Default)]
pub struct Unsettled {
    spends: std::sync::Mutex<std::collections::HashMap<KeyId, CreditSpend>>,
}

impl Unsettled {
    /// Notes `spent` (negative: a refund) from `credits` in `period`.
    pub fn note(&self, credits: &Credits, period: i64, spent: i64) {
        let mut spends = self.lock();
        let noted = CreditSpend {
            account: credits.account.clone(),
            epoch: credits.epoch,
            period,
            refill: credits.refill,
            spent: 0,
        };
        let entry = spends
            .entry(credits.account.clone())
            .or_insert(noted.clone());
        if (noted.epoch, noted.period) > (entry.epoch, entry.period) {
            // A newer balance or interval: what was spent before no longer counts.
            *entry = noted;
        } else if (noted.epoch, noted.period) < (entry.epoch, entry.period) {
            return;
        }
        entry.spent = entry.spent.saturating_add_signed(spent);
    }

    /// Everything noted, emptied.
    pub fn take(&self) -> Vec<CreditSpend> {
        self.lock()
            .drain()
            .map(|(_, s)| s)
            .filter(|s| s.spent > 0)
            .collect()
    }

    /// Puts `spends` back: added to what was noted since in the same epoch and
    /// interval, dropped when a newer one was noted.
    pub fn restore(&self, restored: Vec<CreditSpend>) {
        let mut spends = self.lock();
        for spend in restored {
            let entry = spends.entry(spend.account.clone()).or_insert(CreditSpend {
                spent: 0,
                ..spend.clone()
            });
            if (spend.epoch, spend.period) == (entry.epoch, entry.period) {
                entry.spent = entry.spent.saturating_add(spend.spent);
            } else if (spend.epoch, spend.period) > (entry.epoch, entry.period) {
                *entry = spend;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<KeyId, CreditSpend>> {
        self.spends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

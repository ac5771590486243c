//! [`MemoryCredits`]: balances spent in process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::balance::{Credits, Refill};
use super::ledger::{CreditBalance, CreditLedger, CreditSpend, Spent};
use crate::id::KeyId;
use crate::rate_limit::RateLimitError;

/// Balances spent in this process: each spend is one locked update of the key's
/// balance (no I/O); the verifier's flush tells the store what was spent (a delta, so
/// several instances add up) and catches up with what other instances spent.
///
/// Exact for one instance. Several instances over one SQL store each spend from their
/// own view between flushes, so together they may overspend a balance by at most what
/// they spend in one flush interval; use `keygate_redis::RedisCredits` when that
/// matters. Holds one small entry per key with credits used since start.
#[derive(Debug, Default)]
pub struct MemoryCredits {
    cells: RwLock<HashMap<KeyId, Arc<Cell>, foldhash::fast::RandomState>>,
}

#[derive(Debug)]
struct Cell {
    state: Mutex<State>,
}

#[derive(Debug, Clone)]
struct State {
    epoch: u64,
    remaining: u64,
    period: i64,
    refill: Option<Refill>,
    /// Spent in (`epoch`, `period`) since the store was last told.
    unsettled: u64,
}

impl State {
    fn seed(credits: &Credits, now: DateTime<Utc>) -> Self {
        let (remaining, period) = credits.balance_at(now);
        Self {
            epoch: credits.epoch,
            remaining,
            period,
            refill: credits.refill,
            unsettled: 0,
        }
    }

    /// Brought up to `credits` (a newer epoch replaces it) and to `now` (a refill).
    fn catch_up(&mut self, credits: &Credits, now: DateTime<Utc>) {
        if credits.epoch > self.epoch {
            *self = Self::seed(credits, now);
            return;
        }
        if let Some(refill) = credits.refill {
            let current = refill.period_at(now);
            if current > self.period {
                self.remaining = refill.amount;
                self.period = current;
                self.unsettled = 0;
            }
        }
    }
}

impl MemoryCredits {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, credits: &Credits, now: DateTime<Utc>) -> Arc<Cell> {
        if let Some(cell) = self
            .cells
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&credits.account)
        {
            return cell.clone();
        }
        self.cells
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(credits.account.clone())
            .or_insert_with(|| {
                Arc::new(Cell {
                    state: Mutex::new(State::seed(credits, now)),
                })
            })
            .clone()
    }

    fn spend_now(&self, credits: &Credits, cost: u64, now: DateTime<Utc>) -> Spent {
        let cell = self.cell(credits, now);
        let mut state = cell.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.catch_up(credits, now);
        let allowed = state.remaining >= cost;
        if allowed {
            state.remaining -= cost;
            state.unsettled = state.unsettled.saturating_add(cost);
        }
        Spent {
            allowed,
            remaining: state.remaining,
            period: state.period,
        }
    }

    fn refund_now(&self, credits: &Credits, cost: u64, now: DateTime<Utc>) {
        let cell = self.cell(credits, now);
        let mut state = cell.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.catch_up(credits, now);
        state.remaining = state.remaining.saturating_add(cost);
        state.unsettled = state.unsettled.saturating_sub(cost);
    }
}

#[async_trait]
impl CreditLedger for MemoryCredits {
    async fn spend(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Spent, RateLimitError> {
        Ok(self.spend_now(credits, cost, now))
    }

    fn spend_sync(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Option<Result<Spent, RateLimitError>> {
        Some(Ok(self.spend_now(credits, cost, now)))
    }

    async fn refund(
        &self,
        credits: &Credits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<(), RateLimitError> {
        self.refund_now(credits, cost, now);
        Ok(())
    }

    fn refund_sync(&self, credits: &Credits, cost: u64, now: DateTime<Utc>) -> Option<()> {
        self.refund_now(credits, cost, now);
        Some(())
    }

    fn take_unsettled(&self) -> Vec<CreditSpend> {
        let cells = self.cells.read().unwrap_or_else(PoisonError::into_inner);
        let mut spends = Vec::new();
        for (account, cell) in cells.iter() {
            let mut state = cell.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.unsettled == 0 {
                continue;
            }
            spends.push(CreditSpend {
                account: account.clone(),
                epoch: state.epoch,
                period: state.period,
                refill: state.refill,
                spent: std::mem::take(&mut state.unsettled),
            });
        }
        spends
    }

    fn restore_unsettled(&self, spends: Vec<CreditSpend>) {
        let cells = self.cells.read().unwrap_or_else(PoisonError::into_inner);
        for spend in spends {
            let Some(cell) = cells.get(&spend.account) else {
                continue;
            };
            let mut state = cell.state.lock().unwrap_or_else(PoisonError::into_inner);
            if (state.epoch, state.period) == (spend.epoch, spend.period) {
                state.unsettled = state.unsettled.saturating_add(spend.spent);
            }
        }
    }

    fn settled(&self, spend: &CreditSpend, balance: Option<CreditBalance>) {
        let Some(balance) = balance else { return };
        let cells = self.cells.read().unwrap_or_else(PoisonError::into_inner);
        let Some(cell) = cells.get(&spend.account) else {
            return;
        };
        let mut state = cell.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.epoch == spend.epoch && state.period == balance.period {
            // The store holds every instance's spends up to the settle; ours since are
            // still to come off it.
            state.remaining = balance.remaining.saturating_sub(state.unsettled);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("date"))
    }

    fn credits(remaining: u64, refill: Option<Refill>) -> Credits {
        Credits::new(KeyId::generate(), remaining, refill, at(1, 0))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn spends_all_or_nothing_and_never_below_zero() {
        let ledger = MemoryCredits::new();
        let c = credits(5, None);
        assert_eq!(ledger.spend_now(&c, 3, at(1, 1)).remaining, 2);
        let refused = ledger.spend_now(&c, 3, at(1, 1));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 2, "a refused spend moves nothing");
        assert!(
            ledger.spend_now(&c, 0, at(1, 1)).allowed,
            "cost 0 always passes"
        );
        assert!(ledger.spend_now(&c, 2, at(1, 1)).allowed);
        assert!(!ledger.spend_now(&c, 1, at(1, 1)).allowed);
        let spends = ledger.take_unsettled();
        assert_eq!(spends.len(), 1);
        assert_eq!(spends[0].spent, 5);
        assert!(ledger.take_unsettled().is_empty(), "nothing reported twice");
    }

    #[test]
    fn concurrent_spenders_never_overspend() {
        let ledger = Arc::new(MemoryCredits::new());
        let c = credits(1000, None);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (ledger, c) = (ledger.clone(), c.clone());
                std::thread::spawn(move || {
                    (0..200)
                        .filter(|_| ledger.spend_now(&c, 1, at(1, 1)).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| panic!("thread")))
            .sum();
        assert_eq!(allowed, 1000);
        assert_eq!(ledger.take_unsettled()[0].spent, 1000);
    }

    #[test]
    fn refills_at_the_interval_and_a_new_epoch_replaces_the_balance() {
        let ledger = MemoryCredits::new();
        let c = credits(1, Refill::daily(3).ok());
        assert!(ledger.spend_now(&c, 1, at(1, 5)).allowed);
        assert!(!ledger.spend_now(&c, 1, at(1, 23)).allowed);
        let next_day = ledger.spend_now(&c, 1, at(2, 0));
        assert!(next_day.allowed);
        assert_eq!(next_day.remaining, 2);
        let spends = ledger.take_unsettled();
        assert_eq!((spends[0].spent, spends[0].period), (1, c.period + 1));
        // An operator sets 10: spends of the old epoch no longer count.
        let reset = Credits {
            remaining: 10,
            epoch: 1,
            period: c.period + 1,
            ..c.clone()
        };
        assert_eq!(ledger.spend_now(&reset, 1, at(2, 1)).remaining, 9);
        // The old record (a stale cache) spends from the new balance.
        assert_eq!(ledger.spend_now(&c, 1, at(2, 1)).remaining, 8);
    }

    #[test]
    fn refunds_and_settling_catch_up_with_other_instances() {
        let ledger = MemoryCredits::new();
        let c = credits(100, None);
        assert!(ledger.spend_now(&c, 10, at(1, 1)).allowed);
        ledger.refund_now(&c, 4, at(1, 1));
        let spends = ledger.take_unsettled();
        assert_eq!(spends[0].spent, 6);
        assert!(ledger.spend_now(&c, 1, at(1, 1)).allowed); // after the take
                                                            // Another instance spent 50: the store says 100 - 6 - 50 = 44.
        ledger.settled(
            &spends[0],
            Some(CreditBalance {
                remaining: 44,
                period: 0,
            }),
        );
        assert_eq!(ledger.spend_now(&c, 1, at(1, 1)).remaining, 42);
        // A store that could not be told gets the spends back at the next flush.
        let spends = ledger.take_unsettled();
        assert_eq!(spends[0].spent, 2);
        ledger.restore_unsettled(spends);
        assert_eq!(ledger.take_unsettled()[0].spent, 2);
    }
}

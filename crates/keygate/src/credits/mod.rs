//! Credits: a key's remaining uses, spent by each successful verification and refilled
//! daily or monthly (usage-based plans, trials, one-off tokens).
//!
//! - `balance.rs`: [`Credits`] (a key's balance and its bookkeeping) and [`Refill`];
//! - `ledger.rs`: the [`CreditLedger`] trait (spend all or nothing, never below zero)
//!   and what the store is told ([`CreditSpend`], [`CreditBalance`]);
//! - `memory.rs`: [`MemoryCredits`], in process;
//! - `cost.rs`: [`RouteCosts`], what a request costs by method and path.
//!
//! In the verify pipeline credits are spent after the key's state and context are
//! checked and before its rate limits; a request a limit refuses gets its credits
//! back, so a request is counted everywhere or nowhere. At zero the answer is 429
//! `usage_exceeded` (with `Retry-After` until the next refill, when there is one).
//! `keygate-redis` adds a ledger shared by every instance.

mod balance;
mod cost;
mod ledger;
mod memory;

pub use balance::{CreditGrant, Credits, CreditsError, Refill, RefillInterval, MAX_CREDITS};
pub use cost::{RouteCost, RouteCostError, RouteCosts};
pub use ledger::{CreditBalance, CreditLedger, CreditSpend, Spent, Unsettled};
pub use memory::MemoryCredits;

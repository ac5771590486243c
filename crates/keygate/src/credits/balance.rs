//! A key's credits: how many uses it has left and how they refill.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::id::KeyId;

/// The most credits a key may hold (2^53: every backend counts them exactly, Redis's
/// Lua numbers too).
pub const MAX_CREDITS: u64 = 1 << 53;

/// When a key's credits refill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "interval")]
pub enum RefillInterval {
    /// Every day at 00:00 UTC.
    Daily,
    /// Every month on `day` (1 to 31; in a shorter month, its last day) at 00:00 UTC.
    Monthly {
        /// The day of the month.
        day: u8,
    },
}

/// A refill: the balance is set back to `amount` (not added to) at the start of each
/// interval.
///
/// Refills need no background job: a balance is refilled when it is next read or
/// spent in a later interval than the one it was set or last refilled in, so a refill
/// cannot be missed.
///
/// ```
/// use keygate::credits::Refill;
/// let refill: Refill = "monthly:1000@15".parse()?;
/// assert_eq!(refill.amount, 1000);
/// assert_eq!(refill.to_string(), "monthly:1000@15");
/// assert_eq!("daily:50".parse::<Refill>()?.to_string(), "daily:50");
/// assert!("weekly:5".parse::<Refill>().is_err());
/// # Ok::<(), keygate::credits::CreditsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refill {
    /// When.
    #[serde(flatten)]
    pub interval: RefillInterval,
    /// What the balance is set back to.
    pub amount: u64,
}

/// Bad credits or refill settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreditsError {
    /// A balance or refill amount above [`MAX_CREDITS`].
    #[error("credits must be at most {MAX_CREDITS}")]
    TooMany,
    /// A monthly refill day outside 1..=31.
    #[error("the refill day must be from 1 to 31")]
    BadDay,
    /// Refill text that does not parse.
    #[error(
        "a refill is written daily:AMOUNT or monthly:AMOUNT or monthly:AMOUNT@DAY (day 1 to 31)"
    )]
    Syntax,
}

impl Refill {
    /// A daily refill to `amount`.
    pub fn daily(amount: u64) -> Result<Self, CreditsError> {
        Self::checked(RefillInterval::Daily, amount)
    }

    /// A monthly refill to `amount` on `day` of the month (1 to 31).
    pub fn monthly(amount: u64, day: u8) -> Result<Self, CreditsError> {
        Self::checked(RefillInterval::Monthly { day }, amount)
    }

    fn checked(interval: RefillInterval, amount: u64) -> Result<Self, CreditsError> {
        let refill = Self { interval, amount };
        refill.validate()?;
        Ok(refill)
    }

    /// Whether the amount and day are in range.
    pub fn validate(&self) -> Result<(), CreditsError> {
        if self.amount > MAX_CREDITS {
            return Err(CreditsError::TooMany);
        }
        if let RefillInterval::Monthly { day } = self.interval {
            if !(1..=31).contains(&day) {
                return Err(CreditsError::BadDay);
            }
        }
        Ok(())
    }

    /// The interval `at` falls in, as a number that grows by one per interval: days
    /// since 1970-01-01, or months since January 1970 counted from the refill day.
    pub fn period_at(&self, at: DateTime<Utc>) -> i64 {
        match self.interval {
            RefillInterval::Daily => at.timestamp().div_euclid(86_400),
            RefillInterval::Monthly { day } => {
                let month = month_index(at.year(), at.month());
                if at.day() >= refill_day(at.year(), at.month(), day) {
                    month
                } else {
                    month - 1
                }
            }
        }
    }

    /// When interval `period` ends (the next refill after it).
    pub fn next_after(&self, period: i64) -> DateTime<Utc> {
        match self.interval {
            RefillInterval::Daily => Utc
                .timestamp_opt(period.saturating_add(1).saturating_mul(86_400), 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            RefillInterval::Monthly { day } => {
                let next = period.saturating_add(1);
                let (year, month) = (next.div_euclid(12) + 1970, next.rem_euclid(12) + 1);
                let (Ok(year), Ok(month)) = (i32::try_from(year), u32::try_from(month)) else {
                    return DateTime::<Utc>::MAX_UTC;
                };
                NaiveDate::from_ymd_opt(year, month, refill_day(year, month, day))
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
            }
        }
    }
}

fn month_index(year: i32, month: u32) -> i64 {
    (i64::from(year) - 1970) * 12 + i64::from(month) - 1
}

/// `day`, or the month's last day when the month is shorter.
fn refill_day(year: i32, month: u32, day: u8) -> u32 {
    let next_month = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let last = next_month
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day());
    u32::from(day).min(last)
}

impl std::fmt::Display for Refill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.interval {
            RefillInterval::Daily => write!(f, "daily:{}", self.amount),
            RefillInterval::Monthly { day: 1 } => write!(f, "monthly:{}", self.amount),
            RefillInterval::Monthly { day } => write!(f, "monthly:{}@{day}", self.amount),
        }
    }
}

impl std::str::FromStr for Refill {
    type Err = CreditsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (interval, rest) = text.trim().split_once(':').ok_or(CreditsError::Syntax)?;
        let number = |s: &str| -> Result<u64, CreditsError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CreditsError::Syntax);
            }
            s.parse().map_err(|_| CreditsError::TooMany)
        };
        match interval {
            "daily" => Self::daily(number(rest)?),
            "monthly" => {
                let (amount, day) = rest.split_once('@').unwrap_or((rest, "1"));
                let day = u8::try_from(number(day)?).map_err(|_| CreditsError::BadDay)?;
                Self::monthly(number(amount)?, day)
            }
            _ => Err(CreditsError::Syntax),
        }
    }
}

/// What an operator sets: a balance and, optionally, how it refills. The manager
/// turns it into a key's [`Credits`] (a new epoch each time).
///
/// ```
/// use keygate::credits::{CreditGrant, Refill};
/// use keygate::NewKey;
/// let trial = NewKey::named("trial").credits(CreditGrant::new(100));
/// let plan = NewKey::named("pro").credits(CreditGrant::new(10_000).refill(Refill::monthly(10_000, 1)?));
/// # let _ = (trial, plan);
/// # Ok::<(), keygate::credits::CreditsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditGrant {
    /// Uses left now.
    pub remaining: u64,
    /// How the balance refills, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

impl CreditGrant {
    /// `remaining` uses, no refill.
    pub fn new(remaining: u64) -> Self {
        Self {
            remaining,
            refill: None,
        }
    }

    /// The same, refilled by `refill`.
    #[must_use]
    pub fn refill(mut self, refill: Refill) -> Self {
        self.refill = Some(refill);
        self
    }

    /// Whether the balance and refill are in range.
    pub fn validate(&self) -> Result<(), CreditsError> {
        if self.remaining > MAX_CREDITS {
            return Err(CreditsError::TooMany);
        }
        self.refill.as_ref().map_or(Ok(()), Refill::validate)
    }
}

/// A key's credits: uses left, spent by each successful verification (its route's
/// cost), refused with 429 `usage_exceeded` at zero, optionally refilled.
///
/// `period`, `epoch` and `account` are the bookkeeping that lets many instances spend
/// one balance and an operator's new balance win over spends of the old one:
/// - `period`: the refill interval `remaining` belongs to;
/// - `epoch`: raised each time an operator sets the balance; spends counted against an
///   older epoch are dropped, never subtracted from the new balance;
/// - `account`: whose balance it is, the first key of a rotation chain: a successor
///   spends the same balance as the key it replaces (rotating never copies credits).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use keygate::credits::{Credits, Refill};
/// use keygate::KeyId;
/// let set = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
/// let credits = Credits::new(KeyId::generate(), 3, Some(Refill::daily(100)?), set)?;
/// assert_eq!(credits.balance_at(set).0, 3);
/// // The next day it is back to 100, with no job having run.
/// assert_eq!(credits.balance_at(set + chrono::Duration::days(1)).0, 100);
/// # Ok::<(), keygate::credits::CreditsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credits {
    /// Uses left in `period`.
    pub remaining: u64,
    /// How the balance refills, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    /// The refill interval `remaining` belongs to ([`Refill::period_at`]; 0 without
    /// a refill).
    #[serde(default)]
    pub period: i64,
    /// Raised each time an operator sets the balance.
    #[serde(default)]
    pub epoch: u64,
    /// Whose balance this is: the first key of a rotation chain.
    pub account: KeyId,
}

impl Credits {
    /// `remaining` uses for `account` (the key's own id for a new key), set at `now`.
    pub fn new(
        account: KeyId,
        remaining: u64,
        refill: Option<Refill>,
        now: DateTime<Utc>,
    ) -> Result<Self, CreditsError> {
        if remaining > MAX_CREDITS {
            return Err(CreditsError::TooMany);
        }
        if let Some(refill) = &refill {
            refill.validate()?;
        }
        Ok(Self {
            remaining,
            period: refill.map_or(0, |r| r.period_at(now)),
            refill,
            epoch: 0,
            account,
        })
    }

    /// The balance at `now` and the period it belongs to: `remaining`, or the refill
    /// amount when a refill interval began since.
    pub fn balance_at(&self, now: DateTime<Utc>) -> (u64, i64) {
        match self.refill {
            Some(refill) => {
                let current = refill.period_at(now);
                if current > self.period {
                    (refill.amount, current)
                } else {
                    (self.remaining, self.period)
                }
            }
            None => (self.remaining, self.period),
        }
    }

    /// The operator's setting these credits were made from, as it stands at `now`.
    pub fn grant_at(&self, now: DateTime<Utc>) -> CreditGrant {
        CreditGrant {
            remaining: self.balance_at(now).0,
            refill: self.refill,
        }
    }

    /// When the balance next refills, after period `period`.
    pub fn refills_at(&self, period: i64) -> Option<DateTime<Utc>> {
        self.refill.map(|r| r.next_after(period))
    }

    /// Whether `after` gives no more than `self` (for a key changing its own
    /// credits): no higher balance at `now`, no refill added, none raised or made
    /// more frequent, and credits not removed.
    pub fn within(&self, after: Option<&Credits>, now: DateTime<Utc>) -> bool {
        let Some(after) = after else {
            return false;
        };
        if after.balance_at(now).0 > self.balance_at(now).0 {
            return false;
        }
        match (self.refill, after.refill) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(before), Some(after)) => {
                after.amount <= before.amount && before.interval == after.interval
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("bad date"))
    }

    #[test]
    fn daily_periods_change_at_midnight_utc() {
        let refill = Refill::daily(5).unwrap_or_else(|e| panic!("{e}"));
        let day = refill.period_at(at(2026, 12, 1, 23));
        assert_eq!(refill.period_at(at(2026, 12, 1, 0)), day);
        assert_eq!(refill.period_at(at(2026, 12, 2, 0)), day + 1);
        assert_eq!(refill.next_after(day), at(2026, 12, 2, 0));
    }

    #[test]
    fn monthly_refill_day_clamps_to_short_months() {
        let refill = Refill::monthly(10, 31).unwrap_or_else(|e| panic!("{e}"));
        // February 2026 has 28 days: the refill is on the 28th.
        let jan = refill.period_at(at(2026, 2, 27, 12));
        assert_eq!(refill.period_at(at(2026, 2, 28, 0)), jan + 1);
        assert_eq!(refill.next_after(jan), at(2026, 2, 28, 0));
        assert_eq!(refill.next_after(jan + 1), at(2026, 3, 31, 0));
        // The 15th: before it, still last month's period.
        let mid = Refill::monthly(10, 15).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            mid.period_at(at(2026, 1, 14, 23)) + 1,
            mid.period_at(at(2026, 1, 15, 0))
        );
        // December rolls into the next year.
        let dec = mid.period_at(at(2026, 12, 20, 0));
        assert_eq!(mid.next_after(dec), at(2027, 1, 15, 0));
    }

    #[test]
    fn refill_text_round_trips_and_bad_text_is_refused() {
        for text in ["daily:0", "daily:1000", "monthly:5", "monthly:5@31"] {
            let refill: Refill = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(refill.to_string(), text);
        }
        assert_eq!(
            "monthly:5@1".parse::<Refill>().map(|r| r.to_string()),
            Ok("monthly:5".to_owned())
        );
        for (text, err) in [
            ("weekly:5", CreditsError::Syntax),
            ("daily", CreditsError::Syntax),
            ("daily:-1", CreditsError::Syntax),
            ("daily:1e3", CreditsError::Syntax),
            ("monthly:5@0", CreditsError::BadDay),
            ("monthly:5@32", CreditsError::BadDay),
            ("monthly:5@300", CreditsError::BadDay),
            ("daily:9007199254740993", CreditsError::TooMany),
            ("daily:99999999999999999999999", CreditsError::TooMany),
        ] {
            assert_eq!(text.parse::<Refill>(), Err(err), "{text}");
        }
    }

    #[test]
    fn balance_refills_lazily_and_within_refuses_loosening() {
        let set = at(2026, 3, 10, 12);
        let account = KeyId::generate();
        let credits = Credits::new(account.clone(), 3, Refill::daily(100).ok(), set)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(credits.balance_at(set), (3, credits.period));
        assert_eq!(
            credits.balance_at(at(2026, 3, 12, 0)),
            (100, credits.period + 2)
        );
        let lower = Credits {
            remaining: 2,
            ..credits.clone()
        };
        assert!(credits.within(Some(&lower), set));
        assert!(!lower.within(Some(&credits), set), "raised");
        assert!(!credits.within(None, set), "removed");
        let no_refill = Credits {
            refill: None,
            ..credits.clone()
        };
        assert!(credits.within(Some(&no_refill), set));
        assert!(!no_refill.within(Some(&credits), set), "refill added");
        let monthly = Credits {
            refill: Refill::monthly(100, 1).ok(),
            ..credits.clone()
        };
        assert!(!credits.within(Some(&monthly), set), "interval changed");
        assert_eq!(
            Credits::new(account, MAX_CREDITS + 1, None, set),
            Err(CreditsError::TooMany)
        );
    }
}

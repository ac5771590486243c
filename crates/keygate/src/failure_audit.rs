//! Aggregated audit events for failed verifications, so an unauthenticated flood cannot
//! grow the audit log without bound.
//!
//! The first failure of a `(client IP, reason, key)` within a window is written at once
//! (count 1); the rest of that window are counted in memory and written as one event
//! with their count when the window has ended (at the next flush, or when the same
//! failure comes back after the window). At most `max_entries` windows are tracked; past
//! that, failures are counted per reason only, with no client. So each window writes at
//! most two events per tracked entry, whatever the request rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::audit::{AuditEvent, Outcome};
use crate::id::KeyId;

/// What one aggregate counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FailureKey {
    client_ip: Option<IpAddr>,
    reason: &'static str,
    target: Option<KeyId>,
}

#[derive(Debug)]
struct Window {
    started: DateTime<Utc>,
    last_at: DateTime<Utc>,
    tenant: Option<String>,
    /// Failures seen after the first one, not yet written.
    suppressed: u32,
}

/// The aggregator.
#[derive(Debug)]
pub(crate) struct FailureAudit {
    window: Duration,
    max_entries: usize,
    windows: Mutex<HashMap<FailureKey, Window>>,
}

/// A failed verification to note.
#[derive(Debug)]
pub(crate) struct Failure<'a> {
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) reason: &'static str,
    pub(crate) target: Option<&'a KeyId>,
    pub(crate) tenant: Option<&'a str>,
    pub(crate) at: DateTime<Utc>,
}

impl FailureAudit {
    /// Aggregates over `window`, tracking at most `max_entries` clients and keys.
    pub(crate) fn new(window: Duration, max_entries: usize) -> Self {
        Self {
            window,
            max_entries: max_entries.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Notes a failure; returns the events to write now (none while a window is open).
    pub(crate) fn note(&self, failure: &Failure<'_>) -> Vec<AuditEvent> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = FailureKey {
            client_ip: failure.client_ip,
            reason: failure.reason,
            target: failure.target.cloned(),
        };
        if !windows.contains_key(&key) && windows.len() >= self.max_entries {
            // Too many distinct clients: count per reason only.
            key = FailureKey {
                client_ip: None,
                reason: failure.reason,
                target: None,
            };
        }
        let mut out = Vec::new();
        if let Some(open) = windows.get_mut(&key) {
            if failure.at < open.started + self.window {
                open.suppressed = open.suppressed.saturating_add(1);
                open.last_at = failure.at;
                return out;
            }
            if let Some(summary) = summary(&key, open) {
                out.push(summary);
            }
        }
        windows.insert(
            key.clone(),
            Window {
                started: failure.at,
                last_at: failure.at,
                tenant: failure.tenant.map(str::to_owned),
                suppressed: 0,
            },
        );
        out.push(event(&key, failure.tenant, failure.at, 1));
        out
    }

    /// Takes the summaries of every window that has ended by `now` (every window when
    /// `all`), forgetting those windows.
    pub(crate) fn drain(&self, now: DateTime<Utc>, all: bool) -> Vec<AuditEvent> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        windows.retain(|key, open| {
            if all || now >= open.started + self.window {
                out.extend(summary(key, open));
                false
            } else {
                true
            }
        });
        out.sort_by_key(|e| e.at);
        out
    }
}

fn summary(key: &FailureKey, open: &Window) -> Option<AuditEvent> {
    (open.suppressed > 0).then(|| event(key, open.tenant.as_deref(), open.last_at, open.suppressed))
}

fn event(key: &FailureKey, tenant: Option<&str>, at: DateTime<Utc>, count: u32) -> AuditEvent {
    let mut event = AuditEvent::new("key.verify", Outcome::Failure)
        .at(at)
        .with_client_ip(key.client_ip)
        .with_reason(key.reason)
        .with_count(count);
    if let Some(target) = &key.target {
        event = event.with_target(target.clone());
    }
    if let Some(tenant) = tenant {
        event = event.with_tenant(tenant);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("a valid timestamp")
    }

    fn failure(ip: &str, secs: i64) -> Failure<'static> {
        Failure {
            client_ip: ip.parse().ok(),
            reason: "unknown",
            target: None,
            tenant: None,
            at: at(secs),
        }
    }

    #[test]
    fn a_flood_is_one_event_now_and_one_count_per_window() {
        let audit = FailureAudit::new(Duration::seconds(60), 100);
        let mut written = Vec::new();
        for i in 0..3000 {
            written.extend(audit.note(&failure("203.0.113.7", i / 100)));
        }
        assert_eq!(
            written.len(),
            1,
            "only the first is written during the window"
        );
        assert_eq!(written[0].count, 1);
        assert!(audit.drain(at(29), false).is_empty(), "window still open");
        let summaries = audit.drain(at(60), false);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].count, 2999);
        assert_eq!(summaries[0].reason.as_deref(), Some("unknown"));
        assert!(
            audit.drain(at(1000), true).is_empty(),
            "nothing counted twice"
        );
    }

    #[test]
    fn a_new_window_writes_the_last_ones_count_and_starts_again() {
        let audit = FailureAudit::new(Duration::seconds(60), 100);
        assert_eq!(audit.note(&failure("203.0.113.7", 0)).len(), 1);
        assert!(audit.note(&failure("203.0.113.7", 10)).is_empty());
        let rolled = audit.note(&failure("203.0.113.7", 61));
        assert_eq!(
            rolled.iter().map(|e| e.count).collect::<Vec<_>>(),
            vec![1, 1],
            "the summary of the old window, then the first of the new"
        );
    }

    #[test]
    fn clients_reasons_and_keys_are_counted_apart_up_to_a_bound() {
        let audit = FailureAudit::new(Duration::seconds(60), 3);
        let mut written = 0;
        for i in 0..50 {
            written += audit.note(&failure(&format!("203.0.113.{i}"), 0)).len();
        }
        // Three clients tracked, then one overflow aggregate per reason.
        assert_eq!(written, 4);
        let summaries = audit.drain(at(0), true);
        let overflow: Vec<_> = summaries.iter().filter(|e| e.client_ip.is_none()).collect();
        assert_eq!(overflow.len(), 1);
        assert_eq!(
            overflow[0].count, 46,
            "47 overflowed, the first written at once"
        );
    }
}

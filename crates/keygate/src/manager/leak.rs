//! What the manager does with keys reported leaked (a secret scanner found them in a
//! public place): each one of ours is revoked or disabled, audited with where it was
//! found, and the report is answered key by key.

use super::{Actor, KeyManager, ManageError};
use crate::audit::Outcome;

/// One token a scanner reports, and where it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedToken {
    /// The token as found.
    pub token: String,
    /// Where it was found (a URL), when the scanner says.
    pub url: Option<String>,
    /// What found it (e.g. `content`, `commit`), when the scanner says.
    pub source: Option<String>,
}

/// What to do with a key of ours reported leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LeakPolicy {
    /// Revoke it, for good (the default: a published key is no longer a secret).
    #[default]
    Revoke,
    /// Disable it (refused until an operator enables it again): for teams that want
    /// to look before they cut a customer off.
    Quarantine,
}

/// The answer for one reported token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakFinding {
    /// The token as reported.
    pub token: String,
    /// Whether it is one of our keys (found by hash): a true positive.
    pub ours: bool,
}

impl KeyManager {
    /// Handles tokens a secret scanner reports: each that is one of our keys (by
    /// hash; the store holds no plaintext) is revoked or quarantined by `policy` as the
    /// system, with a `key.leaked` audit event naming where it was found; the others
    /// are false positives and change nothing. A key already revoked is still a true
    /// positive. Tokens are never logged.
    ///
    /// ```
    /// use keygate::manager::{LeakPolicy, LeakedToken};
    /// use keygate::{Actor, KeyGate, MemoryStore, NewKey, VerifyRequest};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let gate = KeyGate::builder(MemoryStore::new()).build();
    /// let made = gate.manager().create(&Actor::system(), NewKey::named("ci").tenant("acme")).await?;
    /// let report = [LeakedToken { token: made.key.expose().to_owned(), url: Some("https://github.com/o/r/blob/x/.env".into()), source: Some("content".into()) }];
    /// let findings = gate.manager().respond_to_leaks(&report, LeakPolicy::Revoke).await?;
    /// assert!(findings[0].ours);
    /// assert!(gate.verify(VerifyRequest::key(made.key.expose())).await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn respond_to_leaks(
        &self,
        tokens: &[LeakedToken],
        policy: LeakPolicy,
    ) -> Result<Vec<LeakFinding>, ManageError> {
        let system = Actor::system();
        let mut findings = Vec::with_capacity(tokens.len());
        for leaked in tokens {
            let hash = self.inner.hasher.hash(&leaked.token);
            let Some(record) = self.inner.store.find_by_hash(&hash).await? else {
                findings.push(LeakFinding {
                    token: leaked.token.clone(),
                    ours: false,
                });
                continue;
            };
            let acted = match policy {
                _ if record.revoked_at.is_some() => Ok(()),
                LeakPolicy::Revoke => self.revoke(&system, &record.id).await.map(drop),
                LeakPolicy::Quarantine => self.disable(&system, &record.id).await.map(drop),
            };
            let where_found = match (&leaked.url, &leaked.source) {
                (Some(url), Some(source)) => format!("{url} ({source})"),
                (Some(url), None) => url.clone(),
                (None, Some(source)) => source.clone(),
                (None, None) => "an unnamed place".to_owned(),
            };
            let action = match (policy, record.revoked_at.is_some()) {
                (_, true) => "already revoked",
                (LeakPolicy::Revoke, false) => "revoked",
                (LeakPolicy::Quarantine, false) => "disabled",
            };
            let event = self
                .event(
                    &system,
                    "key.leaked",
                    if acted.is_ok() {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                )
                .with_tenant(record.tenant.clone())
                .with_target(record.id.clone())
                .with_reason(match &acted {
                    Ok(()) => format!("reported leaked at {where_found}: {action}"),
                    Err(e) => format!("reported leaked at {where_found}: not handled: {e}"),
                });
            self.append(event).await;
            if let Err(e) = acted {
                tracing::error!(key_id = %record.id, error = %e, "keygate: a key reported leaked could not be revoked");
                return Err(e);
            }
            tracing::warn!(key_id = %record.id, tenant = %record.tenant, found_at = %where_found, "keygate: a key was reported leaked: {action}");
            findings.push(LeakFinding {
                token: leaked.token.clone(),
                ours: true,
            });
        }
        Ok(findings)
    }
}

//! Who made the request: what a verified key resolves to.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::error::AuthError;
use crate::id::KeyId;
use crate::record::{KeyKind, KeyRecord};
use crate::requirement::Requirement;
use crate::scope_set::ScopeSet;

/// The identity behind a verified key, put into request extensions by the adapters.
///
/// Cheap to clone (one `Arc`). Its scopes are the key's own plus its role's.
///
/// ```
/// use keygate::{KeyRecord, Principal, Requirement, ScopeSet};
/// use keygate::hash::KeyHasher;
/// let record = KeyRecord::new(KeyHasher::Sha256.hash("k"), "hint", "sk", "live", "ci", "acme")
///     .with_scopes(ScopeSet::parse(["read:scans"])?);
/// let principal = Principal::from_record(&record, record.scopes.clone());
/// assert!(principal.has_scope("read:scans"));
/// assert!(principal.require(&Requirement::parse("write:scans")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

/// Where a principal notes the scopes it exercises: the verifier's usage recorder, and
/// the requirements noted in its current generation (a few slots, checked with atomic
/// loads: a route's requirement met again costs a load and a compare of fingerprints
/// made when the requirement was parsed).
pub(crate) struct ScopeUseNote {
    recorder: Arc<crate::usage::UsageRecorder>,
    seen: [AtomicU64; 4],
}

impl ScopeUseNote {
    fn note(&self, key: &KeyId, requirement: &Requirement, scopes: &ScopeSet) {
        let generation = self.recorder.scope_generation() & 0xFFFF_FFFF;
        let mark = (requirement.fingerprint() & !0xFFFF_FFFF) | generation;
        let slot = &self.seen[usize::try_from(mark >> 62).unwrap_or(0)];
        if slot.load(Ordering::Relaxed) == mark {
            return;
        }
        slot.store(mark, Ordering::Relaxed);
        self.recorder.note_scopes(
            key,
            requirement
                .granted_by(scopes)
                .into_iter()
                .map(|s| s.as_str()),
        );
    }
}

struct Inner {
    key_id: KeyId,
    name: String,
    tenant: String,
    owner: Option<String>,
    kind: KeyKind,
    env: String,
    role: Option<String>,
    scopes: ScopeSet,
    expires_at: Option<DateTime<Utc>>,
    metadata: serde_json::Map<String, serde_json::Value>,
    /// Set by the verifier that built it: scope checks note the scopes they exercise.
    scope_use: OnceLock<ScopeUseNote>,
}

impl Principal {
    /// Builds a principal from a record and its effective scopes (own + role's).
    pub fn from_record(record: &KeyRecord, effective_scopes: ScopeSet) -> Self {
        Self(Arc::new(Inner {
            key_id: record.id.clone(),
            name: record.name.clone(),
            tenant: record.tenant.clone(),
            owner: record.owner.clone(),
            kind: record.kind,
            env: record.env.clone(),
            role: record.role.clone(),
            scopes: effective_scopes,
            expires_at: record.expires_at,
            metadata: record.metadata.clone(),
            scope_use: OnceLock::new(),
        }))
    }

    /// Makes scope checks of this principal note the scopes they exercise in
    /// `recorder` (the verifier does this for the principals it builds).
    pub(crate) fn note_scope_use_in(&self, recorder: &Arc<crate::usage::UsageRecorder>) {
        let _ = self.0.scope_use.set(ScopeUseNote {
            recorder: Arc::clone(recorder),
            seen: Default::default(),
        });
    }

    /// The key's public id.
    pub fn key_id(&self) -> &KeyId {
        &self.0.key_id
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The tenant the key belongs to: scope every query by it.
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }

    /// The key's owner, if any.
    pub fn owner(&self) -> Option<&str> {
        self.0.owner.as_deref()
    }

    /// Personal, team or service.
    pub fn kind(&self) -> KeyKind {
        self.0.kind
    }

    /// The key's environment, e.g. `live` or `test`.
    pub fn env(&self) -> &str {
        &self.0.env
    }

    /// The key's role, if any.
    pub fn role(&self) -> Option<&str> {
        self.0.role.as_deref()
    }

    /// Effective scopes: the key's own plus its role's.
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scopes
    }

    /// When the key expires, if ever.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// The key's metadata.
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0.metadata
    }

    /// Whether the principal holds a scope that grants `scope` (an invalid scope string
    /// is never held).
    pub fn has_scope(&self, scope: &str) -> bool {
        crate::Scope::parse(scope).is_ok_and(|s| self.0.scopes.grants(&s))
    }

    /// [`require`](Principal::require) in shadow mode: always `Ok`; when the principal
    /// falls short, the refusal it would have had is counted (`shadow_forbidden`),
    /// logged and audited (`key.shadow_scope`) at the verifier's next flush, so a new
    /// requirement can be rolled out without breaking the callers it would lock out.
    pub fn require_in_shadow(&self, requirement: &Requirement) -> Result<(), AuthError> {
        if self.require(requirement).is_err() {
            if let Some(note) = self.0.scope_use.get() {
                note.recorder.note_shadow_scope(
                    &self.0.key_id,
                    &self.0.tenant,
                    &self.0.env,
                    requirement,
                    chrono::Utc::now(),
                );
            }
        }
        Ok(())
    }

    /// `Ok` if the principal meets `requirement`, else [`AuthError::InsufficientScope`].
    pub fn require(&self, requirement: &Requirement) -> Result<(), AuthError> {
        if requirement.is_satisfied_by(&self.0.scopes) {
            if let Some(note) = self.0.scope_use.get() {
                note.note(&self.0.key_id, requirement, &self.0.scopes);
            }
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: requirement.clone(),
            })
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("key_id", &self.0.key_id)
            .field("tenant", &self.0.tenant)
            .field("kind", &self.0.kind)
            .field("env", &self.0.env)
            .field("role", &self.0.role)
            .field("scopes", &self.0.scopes.to_strings())
            .finish_non_exhaustive()
    }
}

/// The limits an operator set for a key's tenant (in its environment) and its owner.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedOfKey {
    pub(crate) tenant: crate::rate_limit::NamedLimits,
    pub(crate) owner: crate::rate_limit::NamedLimits,
}

/// What verifications remember about a shared record: its [`Principal`], built on the
/// first verification and reused by every later one (so a cache hit neither copies the
/// record nor looks its role up again), and the last use noted for it (so a hit notes
/// its use at most once per second, without a lock). Empty in every clone: a
/// changed record starts afresh.
#[derive(Default)]
pub(crate) struct PrincipalMemo {
    principal: OnceLock<Principal>,
    /// The limits shared by the key's tenant and owner, as the store had them when
    /// the principal was built (set before it).
    shared: OnceLock<Box<SharedOfKey>>,
    /// Unix seconds of the latest use handed to the usage recorder (0: none).
    noted_secs: AtomicI64,
    /// Successful verifications of this record not yet taken by the usage recorder.
    uses: AtomicU64,
    /// Verifications refused by the rate limit, not yet taken.
    limited: AtomicU64,
    /// Unix seconds of the latest rate-limited refusal handed to the recorder.
    limited_secs: AtomicI64,
}

impl PrincipalMemo {
    /// The principal, if built.
    pub(crate) fn get(&self) -> Option<&Principal> {
        self.principal.get()
    }

    /// The limits the key's tenant and owner share, if resolved.
    pub(crate) fn shared(&self) -> Option<&SharedOfKey> {
        self.shared.get().map(|b| &**b)
    }

    /// Keeps the shared limits (the first kept win); only non-empty ones are boxed.
    pub(crate) fn set_shared(&self, shared: SharedOfKey) {
        if !shared.tenant.is_empty() || !shared.owner.is_empty() {
            let _ = self.shared.set(Box::new(shared));
        }
    }

    /// Keeps `principal` (the first one kept wins).
    pub(crate) fn set(&self, principal: Principal) {
        let _ = self.principal.set(principal);
    }

    /// Whether a use in second `at_secs` (Unix) is later than every use noted before;
    /// if so it becomes the latest.
    pub(crate) fn note_use(&self, at_secs: i64) -> bool {
        self.noted_secs.load(Ordering::Relaxed) < at_secs
            && self.noted_secs.fetch_max(at_secs, Ordering::Relaxed) < at_secs
    }

    /// Counts one successful verification (one atomic add: the hot path's whole cost
    /// of analytics).
    pub(crate) fn count_use(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one refusal by the rate limit (one atomic add); `true` the first time in
    /// second `at_secs`, when the recorder should hold this record.
    pub(crate) fn count_limited(&self, at_secs: i64) -> bool {
        self.limited.fetch_add(1, Ordering::Relaxed);
        self.limited_secs.load(Ordering::Relaxed) < at_secs
            && self.limited_secs.fetch_max(at_secs, Ordering::Relaxed) < at_secs
    }

    /// The successes and rate-limit refusals counted and not yet taken.
    pub(crate) fn counted(&self) -> u64 {
        self.uses.load(Ordering::Relaxed) + self.limited.load(Ordering::Relaxed)
    }

    /// The successes and rate-limit refusals counted since the last call, and zero
    /// from now.
    pub(crate) fn take_counts(&self) -> (u64, u64) {
        (
            self.uses.swap(0, Ordering::Relaxed),
            self.limited.swap(0, Ordering::Relaxed),
        )
    }
}

impl Clone for PrincipalMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for PrincipalMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for PrincipalMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.principal.get().is_some() {
            "resolved"
        } else {
            "unresolved"
        })
    }
}

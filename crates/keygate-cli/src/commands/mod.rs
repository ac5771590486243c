//! One file per top-level command.

pub(crate) mod audit;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod roles;
pub(crate) mod serve;
pub(crate) mod usage;
pub(crate) mod verify;

use keygate::rate_limit::NamedLimits;
use keygate::{KeyId, RateLimitSpec, ScopeSet};

use crate::Failure;

pub(crate) fn key_id(raw: &str) -> Result<KeyId, Failure> {
    KeyId::parse(raw).ok_or_else(|| Failure(format!("{raw:?} is not a key id (key_…)")))
}

/// A refusal about the key `id`, with what to do next.
pub(crate) fn about_key(id: &str) -> impl Fn(keygate::manager::ManageError) -> Failure + '_ {
    move |err| {
        Failure(match err.status() {
            404 => format!("no key {id}; `keygate keys list` shows the keys of every tenant"),
            409 => format!("{err}; `keygate keys show {id}` shows its state"),
            503 => format!("{err}; check that the store at KEYGATE_DATABASE_URL is reachable"),
            _ => err.to_string(),
        })
    }
}

pub(crate) fn scopes(list: &[String]) -> Result<ScopeSet, Failure> {
    ScopeSet::parse(list.iter().map(|s| s.trim()).filter(|s| !s.is_empty())).map_err(Failure::from)
}

pub(crate) fn rate_limit(raw: &str) -> Result<RateLimitSpec, Failure> {
    raw.parse().map_err(Failure::from)
}

/// Named limits from `NAME=SPEC` arguments.
pub(crate) fn named_limits(args: &[String]) -> Result<NamedLimits, Failure> {
    let pairs = args
        .iter()
        .map(|arg| {
            arg.split_once('=').ok_or_else(|| {
                Failure(format!(
                    "--limit {arg:?}: expected NAME=SPEC, e.g. --limit burst=10/s"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    NamedLimits::parse(pairs).map_err(|e| Failure(format!("--limit: {e}")))
}

/// The credits of `--credits N [--refill SPEC]`, checked.
pub(crate) fn credit_grant(
    credits: Option<u64>,
    refill: Option<&str>,
) -> Result<Option<keygate::credits::CreditGrant>, Failure> {
    let Some(remaining) = credits else {
        return Ok(None);
    };
    let mut grant = keygate::credits::CreditGrant::new(remaining);
    if let Some(refill) = refill {
        grant = grant.refill(
            refill
                .parse()
                .map_err(|e| Failure(format!("--refill {refill:?}: {e}")))?,
        );
    }
    grant
        .validate()
        .map_err(|e| Failure(format!("--credits: {e}")))?;
    Ok(Some(grant))
}

pub(crate) fn expiry_from_now(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let d = keygate::duration::parse_duration(raw).map_err(Failure)?;
    Ok(chrono::Utc::now() + d)
}

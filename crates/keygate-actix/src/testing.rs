//! Test helpers: a gate over a memory store holding one key.

use std::sync::Arc;

use keygate::hash::KeyHasher;
use keygate::{key_format, KeyGate, KeyRecord, KeyStore, MemoryStore, ScopeSet};

/// A gate (prefix `sk`, Bearer, `X-API-KEY`, `?api_key=`) and one `sk_live_` key named
/// `ci`, tenant `acme`, with `scopes`.
pub(crate) async fn gate_with_key(scopes: &[&str], hide: bool) -> (KeyGate, String) {
    let store = Arc::new(MemoryStore::new());
    let key = key_format::generate("sk", "live").unwrap_or_else(|e| panic!("{e}"));
    let record = KeyRecord::new(
        KeyHasher::Sha256.hash(key.expose()),
        "hint",
        "sk",
        "live",
        "ci",
        "acme",
    )
    .with_scopes(ScopeSet::parse(scopes).unwrap_or_else(|e| panic!("{e}")));
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gate = KeyGate::builder(store)
        .prefix("sk")
        .bearer()
        .header("x-api-key")
        .query("api_key")
        .hide_credentials(hide)
        .build();
    (gate, key.expose().to_owned())
}

/// A response header as text (`None` when absent or not visible ASCII).
pub(crate) fn header<B>(res: &actix_web::dev::ServiceResponse<B>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

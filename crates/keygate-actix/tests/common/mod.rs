//! Shared by the integration tests: a gate over a memory store with keys.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use keygate::hash::KeyHasher;
use keygate::{key_format, KeyGate, KeyGateBuilder, KeyRecord, KeyStore, MemoryStore, ScopeSet};

/// A gate builder (prefix `sk`, default sources) over a store holding one `sk_live_`
/// key named `ci`, tenant `acme`, with `scopes`; and the key.
pub(crate) async fn builder_with_key(scopes: &[&str]) -> (KeyGateBuilder, String) {
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
    (
        KeyGate::builder(store).prefix("sk"),
        key.expose().to_owned(),
    )
}

/// [`builder_with_key`], built.
pub(crate) async fn gate_with_key(scopes: &[&str]) -> (KeyGate, String) {
    let (builder, key) = builder_with_key(scopes).await;
    (builder.build(), key)
}

/// A response header as text.
pub(crate) fn header<B>(res: &ServiceResponse<B>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The flat 401 body.
pub(crate) const UNAUTHORIZED: &str =
    r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;
/// The flat 403 body.
pub(crate) const FORBIDDEN: &str =
    r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#;

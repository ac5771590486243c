//! What the hand-written peers hand to their handler, and their key table.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::{demo_key, filler_key, TABLE_SIZE};

/// What a successful verification hands to the handler in the hand-written peers
/// (about the size of keygate's `Principal`: ids, environment and a few scopes).
#[derive(Debug, Clone)]
pub struct Principal {
    /// Public key id.
    pub key_id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Environment label of the key.
    pub env: &'static str,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl Principal {
    /// A principal numbered `i`.
    pub fn numbered(i: usize) -> Self {
        Principal {
            key_id: format!("key_{i:016}"),
            tenant_id: format!("tenant_{}", i % 97),
            env: "live",
            scopes: vec!["read:hello".to_owned(), "write:hello".to_owned()],
        }
    }
}

/// The "physical limit" key table: SHA-256 of the key -> principal, the demo key and
/// `TABLE_SIZE - 1` fillers.
pub fn key_table() -> HashMap<[u8; 32], Arc<Principal>> {
    let mut table = HashMap::with_capacity(TABLE_SIZE);
    table.insert(
        Sha256::digest(demo_key().as_bytes()).into(),
        Arc::new(Principal::numbered(0)),
    );
    for i in 1..TABLE_SIZE {
        table.insert(
            Sha256::digest(filler_key(i).as_bytes()).into(),
            Arc::new(Principal::numbered(i)),
        );
    }
    table
}

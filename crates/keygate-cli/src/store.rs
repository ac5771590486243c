//! Opening the store named by KEYGATE_DATABASE_URL, and the hasher (KEYGATE_PEPPER).

use std::sync::Arc;

use keygate::hash::KeyHasher;
use keygate::KeyManager;
use keygate_sqlx::AnyStore;

use crate::Failure;

/// An open store (created and migrated on first use) and how keys are hashed.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) store: Arc<AnyStore>,
    pub(crate) hasher: KeyHasher,
}

impl Store {
    pub(crate) fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// A manager acting on this store; `prefix`/`env` set the defaults for new keys.
    pub(crate) fn manager(&self, prefix: &str, env: &str) -> Result<KeyManager, Failure> {
        keygate::key_format::validate_prefix(prefix)
            .map_err(|e| Failure(format!("--prefix {prefix:?}: {e}")))?;
        keygate::key_format::validate_env(env)
            .map_err(|e| Failure(format!("--env {env:?}: {e}")))?;
        Ok(KeyManager::builder(self.store.clone())
            .hasher(self.hasher.clone())
            .prefix(prefix)
            .env(env)
            .build())
    }
}

pub(crate) async fn open(url: &str) -> Result<Store, Failure> {
    let store = keygate_sqlx::connect_any(url)
        .await
        .map_err(|e| Failure(format!("cannot open the store at {}: {e}", redact(url))))?;
    // Services must hash the same way: they use KeyHasher::from_env too.
    let hasher = KeyHasher::from_env();
    Ok(Store {
        store: Arc::new(store),
        hasher,
    })
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://keygate.db"), "sqlite://keygate.db");
    }
}

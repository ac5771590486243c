//! The public id of a key: `key_` + 16 base62, safe for URLs, logs and audit events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::base62;

/// A key's public id, e.g. `key_3kTMd9PqLx82HvZa`. Never secret.
///
/// ```
/// use keygate::KeyId;
/// let id = KeyId::generate();
/// assert!(id.as_str().starts_with("key_"));
/// assert_eq!(KeyId::parse(id.as_str()), Some(id));
/// assert_eq!(KeyId::parse("../etc/passwd"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

const ID_PREFIX: &str = "key_";
const ID_RANDOM_LEN: usize = 16;

impl KeyId {
    /// A fresh random id.
    ///
    /// # Panics
    /// If the operating system's random source fails.
    pub fn generate() -> Self {
        #[allow(clippy::expect_used)]
        let random = base62::random(ID_RANDOM_LEN).expect("OS random source");
        Self(format!("{ID_PREFIX}{random}"))
    }

    /// Accepts `key_` followed by 1 to 64 characters of `[A-Za-z0-9_-]` (ids imported
    /// from elsewhere may be longer or shorter than ours).
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(ID_PREFIX)?;
        let ok = (1..=64).contains(&rest.len())
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
            .ok_or_else(|| format!("invalid key id {s:?}: expected key_ followed by [A-Za-z0-9_-]"))
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

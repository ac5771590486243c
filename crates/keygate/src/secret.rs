//! The plaintext key, wrapped so it cannot leak through `Debug`, `Display` or logs.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A plaintext API key. It exists only in the create and rotate responses.
///
/// `Debug` and `Display` print `***`; the memory is zeroed on drop (via `secrecy`).
/// Read the key with [`ApiKeySecret::expose`], once, to show it to its owner.
///
/// ```
/// use keygate::ApiKeySecret;
/// let key = ApiKeySecret::new("sk_live_abc".to_owned());
/// assert_eq!(format!("{key} {key:?}"), "*** ***");
/// assert_eq!(key.expose(), "sk_live_abc");
/// ```
#[derive(Clone)]
pub struct ApiKeySecret(SecretString);

impl ApiKeySecret {
    /// Wraps a plaintext key.
    pub fn new(key: String) -> Self {
        Self(SecretString::from(key))
    }

    /// The plaintext key. Show it once; never log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_key() {
        let key = ApiKeySecret::new("sk_live_secretsecret".into());
        assert!(!format!("{key:?}").contains("secret"));
        assert!(!format!("{key}").contains("secret"));
        assert!(!format!("{:?}", Some(&key)).contains("secret"));
    }
}

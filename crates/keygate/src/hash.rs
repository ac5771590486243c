//! What the store keeps instead of the key: a SHA-256 (or HMAC-SHA256) digest.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

/// The SHA-256 (or HMAC-SHA256) digest of a whole key: the store's lookup key.
///
/// High-entropy keys need no slow hash: a fast digest per request is the right tool.
///
/// ```
/// use keygate::hash::{KeyHash, KeyHasher};
/// let hash = KeyHasher::Sha256.hash("sk_live_abc");
/// assert_eq!(KeyHash::from_hex(&hash.to_hex()), Some(hash));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses 64 hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl serde::Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// How keys are hashed before they reach the store.
///
/// `Sha256` is the default. `HmacSha256` mixes in a server-side pepper, so a stolen
/// database alone cannot be used to test guessed keys. Changing it makes every stored
/// key unknown: choose once per deployment.
///
/// ```
/// use keygate::hash::KeyHasher;
/// let peppered = KeyHasher::hmac_sha256(b"server pepper".to_vec());
/// assert_ne!(peppered.hash("k"), KeyHasher::Sha256.hash("k"));
/// assert_eq!(format!("{peppered:?}"), "HmacSha256(***)");
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum KeyHasher {
    /// SHA-256 of the whole key.
    #[default]
    Sha256,
    /// HMAC-SHA256 of the whole key with a secret pepper (made with
    /// [`KeyHasher::hmac_sha256`]).
    HmacSha256(Arc<Pepper>),
}

/// A secret pepper, with the HMAC state already keyed by it: keying costs two SHA-256
/// blocks, done once here instead of on every request. Never printed.
pub struct Pepper {
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl KeyHasher {
    /// An HMAC-SHA256 hasher with `pepper` as its key.
    pub fn hmac_sha256(pepper: Vec<u8>) -> Self {
        let pepper = SecretSlice::from(pepper);
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(pepper.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self::HmacSha256(Arc::new(Pepper { keyed }))
    }

    /// The hasher every keygate process must agree on: HMAC-SHA256 with the pepper in
    /// the `KEYGATE_PEPPER` environment variable when it is set and not empty, else
    /// SHA-256. The `keygate` CLI and the examples use it, so keys made by one verify in
    /// the others.
    ///
    /// ```
    /// // With KEYGATE_PEPPER unset:
    /// # std::env::remove_var("KEYGATE_PEPPER");
    /// assert_eq!(keygate::hash::KeyHasher::from_env().hash("k"), keygate::hash::KeyHasher::Sha256.hash("k"));
    /// ```
    pub fn from_env() -> Self {
        match std::env::var("KEYGATE_PEPPER") {
            Ok(pepper) if !pepper.is_empty() => Self::hmac_sha256(pepper.into_bytes()),
            _ => Self::Sha256,
        }
    }

    /// The digest of `key`.
    pub fn hash(&self, key: &str) -> KeyHash {
        self.hash_bytes(key.as_bytes())
    }

    /// [`KeyHasher::hash`] of a key given as bytes.
    pub(crate) fn hash_bytes(&self, key: &[u8]) -> KeyHash {
        match self {
            Self::Sha256 => KeyHash(Sha256::digest(key).into()),
            Self::HmacSha256(pepper) => {
                let mut mac = pepper.keyed.clone();
                mac.update(key);
                KeyHash(mac.finalize().into_bytes().into())
            }
        }
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256 => f.write_str("Sha256"),
            Self::HmacSha256(_) => f.write_str("HmacSha256(***)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            KeyHasher::Sha256.hash("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let hasher = KeyHasher::hmac_sha256(b"Jefe".to_vec());
        assert_eq!(
            hasher.hash("what do ya want for nothing?").to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = KeyHasher::Sha256.hash("x");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(KeyHash::from_hex("zz"), None);
        assert_eq!(KeyHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(KeyHash::from_hex(&"é".repeat(32)), None);
    }
}

/// A `BuildHasher` for maps keyed by [`KeyHash`]: the key is already a uniform
/// SHA-256, so its first eight bytes are the hash (no SipHash per lookup). Only for
/// hashes the store computed from keys; an attacker cannot choose a SHA-256 output.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrehashedBuilder;

/// The hasher of [`PrehashedBuilder`].
#[derive(Debug, Default)]
pub struct PrehashedHasher(u64);

impl std::hash::BuildHasher for PrehashedBuilder {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // The 32 digest bytes arrive in one call (after the length): keep the first 8.
        if let Some(head) = bytes.get(..8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(head);
            self.0 ^= u64::from_le_bytes(word);
        } else {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

#[cfg(test)]
mod prehashed_tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn maps_keyed_by_hash_work_with_the_prehashed_builder() {
        let mut map = HashMap::with_hasher(PrehashedBuilder);
        for i in 0..1000 {
            map.insert(KeyHasher::Sha256.hash(&format!("k{i}")), i);
        }
        for i in 0..1000 {
            assert_eq!(map.get(&KeyHasher::Sha256.hash(&format!("k{i}"))), Some(&i));
        }
        assert_eq!(map.get(&KeyHasher::Sha256.hash("absent")), None);
    }
}

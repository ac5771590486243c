//! The key format: `<prefix>_<env>_<30 random base62><6 base62 CRC32>`.
//!
//! Parsed from the right, so a prefix may hold `_` (`neo_sk_prod_…` is prefix `neo_sk`,
//! env `prod`). A bad shape, charset or checksum is rejected here, before any I/O.

use crate::base62;
use crate::secret::ApiKeySecret;

/// Random base62 characters in a key body (~178 bits).
pub const RANDOM_LEN: usize = 30;
/// Base62 characters of CRC32 checksum at the end of a key body.
pub const CHECKSUM_LEN: usize = 6;
/// Characters in a key body.
pub const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Longest prefix accepted.
pub const MAX_PREFIX_LEN: usize = 24;
/// Longest environment label accepted.
pub const MAX_ENV_LEN: usize = 10;
/// Longest well-formed key; anything longer is rejected without being read further.
pub const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + 1 + MAX_ENV_LEN + 1 + BODY_LEN;

/// Why a string is not a well-formed key (or a prefix/env is not valid).
///
/// Messages never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Longer than [`MAX_KEY_LEN`].
    #[error("key is too long")]
    TooLong,
    /// Not `<prefix>_<env>_<body>`.
    #[error("key is not of the form <prefix>_<env>_<body>")]
    Shape,
    /// The prefix is not `[a-z][a-z0-9_]{0,23}`.
    #[error("key prefix must match [a-z][a-z0-9_]{{0,23}}")]
    Prefix,
    /// The environment is not `[a-z]{2,10}`.
    #[error("key environment must match [a-z]{{2,10}}")]
    Env,
    /// The body is not 36 base62 characters.
    #[error("key body must be {BODY_LEN} base62 characters")]
    Body,
    /// The checksum does not match: a typo, a truncated copy, or not one of our keys.
    #[error("key checksum does not match")]
    Checksum,
    /// The operating system's random source failed.
    #[error("the OS random number generator failed")]
    Random,
}

/// A key that passed shape, charset and checksum checks.
///
/// ```
/// use keygate::key_format::{generate, ParsedKey};
/// let key = generate("neo_sk", "prod")?;
/// let parsed = ParsedKey::parse(key.expose())?;
/// assert_eq!((parsed.prefix(), parsed.env()), ("neo_sk", "prod"));
/// # Ok::<(), keygate::key_format::KeyFormatError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    key: &'a str,
    prefix: &'a str,
    env: &'a str,
}

impl std::fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .field("env", &self.env)
            .field("key", &"***")
            .finish()
    }
}

impl<'a> ParsedKey<'a> {
    /// Checks `key` without any I/O: length, shape, charsets, then checksum.
    pub fn parse(key: &'a str) -> Result<Self, KeyFormatError> {
        // Runs on every request: one pass over a well-formed key's bytes (a table
        // lookup per body character, the checksum compared as a number). Anything
        // irregular takes the plain path below, which names the first thing wrong.
        match check_bytes(key.as_bytes()) {
            // The separators are ASCII: these are char boundaries.
            Ok((prefix, env)) => Ok(Self {
                key,
                prefix: &key[..prefix.len()],
                env: &key[prefix.len() + 1..prefix.len() + 1 + env.len()],
            }),
            Err(KeyFormatError::Checksum) => Err(KeyFormatError::Checksum),
            Err(_) => Self::parse_irregular(key),
        }
    }

    /// [`ParsedKey::parse`] for a key that is not plainly well formed: each check in
    /// turn, so the error says what is wrong.
    fn parse_irregular(key: &'a str) -> Result<Self, KeyFormatError> {
        if key.len() > MAX_KEY_LEN {
            return Err(KeyFormatError::TooLong);
        }
        let (head, body) = key.rsplit_once('_').ok_or(KeyFormatError::Shape)?;
        let (prefix, env) = head.rsplit_once('_').ok_or(KeyFormatError::Shape)?;
        validate_prefix(prefix)?;
        validate_env(env)?;
        if body.len() != BODY_LEN || !body.bytes().all(base62::is_base62) {
            return Err(KeyFormatError::Body);
        }
        let (signed, checksum) = key.split_at(key.len() - CHECKSUM_LEN);
        if checksum_of(signed) != checksum.as_bytes() {
            return Err(KeyFormatError::Checksum);
        }
        Ok(Self { key, prefix, env })
    }

    /// The prefix, e.g. `sk` or `neo_sk`.
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The environment label, e.g. `live`.
    pub fn env(&self) -> &'a str {
        self.env
    }

    /// The whole key. Do not log it.
    pub fn as_str(&self) -> &'a str {
        self.key
    }

    /// A display hint that identifies the key without revealing it: `sk_live_…x9Qz`.
    pub fn hint(&self) -> String {
        hint_of(self.key, self.prefix, self.env)
    }
}

/// Generates a new key from the OS CSPRNG.
///
/// ```
/// let key = keygate::key_format::generate("sk", "live")?;
/// assert!(key.expose().starts_with("sk_live_"));
/// assert_eq!(key.expose().len(), "sk_live_".len() + 36);
/// # Ok::<(), keygate::key_format::KeyFormatError>(())
/// ```
pub fn generate(prefix: &str, env: &str) -> Result<ApiKeySecret, KeyFormatError> {
    validate_prefix(prefix)?;
    validate_env(env)?;
    let random = base62::random(RANDOM_LEN).map_err(|_| KeyFormatError::Random)?;
    let mut key = String::with_capacity(prefix.len() + env.len() + 2 + BODY_LEN);
    key.push_str(prefix);
    key.push('_');
    key.push_str(env);
    key.push('_');
    key.push_str(&random);
    let checksum = checksum_of(&key);
    key.extend(checksum.iter().map(|&b| char::from(b)));
    Ok(ApiKeySecret::new(key))
}

/// Checks a prefix: `[a-z][a-z0-9_]{0,23}`.
pub fn validate_prefix(prefix: &str) -> Result<(), KeyFormatError> {
    if prefix_ok(prefix.as_bytes()) {
        Ok(())
    } else {
        Err(KeyFormatError::Prefix)
    }
}

fn prefix_ok(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_PREFIX_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !bytes.ends_with(b"_")
}

/// Checks an environment label: `[a-z]{2,10}`.
pub fn validate_env(env: &str) -> Result<(), KeyFormatError> {
    if env_ok(env.as_bytes()) {
        Ok(())
    } else {
        Err(KeyFormatError::Env)
    }
}

fn env_ok(bytes: &[u8]) -> bool {
    (2..=MAX_ENV_LEN).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_lowercase)
}

/// A display hint for any key string, also one in a legacy format: its first
/// `prefix_env_` part and its last four characters.
pub(crate) fn hint_of(key: &str, prefix: &str, env: &str) -> String {
    let tail_start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    if prefix.is_empty() {
        format!("…{}", &key[tail_start..])
    } else {
        format!("{prefix}_{env}_…{}", &key[tail_start..])
    }
}

/// Checks a key given as bytes (the hot path: no UTF-8 validation, since a
/// well-formed key is ASCII): its prefix and environment, or an error that only says
/// it is not a well-formed key ([`ParsedKey::parse`] names what is wrong).
pub(crate) fn check_bytes(key: &[u8]) -> Result<(&[u8], &[u8]), KeyFormatError> {
    let (prefix, env) = well_formed_parts(key)
        .filter(|(prefix, env)| env_ok(env) && prefix_ok(prefix))
        .ok_or(KeyFormatError::Shape)?;
    checksum_ok(key)?;
    Ok((prefix, env))
}

/// [`check_bytes`] for a caller that accepts only some prefixes and environments,
/// known to be valid: `accepted(prefix, env)` stands in for their charset checks.
pub(crate) fn check_bytes_among(
    key: &[u8],
    accepted: impl FnOnce(&[u8], &[u8]) -> bool,
) -> Result<bool, KeyFormatError> {
    let (prefix, env) = well_formed_parts(key).ok_or(KeyFormatError::Shape)?;
    checksum_ok(key)?;
    Ok(accepted(prefix, env))
}

fn checksum_ok(key: &[u8]) -> Result<(), KeyFormatError> {
    let (signed, checksum) = key.split_at(key.len() - CHECKSUM_LEN);
    if base62::decode(checksum) != Some(u64::from(crc32(signed))) {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// CRC32 of `bytes`. `crc32fast::hash` detects the CPU's features on every call (more
/// instructions than the CRC of a key itself); a hasher made once is copied instead.
fn crc32(bytes: &[u8]) -> u32 {
    static TEMPLATE: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    let mut hasher = TEMPLATE.get_or_init(crc32fast::Hasher::new).clone();
    hasher.update(bytes);
    hasher.finalize()
}

/// The prefix and environment of a key whose shape and body charset are right (the
/// prefix and environment charsets and the checksum are not looked at); `None` for
/// anything else.
fn well_formed_parts(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = bytes.len();
    // `p_ee_` + body at the least.
    if !(BODY_LEN + 5..=MAX_KEY_LEN).contains(&len) {
        return None;
    }
    let body_start = len - BODY_LEN;
    if bytes[body_start - 1] != b'_' || !base62::all_base62(&bytes[body_start..]) {
        return None;
    }
    let env_end = body_start - 1;
    let lowest = env_end.saturating_sub(MAX_ENV_LEN + 1);
    let env_start = (lowest..env_end).rev().find(|&i| bytes[i] == b'_')? + 1;
    Some((&bytes[..env_start - 1], &bytes[env_start..env_end]))
}

fn checksum_of(signed: &str) -> [u8; CHECKSUM_LEN] {
    base62::encode_fixed(u64::from(crc32(signed.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str, env: &str) -> String {
        generate(prefix, env)
            .map(|k| k.expose().to_owned())
            .expect("a generated key")
    }

    #[test]
    fn generated_keys_round_trip() {
        for (prefix, env) in [
            ("sk", "live"),
            ("sk", "test"),
            ("neo_sk", "prod"),
            ("neolens", "live"),
        ] {
            let k = key(prefix, env);
            let parsed = ParsedKey::parse(&k);
            assert!(parsed.is_ok(), "{prefix}_{env}: {parsed:?}");
            let parsed = parsed.unwrap_or_else(|_| unreachable!());
            assert_eq!(parsed.prefix(), prefix);
            assert_eq!(parsed.env(), env);
            assert_eq!(parsed.as_str(), k);
        }
    }

    #[test]
    fn keys_are_unique() {
        let keys: std::collections::HashSet<String> =
            (0..1000).map(|_| key("sk", "live")).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn every_single_character_change_fails_the_checksum_or_charset() {
        let k = key("sk", "live");
        let body_start = "sk_live_".len();
        for i in body_start..k.len() {
            let mut bytes = k.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).expect("UTF-8");
            assert_eq!(
                ParsedKey::parse(&changed),
                Err(KeyFormatError::Checksum),
                "position {i}"
            );
        }
    }

    #[test]
    fn changed_env_fails_the_checksum() {
        let k = key("sk", "live").replacen("_live_", "_test_", 1);
        assert_eq!(ParsedKey::parse(&k), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn malformed_inputs() {
        let valid = key("sk", "live");
        let body = &valid["sk_live_".len()..];
        let cases: Vec<(String, KeyFormatError)> = vec![
            (String::new(), KeyFormatError::Shape),
            ("_".into(), KeyFormatError::Shape),
            ("sk_live".into(), KeyFormatError::Shape),
            (body.to_owned(), KeyFormatError::Shape),
            ("x".repeat(10 * 1024), KeyFormatError::TooLong),
            (format!("sk_live_{}", &body[1..]), KeyFormatError::Body),
            (format!("sk_live_{body}x"), KeyFormatError::Body),
            (format!("sk_live_{}é", &body[2..]), KeyFormatError::Body),
            (format!("SK_live_{body}"), KeyFormatError::Prefix),
            (format!("9k_live_{body}"), KeyFormatError::Prefix),
            (format!("sk_Live_{body}"), KeyFormatError::Env),
            (format!("sk_l_{body}"), KeyFormatError::Env),
            (format!("sk__{body}"), KeyFormatError::Env),
            (format!("sk_live__{body}"), KeyFormatError::Env),
            (format!("sk_li-ve_{body}"), KeyFormatError::Env),
            (format!("ключ_live_{}", &body[..30]), KeyFormatError::Prefix),
            (format!("sk_live_{}", "é".repeat(18)), KeyFormatError::Body),
            (format!(" {valid}"), KeyFormatError::Prefix),
            (format!("{valid} "), KeyFormatError::Body),
        ];
        for (input, expected) in cases {
            assert_eq!(ParsedKey::parse(&input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn the_fast_path_and_the_plain_path_agree() {
        let valid = key("neo_sk", "prod");
        let mut inputs = vec![
            valid.clone(),
            key("a", "bb"),
            key(&"p".repeat(24), "abcdefghij"),
        ];
        // Every prefix and suffix cut, every byte replaced by a few others.
        for i in 0..valid.len() {
            inputs.push(valid[..i].to_owned());
            inputs.push(valid[i..].to_owned());
            for c in ["_", "A", "a", "0", "-", "é"] {
                let mut s = valid.clone();
                s.replace_range(i..=i, c);
                inputs.push(s);
            }
        }
        for input in inputs {
            assert_eq!(
                ParsedKey::parse(&input),
                ParsedKey::parse_irregular(&input),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn prefix_with_underscores_parses_from_the_right() {
        let k = key("a_b_c", "dev");
        let parsed = ParsedKey::parse(&k).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((parsed.prefix(), parsed.env()), ("a_b_c", "dev"));
    }

    #[test]
    fn generate_rejects_bad_prefix_and_env() {
        assert_eq!(generate("", "live").err(), Some(KeyFormatError::Prefix));
        assert_eq!(generate("sk_", "live").err(), Some(KeyFormatError::Prefix));
        assert_eq!(
            generate(&"a".repeat(25), "live").err(),
            Some(KeyFormatError::Prefix)
        );
        assert_eq!(
            generate("sk", "production1").err(),
            Some(KeyFormatError::Env)
        );
        assert_eq!(generate("sk", "x").err(), Some(KeyFormatError::Env));
    }

    #[test]
    fn hint_shows_only_prefix_env_and_last_four() {
        let k = key("sk", "live");
        let hint = ParsedKey::parse(&k)
            .map(|p| p.hint())
            .expect("a well-formed key");
        assert_eq!(hint, format!("sk_live_…{}", &k[k.len() - 4..]));
        assert_eq!(hint_of("abc", "", ""), "…abc");
    }

    #[test]
    fn debug_hides_the_key() {
        let k = key("sk", "live");
        let parsed = ParsedKey::parse(&k).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{parsed:?}").contains(&k[8..]));
    }
}

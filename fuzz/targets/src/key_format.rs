//! Target `key_format`: [`keygate::key_format::ParsedKey::parse`] (shape, charsets,
//! checksum) against a plain model of the format.

use keygate::key_format::{
    validate_env, validate_prefix, KeyFormatError, ParsedKey, BODY_LEN, CHECKSUM_LEN, MAX_KEY_LEN,
};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Parses the input (as text, invalid UTF-8 replaced) and the same text with a correct
/// checksum put in its last six characters, and checks each against a model of the
/// format: the same result (the same error kind, or the same prefix and environment);
/// a key that parses re-prints to itself and its hint; a parsed key with any one
/// character changed fails.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check(&text);
    if let Some(fixed) = with_checksum(&text) {
        check(&fixed);
    }
}

fn check(key: &str) {
    let parsed = ParsedKey::parse(key);
    let expected = model(key);
    match (&parsed, &expected) {
        (Ok(p), Ok((prefix, env))) => {
            assert_eq!((p.prefix(), p.env()), (*prefix, *env), "{key:?}");
        }
        (Err(e), Err(m)) => assert_eq!(e, m, "{key:?}"),
        _ => panic!("{key:?}: parsed {parsed:?}, the model says {expected:?}"),
    }
    let Ok(p) = parsed else { return };
    assert_eq!(p.as_str(), key);
    assert!(validate_prefix(p.prefix()).is_ok() && validate_env(p.env()).is_ok());
    assert_eq!(
        ParsedKey::parse(p.as_str()).map(|again| (again.prefix(), again.env())),
        Ok((p.prefix(), p.env()))
    );
    let tail = &key[key.len() - 4..];
    assert_eq!(p.hint(), format!("{}_{}_…{tail}", p.prefix(), p.env()));
    assert!(!p.hint().contains(&key[key.len() - BODY_LEN..key.len() - 4]));
    // Any one character changed after the prefix is caught by the checksum (or the
    // charset): CRC32 detects every error of one byte.
    let from = p.prefix().len() + 1;
    for i in from..key.len() {
        let mut bytes = key.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let changed = String::from_utf8(bytes).expect("UTF-8");
        assert!(ParsedKey::parse(&changed).is_err(), "{changed:?} parsed");
    }
}

/// `text` with its last six characters replaced by the checksum of the rest (when they
/// are six ASCII characters).
fn with_checksum(text: &str) -> Option<String> {
    let cut = text.len().checked_sub(CHECKSUM_LEN)?;
    let signed = text.get(..cut)?;
    let mut fixed = signed.to_owned();
    fixed.extend(checksum(signed).iter().map(|&b| char::from(b)));
    Some(fixed)
}

fn checksum(signed: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = u64::from(crc32fast::hash(signed.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// The format, checked in the order the documentation gives: length, shape, prefix
/// `[a-z][a-z0-9_]{0,23}` (not ending in `_`), environment `[a-z]{2,10}`, body of 36
/// base62 characters, CRC32 checksum of everything before the last six.
fn model(key: &str) -> Result<(&str, &str), KeyFormatError> {
    if key.len() > MAX_KEY_LEN {
        return Err(KeyFormatError::TooLong);
    }
    let (head, body) = key.rsplit_once('_').ok_or(KeyFormatError::Shape)?;
    let (prefix, env) = head.rsplit_once('_').ok_or(KeyFormatError::Shape)?;
    let p = prefix.as_bytes();
    let prefix_ok = (1..=24).contains(&p.len())
        && p[0].is_ascii_lowercase()
        && p.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !prefix.ends_with('_');
    if !prefix_ok {
        return Err(KeyFormatError::Prefix);
    }
    if !(2..=10).contains(&env.len()) || !env.bytes().all(|c| c.is_ascii_lowercase()) {
        return Err(KeyFormatError::Env);
    }
    if body.len() != BODY_LEN || !body.bytes().all(|c| ALPHABET.contains(&c)) {
        return Err(KeyFormatError::Body);
    }
    let (signed, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    if checksum(signed) != sum.as_bytes() {
        return Err(KeyFormatError::Checksum);
    }
    Ok((prefix, env))
}

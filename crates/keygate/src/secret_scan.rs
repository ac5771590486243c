//! Finding keys in text that should hold none: a value about to be stored, an error
//! message about to be sent.
//!
//! Two questions with two answers. [`holds_key`] is exact: a token that parses as a
//! key of any prefix with a valid checksum (a random match has odds of 1 in 62^6), so
//! refusing such a value never refuses an honest one. [`redact_keys`] is cautious: it
//! also hides what is only shaped like a key (`<prefix>_<env>_` then 12 or more
//! base62 characters with an upper-case letter or a digit), because an error message
//! may quote a value cut short, whose checksum is gone.

use std::borrow::Cow;

use crate::key_format::ParsedKey;

/// What [`redact_keys`] puts in place of a key.
pub const REDACTED: &str = "[redacted key]";

/// The runs of `[A-Za-z0-9_]` in `text`, with their byte offsets.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(move |t| (t.as_ptr() as usize - text.as_ptr() as usize, t))
}

/// Each place a key could start in a token: its start, and just after each `_` (a key
/// glued to a word before it, `x_sk_live_…`, still counts).
fn starts(token: &str) -> impl Iterator<Item = &str> {
    std::iter::once(token).chain(token.match_indices('_').map(|(i, _)| &token[i + 1..]))
}

/// Whether `text` holds a whole key of any prefix and environment.
///
/// ```
/// use keygate::secret_scan::holds_key;
/// let key = keygate::key_format::generate("sk", "live")?;
/// assert!(holds_key(&format!("my key: {}", key.expose())));
/// assert!(!holds_key("read:scans, the billing team's key"));
/// # Ok::<(), keygate::key_format::KeyFormatError>(())
/// ```
pub fn holds_key(text: &str) -> bool {
    tokens(text).any(|(_, token)| starts(token).any(|s| ParsedKey::parse(s).is_ok()))
}

/// Whether `token` (a run of `[A-Za-z0-9_]`) is shaped like a key or the start of one.
fn key_shaped(token: &str) -> bool {
    let Some((head, body)) = token.rsplit_once('_') else {
        return false;
    };
    let Some((prefix, env)) = head.rsplit_once('_') else {
        return false;
    };
    let lower = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    body.len() >= 12
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
        && body
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && lower(prefix)
        && lower(env)
}

/// `text` with every key, and everything shaped like the start of one, replaced by
/// [`REDACTED`]; borrowed when there is none.
///
/// ```
/// use keygate::secret_scan::redact_keys;
/// let key = keygate::key_format::generate("sk", "live")?;
/// let cut: String = key.expose().chars().take(32).collect();
/// assert_eq!(redact_keys(&format!("invalid IP {cut:?}")), "invalid IP \"[redacted key]\"");
/// assert_eq!(redact_keys("no key key_0JKa6YRbgLXhVhEt"), "no key key_0JKa6YRbgLXhVhEt");
/// # Ok::<(), keygate::key_format::KeyFormatError>(())
/// ```
pub fn redact_keys(text: &str) -> Cow<'_, str> {
    let mut found = tokens(text)
        .filter(|(_, token)| {
            key_shaped(token) || starts(token).any(|s| ParsedKey::parse(s).is_ok())
        })
        .peekable();
    if found.peek().is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, token) in found {
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = start + token.len();
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str, env: &str) -> String {
        crate::key_format::generate(prefix, env)
            .expect("a generated key")
            .expose()
            .to_owned()
    }

    #[test]
    fn a_whole_key_is_found_wherever_it_sits() {
        let (a, b) = (key("sk", "live"), key("neo_sk", "prod"));
        for text in [
            a.clone(),
            format!("my key is {a}."),
            format!("x_{a}"),
            format!("{{\"token\":\"{b}\"}}"),
            format!("https://app.example.com/?k={b}&x=1"),
        ] {
            assert!(holds_key(&text), "{text}");
            let redacted = redact_keys(&text);
            assert!(
                !redacted.contains(&a[8..]) && !redacted.contains(&b[12..]),
                "{redacted}"
            );
            assert!(redacted.contains(REDACTED), "{redacted}");
        }
    }

    #[test]
    fn a_changed_key_is_not_a_key_but_is_still_redacted() {
        let mut changed = key("sk", "live");
        let last = changed.pop().expect("a character");
        changed.push(if last == 'a' { 'b' } else { 'a' });
        assert!(!holds_key(&changed));
        assert_eq!(redact_keys(&changed), REDACTED);
        let cut: String = key("sk", "live").chars().take(24).collect();
        assert_eq!(
            redact_keys(&format!("bad: '{cut}'")),
            format!("bad: '{REDACTED}'")
        );
    }

    #[test]
    fn honest_text_is_left_alone() {
        for text in [
            "",
            "sk_live_",
            "read:scans write:reports",
            "key key_0JKa6YRbgLXhVhEt and event evt_0JKa6YRbgLXhVhEtAbCd",
            "role st_viewer, tenant acme_corp_europe",
            "invalid duration \"1 hour\": use a number",
            "customer_data_exports",
        ] {
            assert!(!holds_key(text), "{text}");
            assert!(
                matches!(redact_keys(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A key of any prefix and environment, anywhere in any text, is found, and
        /// redacting leaves no 12 characters of its secret body.
        #[test]
        fn a_key_in_any_text_is_found_and_redacted(
            prefix in "[a-z][a-z0-9_]{0,10}[a-z0-9]|[a-z]",
            env in "[a-z]{2,8}",
            before in "\\PC{0,40}",
            open in "[ \"'=:/?&(\\[]",
            close in "[ \"'&.,;)\\]]",
            after in "\\PC{0,40}",
        ) {
            // Anything around it, but not glued to a word (a key glued to letters
            // before it, `xsk_live_…`, is another prefix, and its checksum fails).
            let key = key(&prefix, &env);
            let text = format!("{before}{open}{key}{close}{after}");
            proptest::prop_assert!(holds_key(&text), "{text:?}");
            let redacted = redact_keys(&text);
            let body = key.rsplit('_').next().expect("a body");
            for i in 0..=body.len() - 12 {
                proptest::prop_assert!(!redacted.contains(&body[i..i + 12]), "{redacted:?}");
            }
        }

        /// Something shaped like a key but not issued (a random body: its checksum
        /// matches by chance once in 62^6) is not a key, but is still redacted.
        #[test]
        fn a_key_shape_without_its_checksum_is_redacted_not_refused(
            body in "[0-9A-Za-z]{36}",
        ) {
            let text = format!("token sk_live_{body} here");
            proptest::prop_assert!(!holds_key(&text), "{text}");
            proptest::prop_assert_eq!(redact_keys(&text), format!("token {REDACTED} here"));
        }
    }
}

//! `keygate::secret_scan`: what keeps keys out of stored data and error messages, run
//! on whatever an attacker sends to the admin API.
//!
//! Invariants, for any text: neither function panics; redaction is idempotent and
//! leaves no key behind; text that holds a key is changed by redaction; text with no
//! `_` (no key can be spelled without one) is left as it was; and a real key placed
//! in the text (between separators) is found, and none of its secret survives.

use keygate::secret_scan::{holds_key, redact_keys, REDACTED};

/// Runs the invariants on `data` as text (lossy), then with a key of ours inside it.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check(&text);

    let key = key_from(data);
    let cut = data.len() / 2;
    let (before, after) = (
        String::from_utf8_lossy(&data[..cut]),
        String::from_utf8_lossy(&data[cut..]),
    );
    let placed = format!("{before} {key} {after}");
    assert!(holds_key(&placed), "{placed:?}");
    let redacted = redact_keys(&placed);
    assert!(redacted.contains(REDACTED), "{redacted:?}");
    let body = key.rsplit('_').next().unwrap_or_default();
    for window in body.as_bytes().windows(12) {
        let window = std::str::from_utf8(window).unwrap_or_default();
        assert!(
            !redacted.contains(window),
            "{window} survives in {redacted:?}"
        );
    }
    check(&placed);
}

fn check(text: &str) {
    let redacted = redact_keys(text);
    assert!(
        !holds_key(&redacted),
        "a key survives redaction: {redacted:?}"
    );
    assert_eq!(
        redact_keys(&redacted),
        redacted,
        "redaction is not idempotent"
    );
    if holds_key(text) {
        assert_ne!(redacted, text, "a key was not redacted");
    }
    if !text.contains('_') {
        assert_eq!(redacted, text, "text without `_` was changed");
    }
}

/// A key whose prefix and environment come from the input, so the fuzzer explores
/// their shapes (`sk`/`live` when the input gives none that is valid).
fn key_from(data: &[u8]) -> String {
    let name = |bytes: &[u8], fallback: &str| {
        let s: String = bytes
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .take(10)
            .collect();
        if s.is_empty() {
            fallback.to_owned()
        } else {
            s
        }
    };
    let prefix = name(data.get(..3).unwrap_or_default(), "sk");
    let env = name(data.get(3..6).unwrap_or_default(), "live");
    keygate::key_format::generate(&prefix, &env)
        .or_else(|_| keygate::key_format::generate("sk", "live"))
        .map(|k| k.expose().to_owned())
        .expect("a key from the OS CSPRNG")
}

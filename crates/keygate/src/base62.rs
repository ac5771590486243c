//! Base62 (`0-9A-Za-z`): the alphabet of key bodies and public ids.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` base62 characters drawn uniformly from the OS CSPRNG.
///
/// Rejection sampling keeps the distribution exact: bytes >= 248 (= 4 * 62) are redrawn.
pub(crate) fn random(n: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf)?;
        for &b in &buf {
            if b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// `value` as exactly `N` base62 digits, most significant first, zero-padded.
/// No allocation: this runs on every request.
pub(crate) fn encode_fixed<const N: usize>(mut value: u64) -> [u8; N] {
    let mut digits = [b'0'; N];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// Whether `c` is in the base62 alphabet.
pub(crate) fn is_base62(c: u8) -> bool {
    DIGIT[usize::from(c)] != NOT_A_DIGIT
}

const NOT_A_DIGIT: u8 = u8::MAX;

/// Each byte's base62 digit value, or [`NOT_A_DIGIT`].
static DIGIT: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The value of base62 `digits` (most significant first), or `None` if one is not a
/// base62 digit. At most 10 digits (62^10 < 2^64). The inverse of [`encode_fixed`].
pub(crate) fn decode(digits: &[u8]) -> Option<u64> {
    debug_assert!(digits.len() <= 10);
    let mut value = 0u64;
    for &c in digits {
        let digit = DIGIT[usize::from(c)];
        if digit == NOT_A_DIGIT {
            return None;
        }
        value = value * 62 + u64::from(digit);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_encoding() {
        assert_eq!(&encode_fixed::<6>(0), b"000000");
        assert_eq!(&encode_fixed::<2>(61), b"0z");
        assert_eq!(&encode_fixed::<2>(62), b"10");
        assert_eq!(&encode_fixed::<6>(u64::from(u32::MAX)), b"4gfFC3");
    }

    #[test]
    fn decode_inverts_encode_and_rejects_other_bytes() {
        for value in [0, 1, 61, 62, 3_843, 1 << 31, u64::from(u32::MAX)] {
            assert_eq!(decode(&encode_fixed::<6>(value)), Some(value));
        }
        assert_eq!(decode(b"00_0"), None);
        assert_eq!(decode(b"\xff"), None);
        assert!((0..=255u8).all(|c| is_base62(c) == c.is_ascii_alphanumeric()));
    }

    #[test]
    fn random_is_base62_of_the_asked_length() {
        let a = random(30).unwrap_or_default();
        let b = random(30).unwrap_or_default();
        assert_eq!(a.len(), 30);
        assert!(a.bytes().all(is_base62));
        assert_ne!(a, b);
    }
}

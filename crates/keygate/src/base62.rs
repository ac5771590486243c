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

/// Whether every byte of `bytes` is in the base62 alphabet: eight bytes per step (a key
/// body is checked on every request).
pub(crate) fn all_base62(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(word);
        if !word_is_base62(u64::from_le_bytes(lanes)) {
            return false;
        }
    }
    words.remainder().iter().all(|&c| is_base62(c))
}

/// Whether all eight bytes of `x` are `[0-9A-Za-z]`. With every byte below 0x80, adding
/// `0x80 - lo` sets a byte's top bit exactly when it is `>= lo`, and adding `0x7f - hi`
/// exactly when it is `> hi`; no sum carries into the next byte.
fn word_is_base62(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    if x & TOPS != 0 {
        return false;
    }
    let within = |lo: u8, hi: u8| {
        let at_least_lo = x + ONES * u64::from(0x80 - lo);
        let above_hi = x + ONES * u64::from(0x7f - hi);
        at_least_lo & !above_hi & TOPS
    };
    within(b'0', b'9') | within(b'A', b'Z') | within(b'a', b'z') == TOPS
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
    fn the_word_check_agrees_with_the_byte_check() {
        // Every byte value in every lane position, among valid neighbours.
        for c in 0..=255u8 {
            for at in 0..9 {
                let mut bytes = *b"aZ09xY7kQ";
                bytes[at] = c;
                assert_eq!(
                    all_base62(&bytes),
                    bytes.iter().all(|&b| is_base62(b)),
                    "{c} at {at}"
                );
            }
        }
        assert!(all_base62(b""));
        assert!(all_base62(ALPHABET));
    }

    #[test]
    fn random_is_base62_of_the_asked_length() {
        let a = random(30).expect("the OS CSPRNG");
        let b = random(30).expect("the OS CSPRNG");
        assert_eq!(a.len(), 30);
        assert!(a.bytes().all(is_base62));
        assert_ne!(a, b);
    }
}

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
    c.is_ascii_alphanumeric()
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
    fn random_is_base62_of_the_asked_length() {
        let a = random(30).unwrap_or_default();
        let b = random(30).unwrap_or_default();
        assert_eq!(a.len(), 30);
        assert!(a.bytes().all(is_base62));
        assert_ne!(a, b);
    }
}

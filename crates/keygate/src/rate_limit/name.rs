//! [`LimitName`]: what a limit is called in headers, problem bodies and the admin API.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of a limit: `default` for a key's own limit (its `rate_limit`, else its
/// environment's default, else the fallback), or a name given to a named or shared
/// limit.
///
/// A name is 1 to 32 characters of `a-z`, `0-9`, `_` and `-`, starting with a letter
/// or digit. It is what clients see in the `RateLimit-Policy` / `RateLimit` fields and
/// in a problem body's `violated-policies`, so it names a policy (`burst`, `monthly`,
/// `org`), never a secret. `default` is reserved for the key's own limit; a daily quota
/// is reported as its limit's name followed by `:daily`, which no name can be.
///
/// Cloning is cheap: `default` is no allocation and other names are shared.
///
/// ```
/// use keygate::rate_limit::LimitName;
/// let name: LimitName = "burst".parse()?;
/// assert_eq!(name.as_str(), "burst");
/// assert_eq!(LimitName::default_limit().as_str(), "default");
/// assert!("Burst".parse::<LimitName>().is_err());
/// assert!("default".parse::<LimitName>().is_err(), "reserved");
/// # Ok::<(), keygate::rate_limit::LimitNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitName(Repr);

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Default,
    Named(Arc<str>),
}

/// A limit name that breaks the rules of [`LimitName`]; the message says which.
///
/// ```
/// let err = "no spaces".parse::<keygate::rate_limit::LimitName>().unwrap_err();
/// assert!(err.to_string().contains("a-z, 0-9, _ and -"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitNameError(String);

impl LimitName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = 32;

    /// The name of a key's own limit, `default`.
    ///
    /// ```
    /// use keygate::rate_limit::LimitName;
    /// assert!(LimitName::default_limit().is_default());
    /// ```
    pub fn default_limit() -> Self {
        Self(Repr::Default)
    }

    /// Whether this is `default`, the key's own limit.
    ///
    /// ```
    /// use keygate::rate_limit::LimitName;
    /// assert!(!"burst".parse::<LimitName>()?.is_default());
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    pub fn is_default(&self) -> bool {
        matches!(self.0, Repr::Default)
    }

    /// The name as written.
    ///
    /// ```
    /// use keygate::rate_limit::LimitName;
    /// assert_eq!("org-daily".parse::<LimitName>()?.as_str(), "org-daily");
    /// # Ok::<(), keygate::rate_limit::LimitNameError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Default => "default",
            Repr::Named(name) => name,
        }
    }

    /// Checks `name` against the rules above.
    fn validate(name: &str) -> Result<(), LimitNameError> {
        let shown: String = name.chars().take(40).collect();
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return Err(LimitNameError(format!(
                "a limit name must be 1 to {} characters, not {}: {shown:?}",
                Self::MAX_LEN,
                name.chars().count()
            )));
        }
        let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-';
        if !name.bytes().all(ok) || !name.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(LimitNameError(format!(
                "invalid limit name {shown:?}: use a-z, 0-9, _ and -, starting with a letter \
                 or digit"
            )));
        }
        if name == "default" {
            return Err(LimitNameError(
                "\"default\" names the key's own limit (rateLimit); choose another name".to_owned(),
            ));
        }
        Ok(())
    }
}

impl FromStr for LimitName {
    type Err = LimitNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::validate(s)?;
        Ok(Self(Repr::Named(Arc::from(s))))
    }
}

impl TryFrom<&str> for LimitName {
    type Error = LimitNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for LimitName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LimitName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "default" {
            return Ok(Self::default_limit());
        }
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for good in [
            "burst",
            "a",
            "org-daily",
            "9lives",
            "per_user",
            &"x".repeat(32),
        ] {
            assert!(good.parse::<LimitName>().is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "default",
            "Burst",
            "-x",
            "_x",
            "a b",
            "a:daily",
            "é",
            "a\"b",
            &"x".repeat(33),
        ] {
            assert!(bad.parse::<LimitName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_round_trips_and_refuses_bad_names() {
        let name: LimitName = "burst".parse().expect("valid");
        let json = serde_json::to_string(&name).expect("serializes");
        assert_eq!(json, "\"burst\"");
        assert_eq!(serde_json::from_str::<LimitName>(&json).ok(), Some(name));
        assert!(serde_json::from_str::<LimitName>("\"a b\"").is_err());
        assert!(serde_json::from_str::<LimitName>("\"default\"").is_ok_and(|n| n.is_default()));
    }
}

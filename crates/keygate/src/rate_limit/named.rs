//! [`NamedLimits`]: the limits a key carries beside its own `rate_limit`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name::LimitName;
use super::spec::{RateLimitSpec, RateLimitSpecError};

/// A key's named limits, by name: e.g. `burst` = `10/s` and `daily` =
/// `100000/day,quota=100000` beside its own limit. Every one of them (and the key's
/// own, and the shared ones) must allow a request, and a request is counted in all or
/// in none.
///
/// At most [`NamedLimits::MAX`] per key; each spec within the bounds of
/// [`RateLimitSpec`]. Serialized as a JSON object from name to spec text
/// (`{"burst": "10/s"}`); the spec's object form is read too.
///
/// ```
/// use keygate::RateLimitSpec;
/// use keygate::rate_limit::NamedLimits;
/// let limits = NamedLimits::parse([("burst", "10/s"), ("daily", "1000/day")])?;
/// assert_eq!(limits.len(), 2);
/// assert_eq!(limits.get("burst"), Some(&RateLimitSpec::per_second(10)));
/// assert_eq!(serde_json::to_string(&limits)?, r#"{"burst":"10/s","daily":"1000/day"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NamedLimits(BTreeMap<LimitName, RateLimitSpec>);

/// Named limits that break a rule: a bad name, a bad spec, or too many.
///
/// ```
/// let err = keygate::rate_limit::NamedLimits::parse([("Burst", "10/s")]).unwrap_err();
/// assert!(err.to_string().contains("Burst"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NamedLimitsError(String);

impl NamedLimits {
    /// The most named limits a key may carry.
    pub const MAX: usize = 16;

    /// No named limits.
    ///
    /// ```
    /// assert!(keygate::rate_limit::NamedLimits::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Named limits from `(name, spec text)` pairs, each checked.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, NamedLimitsError> {
        let mut limits = Self::new();
        for (name, spec) in pairs {
            let name: LimitName = name.parse().map_err(|e| NamedLimitsError(format!("{e}")))?;
            let spec: RateLimitSpec = spec
                .parse()
                .map_err(|e: RateLimitSpecError| NamedLimitsError(format!("limit {name}: {e}")))?;
            limits.insert(name, spec)?;
        }
        Ok(limits)
    }

    /// Adds or replaces the limit `name`; refused past [`NamedLimits::MAX`] or with a
    /// spec out of bounds.
    ///
    /// ```
    /// use keygate::RateLimitSpec;
    /// use keygate::rate_limit::NamedLimits;
    /// let mut limits = NamedLimits::new();
    /// limits.insert("burst".parse()?, RateLimitSpec::per_second(10))?;
    /// assert!(limits.insert("bad".parse()?, RateLimitSpec::per_second(0)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, name: LimitName, spec: RateLimitSpec) -> Result<(), NamedLimitsError> {
        if name.is_default() {
            return Err(NamedLimitsError(
                "\"default\" is the key's own limit: set rateLimit instead".to_owned(),
            ));
        }
        spec.validate()
            .map_err(|e| NamedLimitsError(format!("limit {name}: {e}")))?;
        if !self.0.contains_key(&name) && self.0.len() >= Self::MAX {
            return Err(NamedLimitsError(format!(
                "a key may carry at most {} named limits",
                Self::MAX
            )));
        }
        self.0.insert(name, spec);
        Ok(())
    }

    /// Removes the limit `name`; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|n, _| n.as_str() != name);
        self.0.len() != before
    }

    /// The limit `name`, if the key has it.
    pub fn get(&self, name: &str) -> Option<&RateLimitSpec> {
        self.0
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, spec)| spec)
    }

    /// Every limit, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&LimitName, &RateLimitSpec)> + '_ {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for NamedLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, s)| (n.as_str(), s.to_string())))
            .finish()
    }
}

impl Serialize for NamedLimits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(n, s)| (n.as_str(), s.to_string())))
    }
}

/// A spec as text (`"10/s"`) or as its object form.
#[derive(Deserialize)]
#[serde(untagged)]
enum SpecForm {
    Text(String),
    Object(RateLimitSpec),
}

impl<'de> Deserialize<'de> for NamedLimits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, SpecForm>::deserialize(deserializer)?;
        let mut limits = Self::new();
        for (name, spec) in map {
            let name: LimitName = name.parse().map_err(serde::de::Error::custom)?;
            let spec = match spec {
                SpecForm::Text(text) => text.parse().map_err(|e: RateLimitSpecError| {
                    serde::de::Error::custom(format!("limit {name}: {e}"))
                })?,
                SpecForm::Object(spec) => spec,
            };
            limits
                .insert(name, spec)
                .map_err(serde::de::Error::custom)?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_bad_input_are_refused_by_name() {
        let err = |pairs: &[(&str, &str)]| {
            NamedLimits::parse(pairs.iter().copied())
                .map(|l| format!("{l:?}"))
                .unwrap_or_else(|e| e.to_string())
        };
        assert!(err(&[("default", "1/s")]).contains("default"));
        assert!(err(&[("burst", "0/s")]).contains("limit burst"));
        assert!(err(&[("a b", "1/s")]).contains("a b"));
        let many: Vec<(String, &str)> = (0..17).map(|i| (format!("l{i}"), "1/s")).collect();
        let too_many = NamedLimits::parse(many.iter().map(|(n, s)| (n.as_str(), *s)));
        assert!(too_many.is_err_and(|e| e.to_string().contains("at most 16")));
    }

    #[test]
    fn json_reads_text_and_object_forms_and_refuses_bad_ones() {
        let limits: NamedLimits = serde_json::from_str(
            r#"{"burst":"10/s","daily":{"requests":1000,"perSeconds":86400}}"#,
        )
        .expect("valid");
        assert_eq!(limits.get("daily"), Some(&RateLimitSpec::new(1000, 86_400)));
        for bad in [
            r#"{"burst":"10/x"}"#,
            r#"{"Bad":"1/s"}"#,
            r#"{"burst":{"requests":0,"perSeconds":1}}"#,
            r#"["burst"]"#,
        ] {
            assert!(serde_json::from_str::<NamedLimits>(bad).is_err(), "{bad}");
        }
    }
}

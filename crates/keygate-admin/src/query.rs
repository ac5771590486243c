//! Query strings: known parameters only, each at most once, clear errors.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keygate::store::PageRequest;

use crate::dto::ApiError;

pub(crate) struct Query(HashMap<String, String>);

impl Query {
    /// Parses `raw`, refusing parameters not in `known` and repeated ones.
    pub(crate) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !known.contains(&k.as_ref()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {k:?}; expected one of {}",
                    known.join(", ")
                )));
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter {k:?} is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// `limit` (1 to 1000, default 50) and `cursor`.
    pub(crate) fn page(&mut self) -> Result<PageRequest, ApiError> {
        let limit = match self.take("limit") {
            None => 50,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| {
                    ApiError::bad_request("limit must be a whole number from 1 to 1000")
                })?,
        };
        Ok(PageRequest {
            limit,
            cursor: self.take("cursor"),
        })
    }

    pub(crate) fn bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.take(name).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(format!(
                "{name} must be true or false"
            ))),
        }
    }

    pub(crate) fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.take(name)
            .map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "{name} must be an RFC 3339 time, e.g. 2026-01-22T10:00:00Z"
                        ))
                    })
            })
            .transpose()
    }
}

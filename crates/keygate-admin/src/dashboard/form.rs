//! HTML forms in, admin API JSON bodies out: the dashboard validates nothing the admin
//! API validates; it only reshapes fields, and names fields it does not know.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// A submitted form: each known field at most once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form(BTreeMap<String, String>);

impl Form {
    /// Parses an `application/x-www-form-urlencoded` body, refusing fields not in
    /// `known` and repeated ones.
    pub(crate) fn parse(body: &[u8], known: &[&str]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if !known.contains(&k.as_ref()) {
                return Err(format!(
                    "unknown form field {k:?}; this form has {}",
                    known.join(", ")
                ));
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(format!("form field {k:?} is repeated"));
            }
        }
        Ok(Self(map))
    }

    /// The field, trimmed ("" when absent).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// The field as a page shows it back: trimmed, with any API key in it replaced by
    /// `[redacted key]` (a key pasted into the wrong field is refused, and the page
    /// that says so does not carry it).
    pub(crate) fn shown(&self, name: &str) -> std::borrow::Cow<'_, str> {
        keygate::secret_scan::redact_keys(self.get(name))
    }

    /// The field, trimmed, or `None` when empty.
    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }
}

/// Items separated by commas, spaces or new lines.
pub(crate) fn items(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The scopes of the `scopes` (a list) and `resource_scopes` (lines of
/// `resource: action, action`) fields, as the admin API's list form; `None` when both
/// are empty.
pub(crate) fn scopes(form: &Form) -> Result<Option<Value>, String> {
    let mut list = items(form.get("scopes"));
    for line in form.get("resource_scopes").lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (resource, actions) = line.split_once(':').ok_or_else(|| {
            format!(
                "per-resource scopes: {line:?} is not `resource: action, action` (e.g. `opportunities: read, write`)"
            )
        })?;
        let resource = resource.trim();
        if resource.is_empty() {
            return Err(format!("per-resource scopes: {line:?} names no resource"));
        }
        let actions = items(actions);
        if actions.is_empty() {
            return Err(format!("per-resource scopes: {line:?} names no action"));
        }
        list.extend(actions.iter().map(|a| format!("{a}:{resource}")));
    }
    if list.is_empty() && form.get("scopes").is_empty() && form.get("resource_scopes").is_empty() {
        return Ok(None);
    }
    Ok(Some(json!(list)))
}

/// A rate limit: a whole number (per hour) or a spec string (`1000/h,burst=50`).
pub(crate) fn rate_limit(text: &str) -> Value {
    match text.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(text),
    }
}

/// A duration: whole seconds or text (`24h`).
pub(crate) fn duration(text: &str) -> Value {
    rate_limit(text)
}

/// A `datetime-local` value (`2026-12-01T10:00`, UTC) or an RFC 3339 time, as RFC 3339.
pub(crate) fn time(text: &str) -> Value {
    let t = text.trim();
    let has_zone = t.ends_with('Z')
        || t.ends_with('z')
        || t.get(19..)
            .is_some_and(|rest| rest.contains('+') || rest.contains('-'));
    match (t.len(), has_zone) {
        (16, false) => json!(format!("{t}:00Z")),
        (19.., false) => json!(format!("{t}Z")),
        _ => json!(t),
    }
}

/// The body of `POST /v1/api-keys` from the create form.
pub(crate) fn create_key(form: &Form) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("name".into(), json!(form.get("name")));
    for (field, key) in [
        ("description", "description"),
        ("kind", "kind"),
        ("owner", "owner"),
        ("env", "env"),
        ("role", "role"),
    ] {
        if let Some(v) = form.opt(field) {
            body.insert(key.into(), json!(v));
        }
    }
    if let Some(scopes) = scopes(form)? {
        body.insert("scopes".into(), scopes);
    }
    if let Some(v) = form.opt("rate_limit") {
        body.insert("rateLimit".into(), rate_limit(v));
    }
    if let Some(v) = form.opt("expires_at") {
        body.insert("expiresAt".into(), time(v));
    }
    let ips = items(form.get("allowed_ips"));
    if !ips.is_empty() {
        body.insert("allowedIps".into(), json!(ips));
    }
    let referrers = items(form.get("allowed_referrers"));
    if !referrers.is_empty() {
        body.insert("allowedReferrers".into(), json!(referrers));
    }
    Ok(Value::Object(body))
}

/// The body of `PATCH /v1/api-keys/{id}` from the edit form: only the fields that
/// differ from `current` (the key as the admin API shows it), so saving an unchanged
/// field never needs more than the change does. Empty optional fields clear.
pub(crate) fn update_key(form: &Form, current: &Value) -> Result<Value, String> {
    let mut body = Map::new();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let name = form.get("name");
    if name != text(&current["name"]) {
        body.insert("name".into(), json!(name));
    }
    for (field, key) in [("description", "description"), ("role", "role")] {
        let value = form.get(field);
        if value != text(&current[key]) {
            body.insert(
                key.into(),
                form.opt(field).map_or(Value::Null, |v| json!(v)),
            );
        }
    }
    let new_scopes = scopes(form)?.unwrap_or_else(|| json!([]));
    if sorted(&new_scopes) != sorted(&current["scopes"]) {
        body.insert("scopes".into(), new_scopes);
    }
    let rate = form.get("rate_limit");
    if rate != rate_text(&current["rateLimit"]) {
        body.insert(
            "rateLimit".into(),
            form.opt("rate_limit").map_or(Value::Null, rate_limit),
        );
    }
    let expires = form.opt("expires_at").map(time);
    let current_expiry = current["expiresAt"]
        .as_str()
        .map(|t| time(&datetime_local(t)));
    if expires.as_ref().and_then(Value::as_str) != current_expiry.as_ref().and_then(Value::as_str) {
        body.insert("expiresAt".into(), expires.unwrap_or(Value::Null));
    }
    for (field, key) in [
        ("allowed_ips", "allowedIps"),
        ("allowed_referrers", "allowedReferrers"),
    ] {
        let new = json!(items(form.get(field)));
        if sorted(&new) != sorted(&current[key]) {
            body.insert(key.into(), new);
        }
    }
    Ok(Value::Object(body))
}

fn sorted(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A rate limit as the admin API shows it (a number or a spec), as form text.
pub(crate) fn rate_text(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// An RFC 3339 UTC time as a `datetime-local` value (minutes, UTC).
pub(crate) fn datetime_local(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The body of `POST /v1/roles` (with `name`) or `PUT /v1/roles/{name}` (without).
pub(crate) fn role(form: &Form, with_name: bool) -> Result<Value, String> {
    let mut body = Map::new();
    if with_name {
        body.insert("name".into(), json!(form.get("name")));
    }
    body.insert("scopes".into(), scopes(form)?.unwrap_or_else(|| json!([])));
    if let Some(d) = form.opt("description") {
        body.insert("description".into(), json!(d));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_a_field_is_not_shown_back() {
        let key = keygate::key_format::generate("sk", "live").expect("a generated key");
        let body = format!("name=mine+{}&scopes=read", key.expose());
        let form = Form::parse(body.as_bytes(), &["name", "scopes"]).expect("a form");
        assert_eq!(
            form.get("name"),
            format!("mine {}", key.expose()),
            "sent as typed"
        );
        assert_eq!(form.shown("name"), "mine [redacted key]");
        assert_eq!(form.shown("scopes"), "read");
    }

    #[test]
    fn unknown_and_repeated_fields_are_named() {
        let err = Form::parse(b"name=a&bogus=1", &["name"]).expect_err("unknown");
        assert!(err.contains("\"bogus\""), "{err}");
        let err = Form::parse(b"name=a&name=b", &["name"]).expect_err("repeated");
        assert!(err.contains("repeated"), "{err}");
    }

    #[test]
    fn scopes_merge_the_list_and_the_per_resource_lines() {
        let form = Form::parse(
            b"scopes=read%3Ascans+write%3Ascans&resource_scopes=opportunities%3A+read%2C+write",
            &["scopes", "resource_scopes"],
        )
        .expect("form");
        assert_eq!(
            scopes(&form).expect("scopes"),
            Some(json!([
                "read:scans",
                "write:scans",
                "read:opportunities",
                "write:opportunities"
            ]))
        );
        let bad = Form::parse(b"resource_scopes=nocolon", &["resource_scopes"]).expect("form");
        assert!(scopes(&bad).expect_err("bad line").contains("nocolon"));
        assert_eq!(scopes(&Form::default()).expect("empty"), None);
    }

    #[test]
    fn create_bodies_carry_only_filled_fields() {
        let form = Form::parse(
            b"name=ci&kind=&rate_limit=100&expires_at=2030-01-02T03%3A04&allowed_ips=10.0.0.0%2F8%0D%0A1.2.3.4",
            &["name", "kind", "rate_limit", "expires_at", "allowed_ips"],
        )
        .expect("form");
        assert_eq!(
            create_key(&form).expect("body"),
            json!({"name": "ci", "rateLimit": 100, "expiresAt": "2030-01-02T03:04:00Z",
                   "allowedIps": ["10.0.0.0/8", "1.2.3.4"]})
        );
    }

    #[test]
    fn updates_send_only_changes() {
        let current = json!({"name": "ci", "description": null, "role": "viewer",
            "scopes": ["read:a", "write:a"], "rateLimit": "10/m", "expiresAt": "2030-01-02T03:04:00Z",
            "allowedIps": [], "allowedReferrers": []});
        let same = Form::parse(
            b"name=ci&role=viewer&scopes=write%3Aa+read%3Aa&rate_limit=10%2Fm&expires_at=2030-01-02T03%3A04",
            &["name", "role", "scopes", "rate_limit", "expires_at"],
        )
        .expect("form");
        assert_eq!(update_key(&same, &current).expect("body"), json!({}));
        let changed = Form::parse(b"name=new&role=", &["name", "role"]).expect("form");
        assert_eq!(
            update_key(&changed, &current).expect("body"),
            json!({"name": "new", "role": null, "scopes": [], "rateLimit": null, "expiresAt": null})
        );
    }
}

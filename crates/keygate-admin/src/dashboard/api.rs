//! The dashboard's one way to read or change anything: the admin API's own handler
//! ([`Admin::handle`]), called in-process with the signed-in key as the caller. Route
//! scopes, the management switch, body parsing, validation and the manager's policy are
//! therefore exactly the REST API's.

use std::net::IpAddr;

use keygate::Authenticated;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::handler::{Admin, AdminRequest};
use crate::routes::Operation;

/// The signed-in key, calling the admin API.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub(crate) admin: &'a Admin,
    pub(crate) auth: &'a Authenticated,
    pub(crate) client_ip: Option<IpAddr>,
}

/// A refusal of the admin API, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The admin API's status.
    pub(crate) status: u16,
    /// One sentence for the page.
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl Caller<'_> {
    /// Runs `operation` with an optional path id, query and JSON body.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        operation: Operation,
        id: Option<&str>,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Failure::new(500, e.to_string()))?
            .unwrap_or_default();
        let response = self
            .admin
            .handle(
                operation,
                AdminRequest {
                    authenticated: Some(self.auth),
                    client_ip: self.client_ip,
                    path_param: id,
                    query,
                    content_type: body.map(|_| "application/json"),
                    body: &bytes,
                },
            )
            .await;
        if (200..300).contains(&response.status) {
            serde_json::from_slice(&response.body).map_err(|e| {
                Failure::new(500, format!("unexpected answer from the admin API: {e}"))
            })
        } else {
            let mut message = error_message(response.status, &response.body);
            // A missing route scope: the gate's renderer may word it generally (the flat
            // one does); its challenge names the scope.
            if let Some(scope) = response
                .header("www-authenticate")
                .and_then(challenge_scope)
                .filter(|scope| !message.contains(scope))
            {
                message.push_str(&format!(" (this key needs the scope {scope})"));
            }
            Err(Failure::new(response.status, message))
        }
    }
}

/// The sentence of an error body in any of the renderers' shapes: nested
/// (`{"error": {"message", "details"}}`), flat (`{"error", "message"}`) or problem
/// details (`{"title", "detail"}`).
pub(crate) fn error_message(status: u16, body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let error = &value["error"];
    let found = if error.is_object() {
        match (text(&error["message"]), text(&error["details"])) {
            (Some(m), Some(d)) => Some(format!("{m}: {d}")),
            (m, d) => m.or(d),
        }
    } else {
        text(&value["message"])
            .or_else(|| text(&value["detail"]))
            .or_else(|| text(&value["title"]))
            .or_else(|| text(error))
    };
    found.unwrap_or_else(|| format!("the request was refused (HTTP {status})"))
}

/// The `scope="…"` of a `WWW-Authenticate` challenge.
fn challenge_scope(challenge: &str) -> Option<&str> {
    let start = challenge.find("scope=\"")? + "scope=\"".len();
    let len = challenge[start..].find('"')?;
    Some(&challenge[start..start + len])
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_challenge_names_the_scope() {
        let c = r#"Bearer error="insufficient_scope", scope="write:api-keys""#;
        assert_eq!(super::challenge_scope(c), Some("write:api-keys"));
        assert_eq!(super::challenge_scope("Bearer"), None);
    }

    use super::*;

    #[test]
    fn messages_are_read_from_every_renderer_shape() {
        let nested = br#"{"error":{"code":"forbidden","message":"Insufficient permissions","details":"needs write"}}"#;
        assert_eq!(
            error_message(403, nested),
            "Insufficient permissions: needs write"
        );
        let flat = br#"{"error":"Forbidden","message":"Insufficient scope."}"#;
        assert_eq!(error_message(403, flat), "Insufficient scope.");
        let problem = br#"{"title":"Forbidden","detail":"no"}"#;
        assert_eq!(error_message(403, problem), "no");
        assert_eq!(
            error_message(502, b"garbage"),
            "the request was refused (HTTP 502)"
        );
    }
}

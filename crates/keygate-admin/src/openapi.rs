//! The OpenAPI 3.1 document, built from the route table and the DTO types.

use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, InfoBuilder, OpenApi as Document, PathsBuilder, Ref, Required,
    ResponseBuilder,
};
use utoipa::{OpenApi, ToSchema};

use crate::dto::{
    AuditEventView, AuditList, CreateKeyRequest, CreatedKeyView, DurationInput, KeyList, KeyView,
    MeView, RateLimitInput, RateLimitStateView, RateLimitView, RotateKeyRequest, ScopesInput,
    UpdateKeyRequest, UserView, VerifyView,
};
use crate::routes::{Operation, ROUTES};

/// `{"error": {"code", "message", "details"}}` (schema only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorResponse {
    error: ErrorObject,
}

/// The inner error object (schema only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorObject {
    /// Stable code, e.g. `invalid_request`.
    code: String,
    /// One sentence.
    message: String,
    /// What exactly is wrong.
    details: String,
}

#[derive(OpenApi)]
#[openapi(components(schemas(
    CreateKeyRequest,
    UpdateKeyRequest,
    RotateKeyRequest,
    ScopesInput,
    RateLimitInput,
    crate::dto::input::RateLimitObject,
    DurationInput,
    KeyView,
    CreatedKeyView,
    KeyList,
    MeView,
    UserView,
    VerifyView,
    RateLimitView,
    RateLimitStateView,
    AuditEventView,
    AuditList,
    ErrorResponse,
    ErrorObject
)))]
struct Schemas;

fn schemas_of(op: Operation) -> (Option<&'static str>, u16, &'static str) {
    match op {
        Operation::CreateKey => (Some("CreateKeyRequest"), 201, "CreatedKeyView"),
        Operation::ListKeys => (None, 200, "KeyList"),
        Operation::GetKey | Operation::RevokeKey => (None, 200, "KeyView"),
        Operation::UpdateKey => (Some("UpdateKeyRequest"), 200, "KeyView"),
        Operation::RotateKey => (Some("RotateKeyRequest"), 201, "CreatedKeyView"),
        Operation::Me => (None, 200, "MeView"),
        Operation::Verify => (None, 200, "VerifyView"),
        Operation::AuditLogs => (None, 200, "AuditList"),
    }
}

fn query_params(op: Operation) -> &'static [(&'static str, &'static str)] {
    match op {
        Operation::ListKeys => &[
            ("limit", "Page size, 1 to 1000 (default 50)"),
            ("cursor", "The nextCursor of the previous page"),
            ("owner", "Only this owner's keys"),
            ("includeRevoked", "Include revoked keys (true/false)"),
        ],
        Operation::AuditLogs => &[
            ("limit", "Page size, 1 to 1000 (default 50)"),
            ("cursor", "The nextCursor of the previous page"),
            ("keyId", "Only events whose actor or target is this key"),
            ("action", "Only this action, e.g. key.revoke"),
            ("since", "Only events at or after this RFC 3339 time"),
            ("until", "Only events before this RFC 3339 time"),
        ],
        _ => &[],
    }
}

fn json(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

/// The OpenAPI 3.1 document of the admin API (served at `/v1/openapi.json`).
///
/// ```
/// let doc = keygate_admin::openapi();
/// assert!(doc.paths.paths.contains_key("/v1/api-keys/{id}/rotate"));
/// ```
pub fn openapi() -> Document {
    let mut doc = Schemas::openapi();
    doc.info = InfoBuilder::new()
        .title("keygate admin API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some("Create, list, update, rotate and revoke API keys; inspect the calling key; read the audit log."))
        .build();
    let mut paths = PathsBuilder::new();
    let mut seen: Vec<&str> = Vec::new();
    for path in ROUTES.iter().map(|r| r.path) {
        if seen.contains(&path) {
            continue;
        }
        seen.push(path);
        let mut item = PathItemBuilder::new();
        for route in ROUTES.iter().filter(|r| r.path == path) {
            let (request, status, response) = schemas_of(route.operation);
            let mut op = OperationBuilder::new()
                .summary(Some(route.summary))
                .operation_id(Some(format!("{:?}", route.operation)))
                .security(SecurityRequirement::new("apiKey", Vec::<String>::new()))
                .response(
                    status.to_string(),
                    ResponseBuilder::new()
                        .description("Success")
                        .content("application/json", json(response))
                        .build(),
                );
            if let Some(scope) = route.scope {
                op = op.description(Some(format!("Needs the `{scope}` scope.")));
            }
            for (code, what) in [
                ("400", "Malformed request"),
                ("401", "Missing or invalid API key"),
                ("403", "Insufficient scope"),
                ("404", "Not found"),
                ("413", "Body over the limit"),
                ("422", "Invalid fields"),
                ("503", "Store unavailable"),
            ] {
                op = op.response(
                    code,
                    ResponseBuilder::new()
                        .description(what)
                        .content("application/json", json("ErrorResponse"))
                        .build(),
                );
            }
            if let Some(schema) = request {
                let required = if route.operation == Operation::RotateKey {
                    Required::False
                } else {
                    Required::True
                };
                op = op.request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", json(schema))
                        .required(Some(required))
                        .build(),
                ));
            }
            if path.contains("{id}") {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name("id")
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .description(Some("The key's id, key_…"))
                        .build(),
                );
            }
            for (name, description) in query_params(route.operation) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(*name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .description(Some(*description))
                        .build(),
                );
            }
            let method = match route.method {
                "POST" => HttpMethod::Post,
                "PATCH" => HttpMethod::Patch,
                "DELETE" => HttpMethod::Delete,
                _ => HttpMethod::Get,
            };
            item = item.operation(method, op.build());
        }
        paths = paths.path(path, item.build());
    }
    doc.paths = paths.build();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let doc = openapi();
        let json = serde_json::to_value(&doc).unwrap_or_default();
        assert_eq!(
            json["openapi"].as_str().map(|v| v.starts_with("3.1")),
            Some(true)
        );
        for route in ROUTES {
            let op = &json["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} missing from the document",
                route.method,
                route.path
            );
            assert_eq!(op["summary"], route.summary);
        }
        let documented: usize = json["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .map(|i| i.as_object().map_or(0, |o| o.len()))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(documented, ROUTES.len(), "no undocumented extra operations");
        for schema in ["CreateKeyRequest", "KeyView", "ErrorResponse", "VerifyView"] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
    }
}

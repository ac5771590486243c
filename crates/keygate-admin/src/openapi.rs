//! The OpenAPI 3.1 document, built from the route table, the DTO types, the error
//! renderer in use and the credential sources the gate reads.
//!
//! Every parameter and body field carries the constraints the server enforces (the
//! patterns below are the parsers' grammars), every status an operation can answer is
//! listed with the body it really has, and creations link to the operations that use
//! what they made, so generated clients and stateful fuzzers (schemathesis, in CI) can
//! walk the API.

use keygate::render::{ErrorRenderer, NestedRenderer, SharedRenderer};
use keygate::request::CredentialSource;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::dto::{
    AuditEventView, AuditList, CreateKeyRequest, CreateRoleRequest, CreatedKeyView, DurationInput,
    KeyList, KeyView, MeView, PutRoleRequest, RateLimitInput, RateLimitStateView, RateLimitView,
    RoleList, RoleView, RotateKeyRequest, ScopesInput, UpdateKeyRequest, UserView,
    VerificationAnalytics, VerificationCountView, VerifyView,
};
use crate::routes::{Operation, Route, ROUTES};
use crate::Admin;

/// A role name ([`keygate::role::validate_role_name`]).
const ROLE_NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{0,63}$";
/// `key_` and 1 to 64 of `[A-Za-z0-9_-]` ([`keygate::KeyId::parse`]).
pub(crate) const KEY_ID_PATTERN: &str = "^key_[A-Za-z0-9_-]{1,64}$";
/// What `keygate::store::decode_cursor` accepts.
const CURSOR_PATTERN: &str = "^-?[0-9]{1,18}\\.[A-Za-z0-9_-]{1,128}$";

#[derive(OpenApi)]
#[openapi(components(schemas(
    CreateKeyRequest,
    UpdateKeyRequest,
    RotateKeyRequest,
    ScopesInput,
    RateLimitInput,
    crate::dto::input::RateLimitObject,
    crate::dto::CreditsInput,
    crate::dto::RefillInput,
    crate::dto::CreditsView,
    crate::dto::PutSharedLimitsRequest,
    crate::dto::SharedLimitsView,
    crate::dto::NarrowKeyRequest,
    crate::dto::ScopeUsageView,
    crate::dto::ScopeUseView,
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
    CreateRoleRequest,
    PutRoleRequest,
    RoleView,
    RoleList,
    VerificationCountView,
    VerificationAnalytics,
)))]
struct Schemas;

/// Characters a name or description may not hold (`keygate`'s `hidden_char`: controls,
/// bidirectional controls, invisible format characters, line/paragraph separators), as
/// far as a pattern can say it: the handful outside the Basic Multilingual Plane (tag
/// characters, …) are refused by the server but not listed here.
const HIDDEN: &str = "\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E\\u200B-\\u200F\\u202A-\\u202E\\u2028\\u2029\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB";
/// Visible white space (what `str::trim` removes, less what [`HIDDEN`] refuses).
const BLANK: &str = "\\u0020\\u00A0\\u1680\\u2000-\\u200A\\u202F\\u205F\\u3000";

/// The constraints the server enforces on each body field, written into the schemas
/// utoipa derived from the DTO types (their doc comments stay the descriptions).
fn constrain(schemas: &mut Value) {
    let name = json!({
        "type": "string", "minLength": 1, "maxLength": 200,
        "pattern": format!("^[^{HIDDEN}]*[^{HIDDEN}{BLANK}][^{HIDDEN}]*$"),
    });
    let hidden_but_tab_lf = HIDDEN.replacen("\\u0000-\\u001F", "\\u0000-\\u0008\\u000B-\\u001F", 1);
    let description = json!({
        "type": ["string", "null"], "maxLength": 2000,
        "pattern": format!("^[^{hidden_but_tab_lf}]*$"),
    });
    let role = json!({
        "type": ["string", "null"], "pattern": "^[a-z][a-z0-9_-]{0,63}$",
        "description": "A role that exists (see /v1/roles): its scopes are added at verify time",
    });
    let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let ips = json!({
        "type": ["array", "null"], "maxItems": 100,
        "items": {"anyOf": [
            {"type": "string", "format": "ipv4"},
            {"type": "string", "format": "ipv6"},
            {"type": "string", "pattern": format!("^{octet}(\\.{octet}){{3}}/(3[0-2]|[12]?[0-9])$")},
        ]},
        "description": "Allowed client IPs or IPv4 CIDRs (IPv6 CIDRs are accepted too)",
    });
    let label = "[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?";
    let referrers = json!({
        "type": ["array", "null"], "maxItems": 100,
        "items": {"type": "string", "maxLength": 253, "pattern": format!("^(\\*\\.)?{label}(\\.{label}){{0,3}}$")},
        "description": "Allowed referrers: example.com or *.example.com here; URL prefixes \
            (https://app.example.com/*) are accepted too",
    });
    let env = json!({"type": ["string", "null"], "pattern": "^[a-z]{2,10}$",
        "description": "Environment; a key may only create keys of its own environment"});
    let kind = json!({"type": ["string", "null"], "enum": ["personal", "team", "service", null],
        "description": "Default service; a personal key needs an owner (the caller's by default)"});
    let expires = json!({"type": ["string", "null"], "format": "date-time",
        "description": "Expiry, in the future (RFC 3339); null for never"});
    let metadata =
        json!({"type": ["object", "null"], "description": "Free-form JSON object, at most 16 KB"});
    for request in ["CreateKeyRequest", "UpdateKeyRequest"] {
        let props = &mut schemas[request]["properties"];
        props["name"] = name.clone();
        props["description"] = description.clone();
        props["role"] = role.clone();
        props["allowedIps"] = ips.clone();
        props["allowedReferrers"] = referrers.clone();
        props["expiresAt"] = expires.clone();
        props["metadata"] = metadata.clone();
    }
    let limits = json!({
        "type": ["object", "null"],
        "description": "Named limits: limit name -> rate limit (any form of rateLimit). At most 16; \
            a name is a-z, 0-9, _ and -, starting with a letter or digit, and not `default`",
        "maxProperties": 16,
        "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]{0,31}$", "not": {"const": "default"}},
        "additionalProperties": {"$ref": "#/components/schemas/RateLimitInput"},
    });
    for request in ["CreateKeyRequest", "UpdateKeyRequest"] {
        schemas[request]["properties"]["limits"] = limits.clone();
    }
    let mut shared = limits.clone();
    shared["type"] = json!("object");
    shared["description"] = json!(
        "Limit name -> rate limit (any form of rateLimit), replacing \
        what was set; {} removes them. At most 16"
    );
    schemas["PutSharedLimitsRequest"]["properties"]["limits"] = shared;
    schemas["PutSharedLimitsRequest"]["properties"]["owner"] = json!({
        "type": ["string", "null"], "minLength": 1, "maxLength": 200,
        "pattern": format!("^[^{HIDDEN}]*[^{HIDDEN}{BLANK}][^{HIDDEN}]*$"),
        "description": "One owner's keys (absent or null: every key of the tenant)",
    });
    schemas["UpdateKeyRequest"]["properties"]["name"]["type"] = json!(["string", "null"]);
    for request in ["CreateRoleRequest", "PutRoleRequest"] {
        schemas[request]["properties"]["description"] = description.clone();
        schemas[request]["properties"]["scopes"] =
            json!({"$ref": "#/components/schemas/ScopesInput"});
    }
    schemas["CreateRoleRequest"]["properties"]["name"] =
        json!({"type": "string", "pattern": ROLE_NAME_PATTERN});
    schemas["CreateKeyRequest"]["properties"]["env"] = env;
    schemas["CreateKeyRequest"]["properties"]["kind"] = kind;
    let action = "(\\*|[A-Za-z0-9_.-]{1,63})";
    let resource = "(\\*|[A-Za-z0-9_./-]{1,64})";
    schemas["ScopesInput"] = json!({
        "description": "Scopes: a list (`[\"read:scans\", \"write\"]`) or a per-resource map (`{\"opportunities\": [\"read\", \"write\"]}`)",
        "oneOf": [
            {"type": "array", "items": {"type": "string", "pattern": format!("^{action}(:{resource})?$")}},
            {"type": "object",
             "propertyNames": {"pattern": format!("^{resource}$")},
             "additionalProperties": {"type": "array", "items": {"type": "string", "pattern": format!("^{action}$")}}},
        ],
    });
    let count = |max: &str| format!("[1-9][0-9]{{0,{max}}}");
    schemas["RateLimitInput"] = json!({
        "description": "A rate limit: requests per hour, a spec string or an object. A full burst must \
            refill within a year (window x burst / requests <= 31536000 s)",
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64, "description": "Requests per hour"},
            {"type": "string", "description": "N/s, N/m, N/h, N/day or N/<seconds>s, then ,burst=N and ,quota=N, and ,shadow for a limit that is counted and audited but never refuses",
             "pattern": format!("^{}/(s|m|h|day|{}s)(,burst=(1000000|{}))?(,quota={})?(,shadow)?$", count("8"), count("6"), count("5"), count("8"))},
            {"$ref": "#/components/schemas/RateLimitObject"},
        ],
    });
    let props = &mut schemas["RateLimitObject"]["properties"];
    props["requests"] = json!({"type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64});
    props["perSeconds"] = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 31_536_000,
        "description": "Window length in seconds (default 3600)"});
    props["burst"] = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000});
    props["dailyQuota"] = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 4_294_967_295_u64,
        "description": "Requests per UTC day"});
    props["shadow"] = json!({"type": ["boolean", "null"],
        "description": "Shadow mode: counted, logged and audited, never refusing"});
    let credits_count =
        json!({"type": "integer", "minimum": 0, "maximum": keygate::credits::MAX_CREDITS});
    schemas["CreditsInput"]["properties"]["remaining"] = credits_count.clone();
    schemas["CreditsInput"]["properties"]["refill"] = json!({"oneOf": [
        {"type": "null"}, {"$ref": "#/components/schemas/RefillInput"},
    ]});
    schemas["RefillInput"] = json!({
        "description": "A refill: the balance is set back to amount at 00:00 UTC every day, or every \
            month on day (1 to 31, default 1; in a shorter month its last day)",
        "oneOf": [
            {"type": "object", "required": ["interval", "amount"], "additionalProperties": false,
             "properties": {"interval": {"const": "daily"}, "amount": credits_count, "day": {"type": "null"}}},
            {"type": "object", "required": ["interval", "amount"], "additionalProperties": false,
             "properties": {"interval": {"const": "monthly"}, "amount": credits_count,
                            "day": {"type": ["integer", "null"], "minimum": 1, "maximum": 31}}},
        ],
    });
    for request in ["CreateKeyRequest", "UpdateKeyRequest"] {
        schemas[request]["properties"]["credits"] = json!({
            "description": "Uses the key may make, spent by each verified request (its route's cost), \
                refused with 429 usage_exceeded at zero. Setting or changing them needs the \
                admin:credits scope, never on the caller's own key; on update null removes them",
            "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/CreditsInput"}],
        });
    }
    schemas["DurationInput"] = json!({
        "description": "How long: seconds, or text (30s, 15m, 24h, 7d, 2w); at most 30 days",
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 2_592_000},
            {"type": "string", "pattern": "^((0|[1-9][0-9]{0,5})s|(0|[1-9][0-9]{0,3})m|([0-9]|[1-9][0-9]|[1-6][0-9]{2}|7[01][0-9]|720)h|([0-9]|[12][0-9]|30)d|[0-4]w)$"},
        ],
    });
}

/// The request body, success status and success body of each operation.
fn schemas_of(op: Operation) -> (Option<&'static str>, u16, &'static str) {
    match op {
        Operation::CreateKey => (Some("CreateKeyRequest"), 201, "CreatedKeyView"),
        Operation::ListKeys => (None, 200, "KeyList"),
        Operation::GetKey | Operation::RevokeKey | Operation::DisableKey | Operation::EnableKey => {
            (None, 200, "KeyView")
        }
        Operation::UpdateKey => (Some("UpdateKeyRequest"), 200, "KeyView"),
        Operation::RotateKey => (Some("RotateKeyRequest"), 201, "CreatedKeyView"),
        Operation::Me => (None, 200, "MeView"),
        Operation::Verify => (None, 200, "VerifyView"),
        Operation::AuditLogs => (None, 200, "AuditList"),
        Operation::VerificationAnalytics => (None, 200, "VerificationAnalytics"),
        Operation::ListRoles => (None, 200, "RoleList"),
        Operation::CreateRole => (Some("CreateRoleRequest"), 201, "RoleView"),
        Operation::GetRole | Operation::DeleteRole => (None, 200, "RoleView"),
        Operation::PutRole => (Some("PutRoleRequest"), 200, "RoleView"),
        Operation::GetSharedLimits => (None, 200, "SharedLimitsView"),
        Operation::ScopeUsage => (None, 200, "ScopeUsageView"),
        Operation::NarrowKey => (Some("NarrowKeyRequest"), 201, "CreatedKeyView"),
        Operation::PutSharedLimits => (Some("PutSharedLimitsRequest"), 200, "SharedLimitsView"),
    }
}

fn page_params() -> [Value; 2] {
    [
        query(
            "limit",
            "Page size (default 50)",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
        ),
        query(
            "cursor",
            "The nextCursor of the previous page",
            json!({"type": "string", "pattern": CURSOR_PATTERN}),
        ),
    ]
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn query_params(op: Operation) -> Vec<Value> {
    match op {
        Operation::ListKeys => {
            let mut params = page_params().to_vec();
            params.push(query(
                "owner",
                "Only this owner's keys",
                json!({"type": "string"}),
            ));
            params.push(query(
                "includeRevoked",
                "Include revoked keys",
                json!({"type": "boolean", "default": false}),
            ));
            params
        }
        Operation::AuditLogs => {
            let mut params = page_params().to_vec();
            params.push(query(
                "keyId",
                "Only events whose actor or target is this key",
                json!({"type": "string", "pattern": KEY_ID_PATTERN}),
            ));
            params.push(query(
                "action",
                "Only this action, e.g. key.revoke",
                json!({"type": "string"}),
            ));
            params.push(query(
                "outcome",
                "Only successes or only refusals",
                json!({"type": "string", "enum": ["success", "failure"]}),
            ));
            params.push(query(
                "since",
                "Only events at or after this time",
                json!({"type": "string", "format": "date-time"}),
            ));
            params.push(query(
                "until",
                "Only events before this time",
                json!({"type": "string", "format": "date-time"}),
            ));
            params
        }
        Operation::VerificationAnalytics => vec![
            query(
                "keyId",
                "Only this key's verifications",
                json!({"type": "string", "pattern": KEY_ID_PATTERN}),
            ),
            query(
                "tenant",
                "Only this tenant's keys (a key always reads its own tenant's)",
                json!({"type": "string"}),
            ),
            query(
                "from",
                "From this time (inclusive; default: a day before to)",
                json!({"type": "string", "format": "date-time"}),
            ),
            query(
                "to",
                "Until this time (exclusive; default: now)",
                json!({"type": "string", "format": "date-time"}),
            ),
            query(
                "granularity",
                "Bucket size; a range longer than a day of minutes, 31 days of hours or 366 days of days is cut to its last part (the answer's from says where it starts)",
                json!({"type": "string", "enum": ["minute", "hour", "day"], "default": "hour"}),
            ),
        ],
        Operation::ScopeUsage => vec![query(
            "since",
            "Scopes used since this time (default: 30 days ago; a future time reads as now)",
            json!({"type": "string", "format": "date-time"}),
        )],
        Operation::GetSharedLimits => vec![query(
            "owner",
            "One owner's shared limits (default: the tenant's)",
            json!({"type": "string"}),
        )],
        Operation::DeleteRole => vec![query(
            "force",
            "Delete also while keys hold the role (they keep only their own scopes)",
            json!({"type": "boolean", "default": false}),
        )],
        _ => Vec::new(),
    }
}

/// An answer an operation can give besides its success: its status, what it means,
/// and which bodies it can carry.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    status: u16,
    description: &'static str,
    /// Drawn by the gate's renderer (an `AuthError`: 401, 403 for a missing route
    /// scope, 429, 503).
    rendered: bool,
    /// The admin API's own error body (`AdminError`).
    admin: bool,
}

impl Refusal {
    const fn new(status: u16, description: &'static str, rendered: bool, admin: bool) -> Self {
        Self {
            status,
            description,
            rendered,
            admin,
        }
    }
}

/// The statuses an operation answers besides success, each with who sends it: the key
/// layer or the admin handler through the renderer (`auth`), or the admin handler's own
/// error body (`admin`).
fn refusals(route: &Route) -> Vec<Refusal> {
    let mut out = vec![
        Refusal::new(
            400,
            "Malformed request (e.g. two different API keys)",
            true,
            false,
        ),
        Refusal::new(
            401,
            "Missing, invalid, revoked or expired API key",
            true,
            false,
        ),
        Refusal::new(
            403,
            "The key lacks the route's scope, may not be used from here, or may not do this",
            true,
            true,
        ),
        Refusal::new(429, "Rate limit exceeded", true, false),
        Refusal::new(
            500,
            "The store failed in an unexpected way (logged; nothing half-written)",
            false,
            true,
        ),
        Refusal::new(503, "The key store is unavailable; retry", true, false),
    ];
    let (request, _, _) = schemas_of(route.operation);
    let has_query = !query_params(route.operation).is_empty();
    if request.is_some() || has_query {
        out[0].admin = true;
    }
    if route.path.contains("{id}") {
        out.push(Refusal::new(
            404,
            "No such key (or it was revoked)",
            false,
            true,
        ));
    }
    if route.path.contains("{name}") {
        out.push(Refusal::new(
            404,
            "No such role visible to the caller",
            false,
            true,
        ));
    }
    if request.is_some() {
        out.push(Refusal::new(413, "Body over the limit", false, true));
        out.push(Refusal::new(
            415,
            "The body is not application/json",
            false,
            true,
        ));
        out.push(Refusal::new(422, "Invalid fields", false, true));
    }
    if matches!(
        route.operation,
        Operation::UpdateKey
            | Operation::RotateKey
            | Operation::NarrowKey
            | Operation::RevokeKey
            | Operation::DisableKey
            | Operation::EnableKey
    ) {
        out.push(Refusal::new(
            409,
            "The key changed meanwhile; retry",
            false,
            true,
        ));
    }
    match route.operation {
        Operation::CreateKey => {
            out.push(Refusal::new(
                409,
                "Conflict with the store's state; retry",
                false,
                true,
            ));
        }
        Operation::CreateRole => {
            out.push(Refusal::new(409, "A role of that name exists", false, true))
        }
        Operation::VerificationAnalytics => {
            out.push(Refusal::new(
                404,
                "No such key visible to the caller",
                false,
                true,
            ));
        }
        Operation::DeleteRole => out.push(Refusal::new(
            409,
            "Keys hold the role (see force)",
            false,
            true,
        )),
        _ => {}
    }
    out.sort_by_key(|r| r.status);
    out
}

/// `{"error": {"code", "message", "details"}}`: the admin handler's own errors, the
/// nested renderer's shape (whose optional `retryAfter` they never carry).
fn admin_error_schema() -> Value {
    NestedRenderer::new().body_schema().schema
}

fn error_content(renderer: &SharedRenderer, rendered: bool, admin: bool) -> Value {
    let auth = renderer.body_schema();
    let auth_ref = json!({"$ref": "#/components/schemas/AuthError"});
    let admin_ref = json!({"$ref": "#/components/schemas/AdminError"});
    let mut content = Map::new();
    let mut add = |content_type: &str, schema: Value| {
        let entry = content
            .entry(content_type.to_owned())
            .or_insert_with(|| json!({"schema": {"anyOf": []}}));
        if let Some(any) = entry["schema"]["anyOf"].as_array_mut() {
            any.push(schema);
        }
    };
    if rendered {
        add(auth.content_type, auth_ref);
    }
    if admin {
        add("application/json", admin_ref);
    }
    for entry in content.values_mut() {
        if entry["schema"]["anyOf"].as_array().map(Vec::len) == Some(1) {
            entry["schema"] = entry["schema"]["anyOf"][0].take();
        }
    }
    Value::Object(content)
}

fn headers_of(status: u16) -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    match status {
        401 | 403 => json!({
            "WWW-Authenticate": {"description": "The RFC 6750 challenge", "schema": {"type": "string"}}
        }),
        429 => json!({
            "Retry-After": {"description": "Seconds to wait", "required": true, "schema": int},
            "X-RateLimit-Limit": {"schema": int},
            "X-RateLimit-Remaining": {"schema": int},
            "X-RateLimit-Reset": {"description": "Unix seconds", "schema": int}
        }),
        _ => json!({}),
    }
}

/// Links from a created key to what can be done with it (stateful testing, clients).
fn key_links() -> Value {
    let by_id = |op: &str, description: &str| json!({"operationId": op, "parameters": {"id": "$response.body#/id"}, "description": description});
    json!({
        "GetKey": by_id("GetKey", "The key just made"),
        "UpdateKey": by_id("UpdateKey", "Change the key just made"),
        "RotateKey": by_id("RotateKey", "Rotate the key just made"),
        "RevokeKey": by_id("RevokeKey", "Revoke the key just made"),
        "DisableKey": by_id("DisableKey", "Disable the key just made"),
        "EnableKey": by_id("EnableKey", "Enable the key just made again"),
        "ScopeUsage": by_id("ScopeUsage", "What the key just made used"),
        "NarrowKey": by_id("NarrowKey", "Narrow the key just made to what it used"),
    })
}

/// Links from a created role to what can be done with it.
fn role_links() -> Value {
    let by_name =
        |op: &str| json!({"operationId": op, "parameters": {"name": "$response.body#/name"}});
    json!({"GetRole": by_name("GetRole"), "PutRole": by_name("PutRole"), "DeleteRole": by_name("DeleteRole")})
}

fn security_schemes(sources: &[CredentialSource]) -> (Value, Value) {
    let mut schemes = Map::new();
    let mut requirements = Vec::new();
    for source in sources {
        let (name, scheme) = match source {
            CredentialSource::Bearer => (
                "bearer".to_owned(),
                json!({"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"}),
            ),
            CredentialSource::Header(header) => (
                format!("header_{header}"),
                json!({"type": "apiKey", "in": "header", "name": header, "description": "The API key, bare"}),
            ),
            CredentialSource::Query(param) => (
                format!("query_{param}"),
                json!({"type": "apiKey", "in": "query", "name": param, "description": "The API key, bare (prefer a header: URLs end up in logs)"}),
            ),
        };
        requirements.push(json!({ name.clone(): [] }));
        schemes.insert(name, scheme);
    }
    (Value::Object(schemes), Value::Array(requirements))
}

fn operation(route: &Route, renderer: &SharedRenderer, security: &Value) -> Value {
    let (request, status, success) = schemas_of(route.operation);
    let mut responses = Map::new();
    let mut ok = json!({
        "description": "Success",
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{success}")}}}
    });
    if matches!(
        route.operation,
        Operation::CreateKey | Operation::RotateKey | Operation::NarrowKey
    ) {
        ok["links"] = key_links();
    }
    if route.operation == Operation::CreateRole {
        ok["links"] = role_links();
    }
    if route.operation == Operation::PutRole {
        // Created (201) or replaced (200): the same body either way.
        let created = json!({"description": "Created", "content": ok["content"].clone(), "links": role_links()});
        responses.insert("201".to_owned(), created);
    }
    responses.insert(status.to_string(), ok);
    for Refusal {
        status: code,
        description,
        rendered,
        admin,
    } in refusals(route)
    {
        responses.insert(
            code.to_string(),
            json!({
                "description": description,
                "headers": headers_of(code),
                "content": error_content(renderer, rendered, admin),
            }),
        );
    }
    let mut params = query_params(route.operation);
    if route.path.contains("{name}") {
        params.insert(
            0,
            json!({"name": "name", "in": "path", "required": true, "description": "The role's name",
                   "schema": {"type": "string", "pattern": ROLE_NAME_PATTERN}}),
        );
    }
    if route.path.contains("{id}") {
        params.insert(
            0,
            json!({"name": "id", "in": "path", "required": true, "description": "The key's id",
                   "schema": {"type": "string", "pattern": KEY_ID_PATTERN}}),
        );
    }
    let mut op = json!({
        "operationId": format!("{:?}", route.operation),
        "summary": route.summary,
        "security": security,
        "parameters": params,
        "responses": responses,
    });
    if let Some(scope) = route.scope {
        op["description"] = json!(format!("Needs the `{scope}` scope."));
    }
    if let Some(schema) = request {
        op["requestBody"] = json!({
            "required": !matches!(route.operation, Operation::RotateKey | Operation::NarrowKey),
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        });
    }
    op
}

/// The document for `renderer`'s error bodies and these credential sources.
///
/// It is JSON rather than utoipa's model: the constraints it states (patterns inside
/// `anyOf`, `propertyNames`, nullable enums) are plain JSON Schema 2020-12, more than
/// that model can hold.
pub(crate) fn document(renderer: &SharedRenderer, sources: &[CredentialSource]) -> Value {
    let mut doc = serde_json::to_value(Schemas::openapi()).unwrap_or_default();
    doc["info"] = json!({
        "title": "keygate admin API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Create, list, update, rotate, disable, enable and revoke API keys; inspect the calling key; read the audit log. \
            401/403/429/503 bodies are those of the service's error renderer (AuthError); the admin API's own \
            errors are AdminError.",
    });
    let (schemes, security) = security_schemes(sources);
    let components = &mut doc["components"];
    constrain(&mut components["schemas"]);
    components["securitySchemes"] = schemes;
    components["schemas"]["AuthError"] = renderer.body_schema().schema;
    components["schemas"]["AdminError"] = admin_error_schema();
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = operation(route, renderer, &security);
    }
    doc["paths"] = Value::Object(paths);
    doc
}

/// The OpenAPI 3.1 document of the admin API with the default configuration
/// ([`NestedRenderer`] errors, Bearer keys); [`Admin::openapi`] describes an `Admin`
/// as configured.
///
/// ```
/// let doc = keygate_admin::openapi();
/// assert!(doc["paths"]["/v1/api-keys/{id}/rotate"]["post"].is_object());
/// ```
pub fn openapi() -> Value {
    document(
        &SharedRenderer::new(NestedRenderer::new()),
        &[CredentialSource::Bearer],
    )
}

impl Admin {
    /// The OpenAPI 3.1 document of this admin API: its error renderer's bodies for
    /// 401/403/429/503 and its credential sources as security schemes.
    ///
    /// ```
    /// use keygate::{KeyGate, MemoryStore};
    /// use keygate::render::FlatRenderer;
    /// let gate = KeyGate::builder(MemoryStore::new()).header("X-API-KEY").renderer(FlatRenderer).build();
    /// let doc = keygate_admin::Admin::for_gate(&gate).openapi();
    /// assert_eq!(doc["components"]["securitySchemes"]["header_x-api-key"]["in"], "header");
    /// assert_eq!(doc["components"]["schemas"]["AuthError"]["required"], serde_json::json!(["error", "message"]));
    /// ```
    pub fn openapi(&self) -> Value {
        document(self.error_renderer(), self.credential_sources())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let json = openapi();
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
            for param in op["parameters"].as_array().into_iter().flatten() {
                assert!(param["schema"].is_object(), "{param} has no schema");
            }
            for status in ["401", "403", "429", "503"] {
                assert!(op["responses"][status].is_object(), "{status}");
            }
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
        for schema in [
            "CreateKeyRequest",
            "KeyView",
            "AdminError",
            "AuthError",
            "VerifyView",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
    }

    #[test]
    fn creations_link_to_what_uses_them_and_schemes_are_declared() {
        let json = openapi();
        assert!(
            json["paths"]["/v1/api-keys"]["post"]["responses"]["201"]["links"]["GetKey"]
                .is_object()
        );
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}

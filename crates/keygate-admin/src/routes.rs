//! The route table: one list drives the axum router, the actix scope and the OpenAPI
//! document, so they cannot drift apart.

/// One management operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /v1/api-keys`
    CreateKey,
    /// `GET /v1/api-keys`
    ListKeys,
    /// `GET /v1/api-keys/{id}`
    GetKey,
    /// `PATCH /v1/api-keys/{id}`
    UpdateKey,
    /// `DELETE /v1/api-keys/{id}` (revokes)
    RevokeKey,
    /// `POST /v1/api-keys/{id}/rotate`
    RotateKey,
    /// `POST /v1/api-keys/{id}/disable`
    DisableKey,
    /// `POST /v1/api-keys/{id}/enable`
    EnableKey,
    /// `GET /v1/auth/me`
    Me,
    /// `GET /v1/auth/verify`
    Verify,
    /// `GET /v1/audit-logs`
    AuditLogs,
    /// `GET /v1/analytics/verifications`
    VerificationAnalytics,
    /// `GET /v1/roles`
    ListRoles,
    /// `POST /v1/roles`
    CreateRole,
    /// `GET /v1/roles/{name}`
    GetRole,
    /// `PUT /v1/roles/{name}` (create or replace)
    PutRole,
    /// `DELETE /v1/roles/{name}`
    DeleteRole,
    /// `GET /v1/api-keys/{id}/scope-usage`
    ScopeUsage,
    /// `POST /v1/api-keys/{id}/narrow`
    NarrowKey,
    /// `GET /v1/shared-limits`
    GetSharedLimits,
    /// `PUT /v1/shared-limits`
    PutSharedLimits,
}

/// A route: method, path (with `{id}`), the scope it needs, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The operation.
    pub operation: Operation,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{id}` for a key id or `{name}` for a role name.
    pub path: &'static str,
    /// The scope the caller's key needs (`None`: any valid key).
    pub scope: Option<&'static str>,
    /// Whether it is key or role management (refused when management over the API is
    /// off).
    pub manages_keys: bool,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

/// Every route of the admin API.
pub const ROUTES: &[Route] = &[
    Route {
        operation: Operation::CreateKey,
        method: "POST",
        path: "/v1/api-keys",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Create an API key (the key is returned once)",
    },
    Route {
        operation: Operation::ListKeys,
        method: "GET",
        path: "/v1/api-keys",
        scope: Some("read:api-keys"),
        manages_keys: true,
        summary: "List the tenant's API keys (paged)",
    },
    Route {
        operation: Operation::GetKey,
        method: "GET",
        path: "/v1/api-keys/{id}",
        scope: Some("read:api-keys"),
        manages_keys: true,
        summary: "Get an API key's details",
    },
    Route {
        operation: Operation::UpdateKey,
        method: "PATCH",
        path: "/v1/api-keys/{id}",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Update an API key",
    },
    Route {
        operation: Operation::RevokeKey,
        method: "DELETE",
        path: "/v1/api-keys/{id}",
        scope: Some("delete:api-keys"),
        manages_keys: true,
        summary: "Revoke an API key (immediate and permanent)",
    },
    Route {
        operation: Operation::RotateKey,
        method: "POST",
        path: "/v1/api-keys/{id}/rotate",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Rotate an API key (the old key keeps working for a grace period)",
    },
    Route {
        operation: Operation::DisableKey,
        method: "POST",
        path: "/v1/api-keys/{id}/disable",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Disable an API key: refused (401 key_disabled) until enabled again",
    },
    Route {
        operation: Operation::EnableKey,
        method: "POST",
        path: "/v1/api-keys/{id}/enable",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Enable a disabled API key again",
    },
    Route {
        operation: Operation::Me,
        method: "GET",
        path: "/v1/auth/me",
        scope: None,
        manages_keys: false,
        summary: "Who the calling key belongs to, and its scopes",
    },
    Route {
        operation: Operation::Verify,
        method: "GET",
        path: "/v1/auth/verify",
        scope: None,
        manages_keys: false,
        summary: "Verify the calling key: validity, scopes, expiry, rate-limit state",
    },
    Route {
        operation: Operation::AuditLogs,
        method: "GET",
        path: "/v1/audit-logs",
        scope: Some("read:audit-logs"),
        manages_keys: false,
        summary: "The tenant's audit log (paged, filterable)",
    },
    Route {
        operation: Operation::VerificationAnalytics,
        method: "GET",
        path: "/v1/analytics/verifications",
        scope: Some("read:analytics"),
        manages_keys: false,
        summary:
            "Verifications of the tenant's keys by outcome over time (minute, hour or day buckets)",
    },
    Route {
        operation: Operation::ListRoles,
        method: "GET",
        path: "/v1/roles",
        scope: Some("read:roles"),
        manages_keys: true,
        summary: "List the roles the caller may use: global ones and its tenant's",
    },
    Route {
        operation: Operation::CreateRole,
        method: "POST",
        path: "/v1/roles",
        scope: Some("write:roles"),
        manages_keys: true,
        summary: "Create a role in the caller's tenant and environment (409 if it exists)",
    },
    Route {
        operation: Operation::GetRole,
        method: "GET",
        path: "/v1/roles/{name}",
        scope: Some("read:roles"),
        manages_keys: true,
        summary: "Get a role as the caller's keys resolve it (the tenant's, else the global one)",
    },
    Route {
        operation: Operation::PutRole,
        method: "PUT",
        path: "/v1/roles/{name}",
        scope: Some("write:roles"),
        manages_keys: true,
        summary: "Create or replace a role of the caller's tenant and environment",
    },
    Route {
        operation: Operation::DeleteRole,
        method: "DELETE",
        path: "/v1/roles/{name}",
        scope: Some("delete:roles"),
        manages_keys: true,
        summary: "Delete a role of the caller's tenant (409 while keys hold it, unless force=true)",
    },
    Route {
        operation: Operation::ScopeUsage,
        method: "GET",
        path: "/v1/api-keys/{id}/scope-usage",
        scope: Some("read:api-keys"),
        manages_keys: true,
        summary: "The scopes a key was granted, those it exercised since a time (default 30 days), and those it did not",
    },
    Route {
        operation: Operation::NarrowKey,
        method: "POST",
        path: "/v1/api-keys/{id}/narrow",
        scope: Some("write:api-keys"),
        manages_keys: true,
        summary: "Least privilege: a replacement holding only the scopes the key used, issued as a rotation with a grace period",
    },
    Route {
        operation: Operation::GetSharedLimits,
        method: "GET",
        path: "/v1/shared-limits",
        scope: Some("read:limits"),
        manages_keys: true,
        summary: "The limits every key of the caller's tenant (or of one owner) shares, in its environment",
    },
    Route {
        operation: Operation::PutSharedLimits,
        method: "PUT",
        path: "/v1/shared-limits",
        scope: Some("admin:limits"),
        manages_keys: true,
        summary: "Set the limits every key of the caller's tenant (or of one owner) shares ({} removes them)",
    },
];

/// The route of `operation`.
pub fn route(operation: Operation) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.operation == operation)
        .unwrap_or_else(|| unreachable!("every operation is in ROUTES"))
}

//! The admin API, framework-free: an operation and a plain request in, status and JSON
//! out. The axum and actix front-ends only move bytes.

use std::net::IpAddr;
use std::sync::Arc;

use keygate::analytics::{Granularity, VerificationFilter};
use keygate::audit::AuditFilter;
use keygate::render::{NestedRenderer, SharedRenderer};
use keygate::request::CredentialSource;
use keygate::{Actor, AuthError, Authenticated, KeyGate, KeyId, KeyManager, KeyUpdate, NewKey};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dto::input::{parse_ips, to_named_limits, CreditsInput};
use crate::dto::{
    ApiError, AuditEventView, AuditList, CreateKeyRequest, CreateRoleRequest, CreatedKeyView,
    KeyList, KeyView, MeView, NarrowKeyRequest, PutRoleRequest, PutSharedLimitsRequest, RoleList,
    RoleView, RotateKeyRequest, ScopeUsageView, SharedLimitsView, UpdateKeyRequest, UserView,
    VerificationAnalytics, VerificationCountView, VerifyView,
};
use crate::query::Query;
use crate::routes::{route, Operation};

/// Default request-body limit: 64 KB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The admin API over a [`KeyManager`].
///
/// Build it from the gate that guards it ([`Admin::for_gate`]), so the two share one
/// configuration: the same manager settings (store, hasher, prefix, clock), the same
/// error renderer for 401/403/429/503, and the OpenAPI document declares the same
/// credential sources.
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::Admin;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let admin = Admin::for_gate(&gate)
///     .key_management(true)      // false: keys come only from the CLI
///     .body_limit(64 * 1024);
/// # let _ = admin;
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    manager: KeyManager,
    key_management: bool,
    body_limit: usize,
    renderer: SharedRenderer,
    sources: Vec<CredentialSource>,
}

/// A request to the admin API, as plain values.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminRequest<'a> {
    /// What keygate's layer/middleware put in the request extensions: the verified
    /// caller, its rate-limit state and the gate's renderer.
    pub authenticated: Option<&'a Authenticated>,
    /// The client IP, for audit events.
    pub client_ip: Option<IpAddr>,
    /// The path parameter: a key's `{id}` or a role's `{name}`.
    pub path_param: Option<&'a str>,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// The answer: status, headers (lower-case names, `content-type` included) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl AdminResponse {
    fn json(status: u16, value: &impl Serialize) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// The value of header `name` (lower-case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl From<ApiError> for AdminResponse {
    fn from(err: ApiError) -> Self {
        Self {
            status: err.status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: err.to_bytes(),
        }
    }
}

/// Why a request was refused: an authentication/authorization answer, rendered like the
/// key layer's own (same renderer, same `WWW-Authenticate`), or an admin API error.
#[derive(Debug)]
enum Refusal {
    Auth(AuthError),
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<keygate::manager::ManageError> for Refusal {
    fn from(err: keygate::manager::ManageError) -> Self {
        if err.status() == 503 {
            Self::Auth(AuthError::StoreUnavailable)
        } else {
            Self::Api(err.into())
        }
    }
}

impl Admin {
    /// The admin API over `manager`, with key management on, a 64 KB body limit,
    /// [`NestedRenderer`] errors and Bearer credentials. Prefer [`Admin::for_gate`].
    pub fn new(manager: KeyManager) -> Self {
        Self {
            inner: Arc::new(Inner {
                manager,
                key_management: true,
                body_limit: DEFAULT_BODY_LIMIT,
                renderer: SharedRenderer::new(NestedRenderer::new()),
                sources: vec![CredentialSource::Bearer],
            }),
        }
    }

    /// The admin API configured as `gate` is: its [`KeyGate::manager`], its renderer
    /// and its credential sources.
    pub fn for_gate(gate: &KeyGate) -> Self {
        Self::new(gate.manager())
            .renderer(gate.renderer().clone())
            .sources(gate.sources().to_vec())
    }

    /// Turns key management over the API on or off (`/v1/api-keys` and `/v1/roles`
    /// answer 403 `key_management_disabled` when off; `/v1/auth/*` still works).
    #[must_use]
    pub fn key_management(self, enabled: bool) -> Self {
        self.map(|i| i.key_management = enabled)
    }

    /// The request-body limit in bytes (413 above it).
    #[must_use]
    pub fn body_limit(self, bytes: usize) -> Self {
        self.map(|i| i.body_limit = bytes)
    }

    /// The renderer of 401/403/429/503 answers when the request carries none (the
    /// gate's renderer, from [`Authenticated`], is used when it does), and of their
    /// schemas in the OpenAPI document. Set by [`Admin::for_gate`].
    #[must_use]
    pub fn renderer(self, renderer: SharedRenderer) -> Self {
        self.map(|i| i.renderer = renderer)
    }

    /// Where callers put their key, for the OpenAPI document's security schemes. Set
    /// by [`Admin::for_gate`].
    #[must_use]
    pub fn sources(self, sources: Vec<CredentialSource>) -> Self {
        self.map(|i| i.sources = sources)
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| (*shared).clone());
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The body limit, for front-ends that stop reading early.
    pub fn limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The key manager.
    pub fn manager(&self) -> &KeyManager {
        &self.inner.manager
    }

    /// The configured renderer.
    pub fn error_renderer(&self) -> &SharedRenderer {
        &self.inner.renderer
    }

    /// The configured credential sources.
    pub fn credential_sources(&self) -> &[CredentialSource] {
        &self.inner.sources
    }

    /// Answers one request.
    pub async fn handle(&self, operation: Operation, request: AdminRequest<'_>) -> AdminResponse {
        match self.dispatch(operation, request).await {
            Ok(response) => response,
            Err(Refusal::Api(err)) => err.into(),
            Err(Refusal::Auth(err)) => {
                let renderer = request
                    .authenticated
                    .map_or(&self.inner.renderer, |a| &a.renderer);
                let rendered = renderer.response(&err);
                AdminResponse {
                    status: rendered.status,
                    headers: rendered.headers,
                    body: rendered.body,
                }
            }
        }
    }

    /// The answer for an error outside an operation (a body that could not be read).
    pub fn refuse(&self, err: ApiError) -> AdminResponse {
        err.into()
    }

    async fn dispatch(
        &self,
        operation: Operation,
        req: AdminRequest<'_>,
    ) -> Result<AdminResponse, Refusal> {
        let route = route(operation);
        let principal = &req
            .authenticated
            .ok_or(Refusal::Auth(AuthError::MissingKey))?
            .principal;
        if let Some(scope) = route.scope {
            // Met through `require`, so the key's scope use is noted (what narrowing
            // keeps of an admin key).
            let required = keygate::Requirement::parse(scope)
                .map_err(|e| ApiError::unprocessable(e.to_string()))?;
            principal.require(&required).map_err(Refusal::Auth)?;
        }
        if route.manages_keys && !self.inner.key_management {
            return Err(ApiError::management_disabled().into());
        }
        if req.body.len() > self.inner.body_limit {
            return Err(ApiError::too_large(self.inner.body_limit).into());
        }
        let actor = Actor::key(principal.clone()).from_ip(req.client_ip);
        let manager = &self.inner.manager;
        let now = manager.clock().now();
        match operation {
            Operation::CreateKey => {
                let body: CreateKeyRequest = parse_body(&req, true)?;
                let new = new_key(body)?;
                let created = manager.create(&actor, new).await?;
                Ok(AdminResponse::json(
                    201,
                    &CreatedKeyView {
                        key: created.key.expose().to_owned(),
                        view: KeyView::new(&created.record, now),
                    },
                ))
            }
            Operation::ListKeys => {
                let mut q =
                    Query::parse(req.query, &["limit", "cursor", "owner", "includeRevoked"])?;
                let page = q.page()?;
                let owner = q.take("owner");
                let include_revoked = q.bool("includeRevoked")?.unwrap_or(false);
                let listed = manager
                    .list(&actor, None, owner.as_deref(), include_revoked, &page)
                    .await?;
                Ok(AdminResponse::json(
                    200,
                    &KeyList {
                        data: listed.items.iter().map(|r| KeyView::new(r, now)).collect(),
                        next_cursor: listed.next_cursor,
                    },
                ))
            }
            Operation::GetKey => {
                let record = live_key(manager, &actor, req.path_param).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::UpdateKey => {
                let current = live_key(manager, &actor, req.path_param).await?;
                let body: UpdateKeyRequest = parse_body(&req, true)?;
                let update = key_update(body)?;
                if update.is_empty() {
                    // Nothing to change (`{}`, or only nulls of fields where null means
                    // "unchanged"): the key as it is, and nothing written or audited.
                    return Ok(AdminResponse::json(200, &KeyView::new(&current, now)));
                }
                let record = manager.update(&actor, &current.id, update).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::RevokeKey => {
                let id = live_key(manager, &actor, req.path_param).await?.id;
                let record = manager.revoke(&actor, &id).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::DisableKey | Operation::EnableKey => {
                let id = live_key(manager, &actor, req.path_param).await?.id;
                let record = if operation == Operation::DisableKey {
                    manager.disable(&actor, &id).await?
                } else {
                    manager.enable(&actor, &id).await?
                };
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::RotateKey => {
                let id = live_key(manager, &actor, req.path_param).await?.id;
                let body: RotateKeyRequest = parse_body(&req, false)?;
                let grace = body.grace_period.map(|g| g.to_duration()).transpose()?;
                let created = manager.rotate(&actor, &id, grace).await?;
                Ok(AdminResponse::json(
                    201,
                    &CreatedKeyView {
                        key: created.key.expose().to_owned(),
                        view: KeyView::new(&created.record, now),
                    },
                ))
            }
            Operation::ScopeUsage => {
                let id = live_key(manager, &actor, req.path_param).await?.id;
                let since = Query::parse(req.query, &["since"])?.time("since")?;
                let usage = manager.scope_usage(&actor, &id, since).await?;
                Ok(AdminResponse::json(200, &ScopeUsageView::from(&usage)))
            }
            Operation::NarrowKey => {
                let id = live_key(manager, &actor, req.path_param).await?.id;
                let body: NarrowKeyRequest = parse_body(&req, false)?;
                let grace = body.grace_period.map(|g| g.to_duration()).transpose()?;
                let created = manager.narrow(&actor, &id, body.since, grace).await?;
                Ok(AdminResponse::json(
                    201,
                    &CreatedKeyView {
                        key: created.key.expose().to_owned(),
                        view: KeyView::new(&created.record, now),
                    },
                ))
            }
            Operation::Me => {
                let record = manager.get(&actor, principal.key_id()).await?;
                Ok(AdminResponse::json(
                    200,
                    &MeView {
                        user: UserView::new(principal),
                        key: KeyView::new(&record, now),
                    },
                ))
            }
            Operation::Verify => Ok(AdminResponse::json(
                200,
                &VerifyView {
                    valid: true,
                    key_id: principal.key_id().to_string(),
                    tenant: principal.tenant().to_owned(),
                    env: principal.env().to_owned(),
                    scopes: principal.scopes().to_strings(),
                    expires_at: principal.expires_at(),
                    rate_limit: req
                        .authenticated
                        .and_then(|a| a.rate_limit.as_ref())
                        .map(|report| (&report.summary()).into()),
                },
            )),
            Operation::AuditLogs => {
                let mut q = Query::parse(
                    req.query,
                    &[
                        "limit", "cursor", "keyId", "action", "outcome", "since", "until",
                    ],
                )?;
                let page = q.page()?;
                let filter = AuditFilter {
                    tenant: None,
                    key: q
                        .take("keyId")
                        .map(|k| {
                            KeyId::parse(&k).ok_or_else(|| {
                                ApiError::bad_request("keyId must be a key id, key_…")
                            })
                        })
                        .transpose()?,
                    action: q.take("action"),
                    since: q.time("since")?,
                    until: q.time("until")?,
                    outcome: q
                        .take("outcome")
                        .map(|o| {
                            keygate::audit::Outcome::parse(&o).ok_or_else(|| {
                                ApiError::bad_request("outcome must be success or failure")
                            })
                        })
                        .transpose()?,
                };
                let events = manager.audit_log(&actor, filter, &page).await?;
                Ok(AdminResponse::json(
                    200,
                    &AuditList {
                        data: events.items.iter().map(AuditEventView::from).collect(),
                        next_cursor: events.next_cursor,
                    },
                ))
            }
            Operation::VerificationAnalytics => {
                let mut q =
                    Query::parse(req.query, &["keyId", "tenant", "from", "to", "granularity"])?;
                let granularity = match q.take("granularity") {
                    None => Granularity::Hour,
                    Some(g) => Granularity::parse(&g).ok_or_else(|| {
                        ApiError::bad_request("granularity must be minute, hour or day")
                    })?,
                };
                let to = q.time("to")?.unwrap_or(now);
                let from = q
                    .time("from")?
                    .unwrap_or_else(|| to - chrono::Duration::days(1));
                let filter = VerificationFilter {
                    key_id: q
                        .take("keyId")
                        .map(|k| {
                            KeyId::parse(&k).ok_or_else(|| {
                                ApiError::bad_request("keyId must be a key id, key_…")
                            })
                        })
                        .transpose()?,
                    // The policy keeps a key to its own tenant and environment.
                    tenant: q.take("tenant"),
                    env: None,
                    from,
                    to,
                };
                let report = manager
                    .verification_counts(&actor, filter, granularity)
                    .await?;
                Ok(AdminResponse::json(
                    200,
                    &VerificationAnalytics {
                        granularity: report.granularity.as_str().to_owned(),
                        from: report.from,
                        to: report.to,
                        data: report
                            .counts
                            .iter()
                            .map(VerificationCountView::from)
                            .collect(),
                    },
                ))
            }
            Operation::ListRoles => {
                Query::parse(req.query, &[])?;
                let roles = manager.list_roles(&actor).await?;
                Ok(AdminResponse::json(
                    200,
                    &RoleList {
                        data: roles.iter().map(RoleView::from).collect(),
                    },
                ))
            }
            Operation::CreateRole => {
                let body: CreateRoleRequest = parse_body(&req, true)?;
                let role = requested_role(&body.name, &body.scopes, body.description)?;
                let role = manager.create_role(&actor, role).await?;
                Ok(AdminResponse::json(201, &RoleView::from(&role)))
            }
            Operation::GetRole => {
                let role = manager
                    .get_role(&actor, None, role_name(req.path_param)?)
                    .await?;
                Ok(AdminResponse::json(200, &RoleView::from(&role)))
            }
            Operation::PutRole => {
                let name = role_name(req.path_param)?;
                let body: PutRoleRequest = parse_body(&req, true)?;
                let role = requested_role(name, &body.scopes, body.description)?;
                let (role, created) = manager.put_role(&actor, role).await?;
                Ok(AdminResponse::json(
                    if created { 201 } else { 200 },
                    &RoleView::from(&role),
                ))
            }
            Operation::GetSharedLimits => {
                let owner = Query::parse(req.query, &["owner"])?.take("owner");
                let limits = manager
                    .shared_limits(&actor, None, None, owner.as_deref())
                    .await?;
                Ok(AdminResponse::json(
                    200,
                    &SharedLimitsView::new(principal, owner, &limits),
                ))
            }
            Operation::PutSharedLimits => {
                let body: PutSharedLimitsRequest = parse_body(&req, true)?;
                let limits = to_named_limits(&body.limits)?;
                let limits = manager
                    .set_shared_limits(&actor, None, None, body.owner.as_deref(), limits)
                    .await?;
                Ok(AdminResponse::json(
                    200,
                    &SharedLimitsView::new(principal, body.owner, &limits),
                ))
            }
            Operation::DeleteRole => {
                let name = role_name(req.path_param)?;
                let force = Query::parse(req.query, &["force"])?
                    .bool("force")?
                    .unwrap_or(false);
                let role = manager.delete_role(&actor, None, name, force).await?;
                Ok(AdminResponse::json(200, &RoleView::from(&role)))
            }
        }
    }
}

/// A role name from the path; one that cannot exist is "not found".
fn role_name(raw: Option<&str>) -> Result<&str, ApiError> {
    raw.filter(|name| keygate::role::validate_role_name(name).is_ok())
        .ok_or_else(|| ApiError::not_found("No role with this name"))
}

/// The role `name` as a request defines it. Its namespace is left to the manager,
/// which puts a key's roles in the key's own tenant and environment (its policy
/// refuses any other).
fn requested_role(
    name: &str,
    scopes: &crate::dto::ScopesInput,
    description: Option<String>,
) -> Result<keygate::role::Role, ApiError> {
    let mut role = keygate::role::Role::new(name, scopes.to_scope_set()?)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    role.description = description;
    Ok(role)
}

/// The key `{id}` names, if the actor may see it and it is not revoked: a revoked key
/// is gone from the by-id routes (404; `GET /v1/api-keys?includeRevoked=true` and the
/// audit log still show it), as a deleted resource is.
async fn live_key(
    manager: &KeyManager,
    actor: &Actor,
    raw: Option<&str>,
) -> Result<keygate::KeyRecord, Refusal> {
    let record = manager.get(actor, &key_id(raw)?).await?;
    if record.revoked_at.is_some() {
        return Err(ApiError::not_found(
            "No API key with this id (it was revoked; GET /v1/api-keys?includeRevoked=true lists revoked keys)",
        )
        .into());
    }
    Ok(record)
}

fn key_id(raw: Option<&str>) -> Result<KeyId, ApiError> {
    raw.and_then(KeyId::parse)
        .ok_or_else(|| ApiError::not_found("No API key with this id"))
}

/// Parses a JSON body: 415 for another content type, 400 for bad JSON, 422 for unknown
/// fields or wrong types. An empty body is `{}` unless `required`.
fn parse_body<T: DeserializeOwned>(req: &AdminRequest<'_>, required: bool) -> Result<T, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        if required {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        return serde_json::from_slice(b"{}").map_err(|e| ApiError::unprocessable(e.to_string()));
    }
    let is_json = req.content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
            || mime.to_ascii_lowercase().ends_with("+json")
    });
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    // serde reads a struct from a JSON array too (fields by position): only an object
    // is a request body here.
    if req.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(req.body) {
            Ok(_) => Err(ApiError::unprocessable("the body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
        };
    }
    serde_json::from_slice(req.body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(e.to_string()),
        _ => ApiError::bad_request(format!("invalid JSON: {e}")),
    })
}

fn new_key(body: CreateKeyRequest) -> Result<NewKey, ApiError> {
    let mut new = NewKey::named(body.name);
    new.description = body.description;
    new.role = body.role;
    new.kind = body.kind.unwrap_or_default();
    new.owner = body.owner;
    new.env = body.env;
    new.scopes = body
        .scopes
        .map(|s| s.to_scope_set())
        .transpose()?
        .unwrap_or_default();
    new.rate_limit = body.rate_limit.map(|r| r.to_spec()).transpose()?;
    new.limits = body
        .limits
        .as_ref()
        .map(to_named_limits)
        .transpose()?
        .unwrap_or_default();
    new.credits = body
        .credits
        .as_ref()
        .map(CreditsInput::to_grant)
        .transpose()?;
    new.expires_at = body.expires_at;
    new.allowed_ips = parse_ips(&body.allowed_ips.unwrap_or_default())?;
    new.allowed_referrers = body.allowed_referrers.unwrap_or_default();
    new.metadata = body.metadata.unwrap_or_default();
    Ok(new)
}

fn key_update(body: UpdateKeyRequest) -> Result<KeyUpdate, ApiError> {
    Ok(KeyUpdate {
        name: body.name,
        description: body.description,
        role: body.role,
        scopes: body.scopes.map(|s| s.to_scope_set()).transpose()?,
        expires_at: body.expires_at,
        allowed_ips: body.allowed_ips.map(|ips| parse_ips(&ips)).transpose()?,
        allowed_referrers: body.allowed_referrers,
        rate_limit: body
            .rate_limit
            .map(|r| r.map(|r| r.to_spec()).transpose())
            .transpose()?,
        limits: body.limits.as_ref().map(to_named_limits).transpose()?,
        credits: body
            .credits
            .map(|c| c.as_ref().map(CreditsInput::to_grant).transpose())
            .transpose()?,
        metadata: body.metadata,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate::render::FlatRenderer;
    use keygate::{Actor, KeyManager, MemoryStore, NewKey, ScopeSet, Verifier, VerifyRequest};

    use super::*;

    async fn admin_and_principal(management: bool) -> (Admin, Authenticated) {
        admin_with_scopes(management, "*").await
    }

    async fn admin_with_scopes(management: bool, scope: &str) -> (Admin, Authenticated) {
        let store = Arc::new(MemoryStore::new());
        let manager = KeyManager::builder(store.clone()).build();
        let created = manager
            .create(
                &Actor::system(),
                NewKey::named("ops")
                    .tenant("acme")
                    .scopes(ScopeSet::parse([scope]).expect("scope")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let principal = Verifier::builder(store)
            .build()
            .verify(VerifyRequest::key(created.key.expose()))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .principal;
        (
            Admin::new(manager).key_management(management),
            Authenticated::new(principal),
        )
    }

    fn json_request<'a>(caller: &'a Authenticated, body: &'a [u8]) -> AdminRequest<'a> {
        AdminRequest {
            authenticated: Some(caller),
            content_type: Some("application/json"),
            body,
            ..AdminRequest::default()
        }
    }

    #[tokio::test]
    async fn management_off_refuses_key_routes_but_keeps_auth_routes() {
        let (admin, principal) = admin_and_principal(false).await;
        let create = admin
            .handle(
                Operation::CreateKey,
                json_request(&principal, br#"{"name":"x"}"#),
            )
            .await;
        assert_eq!(create.status, 403);
        let body: serde_json::Value = serde_json::from_slice(&create.body).expect("a JSON body");
        assert_eq!(body["error"]["code"], "key_management_disabled");
        let list = admin
            .handle(Operation::ListKeys, json_request(&principal, b""))
            .await;
        assert_eq!(list.status, 403);
        let me = admin
            .handle(Operation::Me, json_request(&principal, b""))
            .await;
        assert_eq!(me.status, 200);
        let verify = admin
            .handle(Operation::Verify, json_request(&principal, b""))
            .await;
        assert_eq!(verify.status, 200);
    }

    #[tokio::test]
    async fn management_on_creates_and_no_principal_is_401() {
        let (admin, principal) = admin_and_principal(true).await;
        let create = admin
            .handle(
                Operation::CreateKey,
                json_request(&principal, br#"{"name":"x"}"#),
            )
            .await;
        assert_eq!(create.status, 201);
        let anonymous = admin.handle(Operation::Me, AdminRequest::default()).await;
        assert_eq!(anonymous.status, 401);
    }

    #[tokio::test]
    async fn the_body_limit_is_enforced_before_parsing() {
        let (admin, principal) = admin_and_principal(true).await;
        let small = admin.body_limit(16);
        let big = vec![b' '; 17];
        let res = small
            .handle(Operation::CreateKey, json_request(&principal, &big))
            .await;
        assert_eq!(res.status, 413);
    }

    #[tokio::test]
    async fn a_missing_scope_is_answered_by_the_gates_renderer_with_its_challenge() {
        let (admin, caller) = admin_with_scopes(true, "read:api-keys").await;
        let mut caller = caller.with_renderer(SharedRenderer::new(NestedRenderer::new()));
        let res = admin
            .handle(
                Operation::CreateKey,
                json_request(&caller, br#"{"name":"x"}"#),
            )
            .await;
        assert_eq!(res.status, 403);
        let body: serde_json::Value = serde_json::from_slice(&res.body).expect("json");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        assert_eq!(
            body["error"]["details"],
            "This API key does not have 'write' permission for api-keys"
        );
        let challenge = res.header("www-authenticate").expect("a challenge");
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        assert!(challenge.contains("write:api-keys"), "{challenge}");

        // The renderer is the gate's, carried in by the layer: a flat gate, a flat body.
        caller = caller.with_renderer(SharedRenderer::new(FlatRenderer));
        let res = admin
            .handle(
                Operation::CreateKey,
                json_request(&caller, br#"{"name":"x"}"#),
            )
            .await;
        let body: serde_json::Value = serde_json::from_slice(&res.body).expect("json");
        assert_eq!(body["error"], "Forbidden", "{body}");
        assert!(res.header("www-authenticate").is_some());
    }

    #[tokio::test]
    async fn a_revoked_key_is_gone_from_the_by_id_routes() {
        let (admin, caller) = admin_and_principal(true).await;
        let created = admin
            .handle(
                Operation::CreateKey,
                json_request(&caller, br#"{"name":"x"}"#),
            )
            .await;
        assert_eq!(created.status, 201);
        let body: serde_json::Value = serde_json::from_slice(&created.body).expect("json");
        let id = body["id"].as_str().expect("an id").to_owned();
        let by_id = |()| AdminRequest {
            path_param: Some(&id),
            ..json_request(&caller, b"")
        };
        assert_eq!(admin.handle(Operation::GetKey, by_id(())).await.status, 200);
        assert_eq!(
            admin.handle(Operation::RevokeKey, by_id(())).await.status,
            200
        );
        for op in [
            Operation::GetKey,
            Operation::RevokeKey,
            Operation::RotateKey,
        ] {
            assert_eq!(admin.handle(op, by_id(())).await.status, 404, "{op:?}");
        }
        let patch = AdminRequest {
            path_param: Some(&id),
            ..json_request(&caller, br#"{"name":"y"}"#)
        };
        assert_eq!(admin.handle(Operation::UpdateKey, patch).await.status, 404);
        let listed = admin
            .handle(
                Operation::ListKeys,
                AdminRequest {
                    query: Some("includeRevoked=true"),
                    ..json_request(&caller, b"")
                },
            )
            .await;
        let body: serde_json::Value = serde_json::from_slice(&listed.body).expect("json");
        assert!(body["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|k| k["id"] == id.as_str() && k["status"] == "revoked"));
    }
}

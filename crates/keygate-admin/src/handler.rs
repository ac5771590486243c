//! The admin API, framework-free: an operation and a plain request in, status and JSON
//! out. The axum and actix front-ends only move bytes.

use std::net::IpAddr;
use std::sync::Arc;

use keygate::audit::AuditFilter;
use keygate::rate_limit::RateLimitStatus;
use keygate::{Actor, KeyId, KeyManager, KeyUpdate, NewKey, Principal};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dto::input::parse_ips;
use crate::dto::{
    ApiError, AuditEventView, AuditList, CreateKeyRequest, CreatedKeyView, KeyList, KeyView,
    MeView, RotateKeyRequest, UpdateKeyRequest, UserView, VerifyView,
};
use crate::query::Query;
use crate::routes::{route, Operation};

/// Default request-body limit: 64 KB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The admin API over a [`KeyManager`].
///
/// ```
/// use keygate::{KeyManager, MemoryStore};
/// use keygate_admin::Admin;
/// let admin = Admin::new(KeyManager::builder(MemoryStore::new()).build())
///     .key_management(true)      // false: keys come only from the CLI
///     .body_limit(64 * 1024);
/// # let _ = admin;
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    manager: KeyManager,
    key_management: bool,
    body_limit: usize,
}

/// A request to the admin API, as plain values.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminRequest<'a> {
    /// The verified caller (put in request extensions by keygate's layer/middleware).
    pub principal: Option<&'a Principal>,
    /// The caller's rate-limit state, when limits are on.
    pub rate_limit: Option<&'a RateLimitStatus>,
    /// The client IP, for audit events.
    pub client_ip: Option<IpAddr>,
    /// The `{id}` path segment.
    pub id: Option<&'a str>,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// The answer: status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON.
    pub body: Vec<u8>,
}

impl AdminResponse {
    fn json(status: u16, value: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }
}

impl From<ApiError> for AdminResponse {
    fn from(err: ApiError) -> Self {
        Self {
            status: err.status,
            body: err.to_bytes(),
        }
    }
}

impl Admin {
    /// The admin API with key management on and a 64 KB body limit.
    pub fn new(manager: KeyManager) -> Self {
        Self {
            inner: Arc::new(Inner {
                manager,
                key_management: true,
                body_limit: DEFAULT_BODY_LIMIT,
            }),
        }
    }

    /// Turns key management over the API on or off (`/v1/api-keys` answers 403
    /// `key_management_disabled` when off; `/v1/auth/*` still works).
    #[must_use]
    pub fn key_management(self, enabled: bool) -> Self {
        self.map(|i| i.key_management = enabled)
    }

    /// The request-body limit in bytes (413 above it).
    #[must_use]
    pub fn body_limit(self, bytes: usize) -> Self {
        self.map(|i| i.body_limit = bytes)
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            manager: shared.manager.clone(),
            key_management: shared.key_management,
            body_limit: shared.body_limit,
        });
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

    /// Answers one request.
    pub async fn handle(&self, operation: Operation, request: AdminRequest<'_>) -> AdminResponse {
        match self.dispatch(operation, request).await {
            Ok(response) => response,
            Err(err) => err.into(),
        }
    }

    async fn dispatch(
        &self,
        operation: Operation,
        req: AdminRequest<'_>,
    ) -> Result<AdminResponse, ApiError> {
        let route = route(operation);
        let principal = req.principal.ok_or_else(ApiError::unauthorized)?;
        if route.manages_keys && !self.inner.key_management {
            return Err(ApiError::management_disabled());
        }
        if let Some(scope) = route.scope {
            if !principal.has_scope(scope) {
                return Err(ApiError::missing_scope(scope));
            }
        }
        if req.body.len() > self.inner.body_limit {
            return Err(ApiError::too_large(self.inner.body_limit));
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
                let record = manager.get(&actor, &key_id(req.id)?).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::UpdateKey => {
                let id = key_id(req.id)?;
                let body: UpdateKeyRequest = parse_body(&req, true)?;
                let update = key_update(body)?;
                if update.is_empty() {
                    return Err(ApiError::unprocessable(
                        "the update changes nothing: send at least one field",
                    ));
                }
                let record = manager.update(&actor, &id, update).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::RevokeKey => {
                let record = manager.revoke(&actor, &key_id(req.id)?).await?;
                Ok(AdminResponse::json(200, &KeyView::new(&record, now)))
            }
            Operation::RotateKey => {
                let id = key_id(req.id)?;
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
                    rate_limit: req.rate_limit.map(Into::into),
                },
            )),
            Operation::AuditLogs => {
                let mut q = Query::parse(
                    req.query,
                    &["limit", "cursor", "keyId", "action", "since", "until"],
                )?;
                let page = q.page()?;
                let filter = AuditFilter {
                    tenant: None,
                    key: q.take("keyId").map(|k| key_id(Some(&k))).transpose()?,
                    action: q.take("action"),
                    since: q.time("since")?,
                    until: q.time("until")?,
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
        }
    }
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
        metadata: body.metadata,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate::{Actor, KeyManager, MemoryStore, NewKey, ScopeSet, Verifier, VerifyRequest};

    use super::*;

    async fn admin_and_principal(management: bool) -> (Admin, Principal) {
        let store = Arc::new(MemoryStore::new());
        let manager = KeyManager::builder(store.clone()).build();
        let created = manager
            .create(
                &Actor::system(),
                NewKey::named("ops")
                    .tenant("acme")
                    .scopes(ScopeSet::parse(["*"]).unwrap_or_default()),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let principal = Verifier::builder(store)
            .build()
            .verify(VerifyRequest::key(created.key.expose()))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .principal;
        (Admin::new(manager).key_management(management), principal)
    }

    fn json_request<'a>(principal: &'a Principal, body: &'a [u8]) -> AdminRequest<'a> {
        AdminRequest {
            principal: Some(principal),
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
        let body: serde_json::Value = serde_json::from_slice(&create.body).unwrap_or_default();
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
}

//! The front door and the routes: session, CSRF and origin checks, then one function
//! per page or form, each calling the admin API as the signed-in key.

use keygate::{Authenticated, VerifyRequest};
use serde_json::{json, Value};

use super::api::{Caller, Failure};
use super::form::{self, Form};
use super::http::{cookie, DashboardRequest, DashboardResponse};
use super::pages::audit::{self as audit_page, AuditQuery};
use super::pages::keys::{self as keys_page, KeyQuery, Listing};
use super::pages::{self, key_detail, key_form, roles as roles_page, sign_in, Chrome, Nav, Notice};
use super::session::{Lookup, Reveal};
use super::{csrf, Dashboard, SESSION_COOKIE};
use crate::dto::{
    AuditList, CreatedKeyView, KeyList, KeyView, RoleList, RoleView, VerificationAnalytics,
};
use crate::routes::Operation;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/copy.js");

/// Keys per page of the list.
const PAGE_SIZE: usize = 25;
/// The most keys the list reads (10 pages of the admin API's largest page).
const MAX_KEYS: usize = 10_000;

/// A signed-in request.
struct Ctx<'a> {
    dashboard: &'a Dashboard,
    session: String,
    csrf: super::csrf::CsrfToken,
    auth: Authenticated,
    req: DashboardRequest<'a>,
}

impl Ctx<'_> {
    fn caller(&self) -> Caller<'_> {
        Caller {
            admin: &self.dashboard.inner.admin,
            auth: &self.auth,
            client_ip: self.req.client_ip,
        }
    }

    fn chrome(&self, nav: Nav) -> Chrome<'_> {
        Chrome {
            base: &self.dashboard.inner.base,
            who: &self.auth.principal,
            csrf: self.csrf.as_str(),
            nav,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.dashboard.inner.base)
    }
}

fn cookie_header(dashboard: &Dashboard, value: &str, https: bool, max_age: Option<i64>) -> String {
    let mut c = format!(
        "{SESSION_COOKIE}={value}; Path={}; HttpOnly; SameSite=Strict",
        dashboard.inner.base
    );
    if https {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

fn error_page(dashboard: &Dashboard, status: u16, text: &str) -> DashboardResponse {
    DashboardResponse::html(
        status,
        pages::bare(
            &dashboard.inner.base,
            "Refused",
            Some(&Notice::Error(text.to_owned())),
            maud::html! {
                p { a href={ (dashboard.inner.base) "/keys" } { "Back to the dashboard" } }
            },
        ),
    )
}

/// The query parameter `name`, if present.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Messages for `?done=…` after a redirect: fixed texts, nothing reflected.
fn done_notice(query: Option<&str>) -> Option<Notice> {
    let text = match query_param(query, "done")?.as_str() {
        "saved" => "Changes saved.",
        "unchanged" => "Nothing changed.",
        "revoked" => "The key was revoked.",
        "disabled" => "The key was disabled.",
        "enabled" => "The key was enabled.",
        "role_created" => "Role created.",
        "role_saved" => "Role saved.",
        "role_deleted" => "Role deleted.",
        "signed_out" => "You are signed out.",
        _ => return None,
    };
    Some(Notice::Success(text.to_owned()))
}

pub(super) async fn handle(dashboard: &Dashboard, req: DashboardRequest<'_>) -> DashboardResponse {
    let base = dashboard.inner.base.as_str();
    let Some(rest) = req.path.strip_prefix(base) else {
        return error_page(dashboard, 404, "No such page.");
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    if !rest.starts_with('/') {
        return error_page(dashboard, 404, "No such page.");
    }
    let segments: Vec<&str> = rest[1..].split('/').collect();
    let post = match req.method {
        "GET" | "HEAD" => false,
        "POST" => true,
        _ => {
            return error_page(dashboard, 405, "Only GET and POST are used here.")
                .with_header("allow", "GET, POST".to_owned())
        }
    };
    if post && csrf::cross_origin(req.origin, req.host, req.sec_fetch_site) {
        return error_page(
            dashboard,
            403,
            "This form was sent from another site; the dashboard accepts forms from its own pages only.",
        );
    }
    match (post, segments.as_slice()) {
        (false, ["assets", "style.css"]) => {
            return DashboardResponse::asset("text/css; charset=utf-8", STYLE)
        }
        (false, ["assets", "copy.js"]) => {
            return DashboardResponse::asset("text/javascript; charset=utf-8", SCRIPT)
        }
        (false, ["sign-in"]) => {
            let notice = match query_param(req.query, "reason").as_deref() {
                Some("expired") => Some(Notice::Error(
                    "Your session expired; sign in again.".to_owned(),
                )),
                Some("key") => Some(Notice::Error(
                    "The key of your session no longer works (revoked, expired or restricted); sign in with a valid key.".to_owned(),
                )),
                _ => done_notice(req.query),
            };
            return DashboardResponse::html(200, sign_in::page(base, notice.as_ref()));
        }
        (true, ["sign-in"]) => return sign_in(dashboard, req).await,
        _ => {}
    }

    // Everything else needs a live session whose key still works.
    let sign_in_at = |reason: &str| {
        let clear = cookie_header(dashboard, "", req.https, Some(0));
        let to = if reason.is_empty() {
            format!("{base}/sign-in")
        } else {
            format!("{base}/sign-in?reason={reason}")
        };
        DashboardResponse::redirect(to).with_header("set-cookie", clear)
    };
    let Some(session) = cookie(req.cookie, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
        return sign_in_at("");
    };
    let now = dashboard.inner.admin.manager().clock().now();
    let (key_id, csrf_token) = match dashboard.inner.sessions.touch(session, now) {
        Lookup::Live { key_id, csrf } => (key_id, csrf),
        Lookup::Expired => return sign_in_at("expired"),
        Lookup::Missing => return sign_in_at(""),
    };
    let principal = match dashboard
        .inner
        .verifier
        .recheck(&key_id, req.client_ip, None)
        .await
    {
        Ok(principal) => principal,
        Err(keygate::AuthError::StoreUnavailable) => {
            return error_page(
                dashboard,
                503,
                "The key store is unavailable; retry shortly.",
            )
        }
        Err(_) => {
            dashboard.inner.sessions.delete(session);
            return sign_in_at("key");
        }
    };
    let auth =
        Authenticated::new(principal).with_renderer(dashboard.inner.admin.error_renderer().clone());
    let ctx = Ctx {
        dashboard,
        session: session.to_owned(),
        csrf: csrf_token,
        auth,
        req,
    };

    let mut form = Form::default();
    if post {
        let is_form = req.content_type.is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if !is_form {
            return error_page(
                dashboard,
                415,
                "Forms must be sent as application/x-www-form-urlencoded.",
            );
        }
        let sent = form_urlencoded::parse(req.body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !ctx.csrf.matches(sent.as_deref()) {
            return error_page(
                dashboard,
                403,
                "The form's security token is missing or wrong (CSRF protection). Reload the page and try again.",
            );
        }
        form = match known_fields(&segments) {
            Some(fields) => match Form::parse(req.body, fields) {
                Ok(form) => form,
                Err(err) => return error_page(dashboard, 400, &err),
            },
            None => return error_page(dashboard, 404, "No such form."),
        };
    }

    match (post, segments.as_slice()) {
        (false, [""]) => DashboardResponse::redirect(ctx.url("/keys")),
        (true, ["sign-out"]) => {
            dashboard.inner.sessions.delete(&ctx.session);
            DashboardResponse::redirect(format!("{base}/sign-in?done=signed_out")).with_header(
                "set-cookie",
                cookie_header(dashboard, "", req.https, Some(0)),
            )
        }
        (false, ["keys"]) => list_keys(&ctx).await,
        (false, ["keys", "new"]) => {
            let form = Form::default();
            DashboardResponse::html(200, key_form::create(&ctx.chrome(Nav::Keys), &form, None))
        }
        (true, ["keys"]) => create_key(&ctx, form).await,
        (false, ["keys", id]) => key_detail(&ctx, id, None, None).await,
        (true, ["keys", id]) => update_key(&ctx, id, form).await,
        (false, ["keys", id, "created"]) => reveal(&ctx, id).await,
        (true, ["keys", id, "rotate"]) => rotate_key(&ctx, id, &form).await,
        (false, ["keys", id, "revoke"]) => confirm_revoke(&ctx, id, None).await,
        (true, ["keys", id, "revoke"]) => revoke_key(&ctx, id).await,
        (true, ["keys", id, "disable"]) => set_disabled(&ctx, id, true).await,
        (true, ["keys", id, "enable"]) => set_disabled(&ctx, id, false).await,
        (false, ["roles"]) => list_roles(&ctx, &Form::default(), None).await,
        (true, ["roles"]) => create_role(&ctx, form).await,
        (false, ["roles", name]) => role_page(&ctx, name).await,
        (true, ["roles", name]) => put_role(&ctx, name, form).await,
        (true, ["roles", name, "delete"]) => delete_role(&ctx, name, &form).await,
        (false, ["audit"]) => audit(&ctx).await,
        _ => error_page(dashboard, 404, "No such page."),
    }
}

/// The fields each form may send.
fn known_fields(segments: &[&str]) -> Option<&'static [&'static str]> {
    Some(match segments {
        ["sign-out"] => &["csrf"],
        ["keys"] => key_form::CREATE_FIELDS,
        ["keys", _] => key_detail::EDIT_FIELDS,
        ["keys", _, "rotate"] => &["csrf", "grace_period"],
        ["keys", _, "revoke" | "disable" | "enable"] => &["csrf"],
        ["roles"] => roles_page::ROLE_FIELDS,
        ["roles", _] => &["csrf", "description", "scopes", "resource_scopes"],
        ["roles", _, "delete"] => &["csrf", "force"],
        _ => return None,
    })
}

async fn sign_in(dashboard: &Dashboard, req: DashboardRequest<'_>) -> DashboardResponse {
    let base = &dashboard.inner.base;
    let refuse = |status: u16, text: &str| {
        DashboardResponse::html(
            status,
            sign_in::page(base, Some(&Notice::Error(text.to_owned()))),
        )
    };
    let form = match Form::parse(req.body, &["key"]) {
        Ok(form) => form,
        Err(err) => return refuse(400, &err),
    };
    let Some(key) = form.opt("key") else {
        return refuse(400, "Enter an API key.");
    };
    let verified = dashboard
        .inner
        .verifier
        .verify(VerifyRequest {
            key,
            client_ip: req.client_ip,
            referrer: None,
            cost: 1,
        })
        .await;
    let principal = match verified {
        Ok(v) => v.principal,
        Err(err) => {
            let status = err.status();
            return refuse(status, &format!("That key was not accepted: {err}."));
        }
    };
    // A new session id at every sign-in (no fixation); the old session, if any, ends.
    if let Some(old) = cookie(req.cookie, SESSION_COOKIE) {
        dashboard.inner.sessions.delete(old);
    }
    let now = dashboard.inner.admin.manager().clock().now();
    match dashboard
        .inner
        .sessions
        .create(principal.key_id().clone(), now)
    {
        Ok(id) => DashboardResponse::redirect(format!("{base}/keys"))
            .with_header("set-cookie", cookie_header(dashboard, &id, req.https, None)),
        Err(_) => refuse(
            503,
            "No randomness available for a session id; retry shortly.",
        ),
    }
}

/// Every key the signed-in key may see (revoked ones too), up to [`MAX_KEYS`].
async fn all_keys(ctx: &Ctx<'_>, owner: &str) -> Result<(Vec<KeyView>, bool), Failure> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("limit", "1000")
                .append_pair("includeRevoked", "true");
            if !owner.is_empty() {
                q.append_pair("owner", owner);
            }
            if let Some(c) = &cursor {
                q.append_pair("cursor", c);
            }
            q.finish()
        };
        let page: KeyList = ctx
            .caller()
            .call(Operation::ListKeys, None, Some(&q), None)
            .await?;
        keys.extend(page.data);
        match page.next_cursor {
            Some(next) if keys.len() < MAX_KEYS => cursor = Some(next),
            Some(_) => return Ok((keys, true)),
            None => return Ok((keys, false)),
        }
    }
}

async fn list_keys(ctx: &Ctx<'_>) -> DashboardResponse {
    let q = |name: &str| query_param(ctx.req.query, name).unwrap_or_default();
    let mut query = KeyQuery {
        q: q("q"),
        kind: q("kind"),
        status: q("status"),
        owner: q("owner"),
        sort: q("sort"),
        page: 1,
    };
    let mut notice = done_notice(ctx.req.query);
    let mut problems = Vec::new();
    let page_text = q("page");
    if !page_text.is_empty() {
        match page_text.parse::<usize>() {
            Ok(p) if p >= 1 => query.page = p,
            _ => problems.push(format!(
                "page must be a whole number from 1 (got {page_text:?})"
            )),
        }
    }
    if !keys_page::KINDS.iter().any(|(v, _)| *v == query.kind) {
        problems.push(format!("unknown kind {:?}", query.kind));
        query.kind.clear();
    }
    if !keys_page::STATUSES.iter().any(|(v, _)| *v == query.status) {
        problems.push(format!("unknown status {:?}", query.status));
        query.status.clear();
    }
    if !keys_page::SORTS.iter().any(|(v, _)| *v == query.sort) {
        problems.push(format!("unknown sort {:?}", query.sort));
        query.sort.clear();
    }
    if !problems.is_empty() {
        notice = Some(Notice::Error(problems.join("; ")));
    }
    let chrome = ctx.chrome(Nav::Keys);
    let (keys, truncated) = match all_keys(ctx, &query.owner).await {
        Ok(found) => found,
        Err(failure) => {
            return DashboardResponse::html(
                failure.status,
                keys_page::render(&chrome, &query, None, Some(&Notice::Error(failure.message))),
            )
        }
    };
    let needle = query.q.to_lowercase();
    let mut keys: Vec<KeyView> = keys
        .into_iter()
        .filter(|k| match query.status.as_str() {
            "" => matches!(k.status.as_str(), "active" | "rotation_grace"),
            "all" => true,
            s => k.status == s,
        })
        .filter(|k| query.kind.is_empty() || k.kind == query.kind)
        .filter(|k| {
            needle.is_empty()
                || [
                    Some(k.name.as_str()),
                    k.description.as_deref(),
                    Some(k.id.as_str()),
                    Some(k.hint.as_str()),
                    k.owner.as_deref(),
                ]
                .into_iter()
                .flatten()
                .any(|s| s.to_lowercase().contains(&needle))
        })
        .collect();
    match query.sort.as_str() {
        "last_used" => keys.sort_by_key(|k| std::cmp::Reverse(k.last_used_at)),
        "least_used" => keys.sort_by_key(|k| k.last_used_at),
        "name" => keys.sort_by_key(|k| k.name.to_lowercase()),
        _ => keys.sort_by_key(|k| std::cmp::Reverse(k.created_at)),
    }
    let matched = keys.len();
    let pages = matched.div_ceil(PAGE_SIZE).max(1);
    if query.page > pages {
        query.page = pages;
    }
    let start = (query.page - 1) * PAGE_SIZE;
    let shown = &keys[start.min(matched)..(start + PAGE_SIZE).min(matched)];
    let listing = Listing {
        keys: shown,
        matched,
        pages,
        truncated,
    };
    DashboardResponse::html(
        200,
        keys_page::render(&chrome, &query, Some(&listing), notice.as_ref()),
    )
}

async fn create_key(ctx: &Ctx<'_>, form: Form) -> DashboardResponse {
    let chrome = ctx.chrome(Nav::Keys);
    let refuse = |status: u16, text: String| {
        DashboardResponse::html(
            status,
            key_form::create(&chrome, &form, Some(&Notice::Error(text))),
        )
    };
    let body = match form::create_key(&form) {
        Ok(body) => body,
        Err(err) => return refuse(422, err),
    };
    match ctx
        .caller()
        .call::<CreatedKeyView>(Operation::CreateKey, None, None, Some(&body))
        .await
    {
        Ok(created) => {
            let id = created.view.id.clone();
            ctx.dashboard.inner.sessions.set_reveal(
                &ctx.session,
                Reveal {
                    id: id.clone(),
                    secret: created.key,
                    what: "created",
                },
            );
            DashboardResponse::redirect(ctx.url(&format!("/keys/{id}/created")))
        }
        Err(failure) => refuse(failure.status, failure.message),
    }
}

/// A key by id through the admin API; a revoked key (404 on the by-id route) is found
/// in the list with revoked keys, as `GET /v1/api-keys?includeRevoked=true` shows it.
async fn find_key(ctx: &Ctx<'_>, id: &str) -> Result<KeyView, Failure> {
    match ctx
        .caller()
        .call::<KeyView>(Operation::GetKey, Some(id), None, None)
        .await
    {
        Err(failure) if failure.status == 404 => {
            let (keys, _) = all_keys(ctx, "").await?;
            keys.into_iter().find(|k| k.id == id).ok_or(failure)
        }
        other => other,
    }
}

fn edit_form(view: &KeyView) -> Form {
    let mut form = Form::default();
    form.set("name", view.name.clone());
    form.set("description", view.description.clone().unwrap_or_default());
    form.set("role", view.role.clone().unwrap_or_default());
    form.set("scopes", view.scopes.join(" "));
    let rate = serde_json::to_value(&view.rate_limit).unwrap_or(Value::Null);
    form.set("rate_limit", form::rate_text(&rate));
    form.set(
        "expires_at",
        view.expires_at
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default(),
    );
    form.set("allowed_ips", view.allowed_ips.join("\n"));
    form.set("allowed_referrers", view.allowed_referrers.join("\n"));
    form
}

async fn key_detail(
    ctx: &Ctx<'_>,
    id: &str,
    edit: Option<Form>,
    notice: Option<(u16, Notice)>,
) -> DashboardResponse {
    let chrome = ctx.chrome(Nav::Keys);
    let view = match find_key(ctx, id).await {
        Ok(view) => view,
        Err(failure) => return error_page(ctx.dashboard, failure.status, &failure.message),
    };
    let form = edit.unwrap_or_else(|| edit_form(&view));
    let (status, notice) = match notice {
        Some((status, notice)) => (status, Some(notice)),
        None => (200, done_notice(ctx.req.query)),
    };
    let usage = key_usage(ctx, &view.id).await;
    DashboardResponse::html(
        status,
        key_detail::render(&chrome, &view, &usage, &form, notice.as_ref()),
    )
}

/// The key's verifications of the last 24 hours by hour, through the admin API (so the
/// signed-in key needs `read:analytics`); else why they are not shown.
async fn key_usage(ctx: &Ctx<'_>, id: &str) -> Result<VerificationAnalytics, String> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("keyId", id)
        .append_pair("granularity", "hour")
        .finish();
    match ctx
        .caller()
        .call::<VerificationAnalytics>(Operation::VerificationAnalytics, None, Some(&query), None)
        .await
    {
        Ok(data) => Ok(data),
        Err(failure) if failure.status == 403 => {
            Err("Usage is shown to keys with read:analytics; the last use is above.".to_owned())
        }
        Err(failure) => Err(format!("Usage could not be read: {}", failure.message)),
    }
}

/// The admin API's refusal, as the notice of the page that shows it again.
fn refused(failure: Failure) -> Option<(u16, Notice)> {
    Some((failure.status, Notice::Error(failure.message)))
}

async fn update_key(ctx: &Ctx<'_>, id: &str, form: Form) -> DashboardResponse {
    let current: Value = match ctx
        .caller()
        .call(Operation::GetKey, Some(id), None, None)
        .await
    {
        Ok(v) => v,
        Err(failure) => return error_page(ctx.dashboard, failure.status, &failure.message),
    };
    let body = match form::update_key(&form, &current) {
        Ok(body) => body,
        Err(err) => return key_detail(ctx, id, Some(form), Some((422, Notice::Error(err)))).await,
    };
    if body.as_object().is_some_and(serde_json::Map::is_empty) {
        return DashboardResponse::redirect(ctx.url(&format!("/keys/{id}?done=unchanged")));
    }
    match ctx
        .caller()
        .call::<KeyView>(Operation::UpdateKey, Some(id), None, Some(&body))
        .await
    {
        Ok(_) => DashboardResponse::redirect(ctx.url(&format!("/keys/{id}?done=saved"))),
        Err(failure) => key_detail(ctx, id, Some(form), refused(failure)).await,
    }
}

async fn reveal(ctx: &Ctx<'_>, id: &str) -> DashboardResponse {
    let view = match find_key(ctx, id).await {
        Ok(view) => view,
        Err(failure) => return error_page(ctx.dashboard, failure.status, &failure.message),
    };
    let shown = ctx.dashboard.inner.sessions.take_reveal(&ctx.session, id);
    let secret = shown.as_ref().map(|r| (r.secret.as_str(), r.what));
    DashboardResponse::html(200, key_form::reveal(&ctx.chrome(Nav::Keys), &view, secret))
}

async fn rotate_key(ctx: &Ctx<'_>, id: &str, form: &Form) -> DashboardResponse {
    let body = match form.opt("grace_period") {
        Some(grace) => json!({ "gracePeriod": form::duration(grace) }),
        None => json!({}),
    };
    match ctx
        .caller()
        .call::<CreatedKeyView>(Operation::RotateKey, Some(id), None, Some(&body))
        .await
    {
        Ok(created) => {
            let new_id = created.view.id.clone();
            ctx.dashboard.inner.sessions.set_reveal(
                &ctx.session,
                Reveal {
                    id: new_id.clone(),
                    secret: created.key,
                    what: "rotated",
                },
            );
            DashboardResponse::redirect(ctx.url(&format!("/keys/{new_id}/created")))
        }
        Err(failure) => key_detail(ctx, id, None, refused(failure)).await,
    }
}

async fn confirm_revoke(
    ctx: &Ctx<'_>,
    id: &str,
    notice: Option<(u16, Notice)>,
) -> DashboardResponse {
    match ctx
        .caller()
        .call::<KeyView>(Operation::GetKey, Some(id), None, None)
        .await
    {
        Ok(view) => {
            let (status, notice) = notice.map_or((200, None), |(s, n)| (s, Some(n)));
            DashboardResponse::html(
                status,
                key_detail::confirm_revoke(&ctx.chrome(Nav::Keys), &view, notice.as_ref()),
            )
        }
        Err(failure) => error_page(ctx.dashboard, failure.status, &failure.message),
    }
}

async fn set_disabled(ctx: &Ctx<'_>, id: &str, disable: bool) -> DashboardResponse {
    let (operation, done) = if disable {
        (Operation::DisableKey, "disabled")
    } else {
        (Operation::EnableKey, "enabled")
    };
    match ctx
        .caller()
        .call::<KeyView>(operation, Some(id), None, None)
        .await
    {
        Ok(view) => DashboardResponse::redirect(ctx.url(&format!("/keys/{}?done={done}", view.id))),
        Err(failure) => key_detail(ctx, id, None, refused(failure)).await,
    }
}

async fn revoke_key(ctx: &Ctx<'_>, id: &str) -> DashboardResponse {
    match ctx
        .caller()
        .call::<KeyView>(Operation::RevokeKey, Some(id), None, None)
        .await
    {
        Ok(_) => DashboardResponse::redirect(ctx.url("/keys?done=revoked")),
        Err(failure) => confirm_revoke(ctx, id, refused(failure)).await,
    }
}

async fn list_roles(
    ctx: &Ctx<'_>,
    form: &Form,
    notice: Option<(u16, Notice)>,
) -> DashboardResponse {
    let chrome = ctx.chrome(Nav::Roles);
    let (mut status, mut notice) = match notice {
        Some((s, n)) => (s, Some(n)),
        None => (200, done_notice(ctx.req.query)),
    };
    let roles = match ctx
        .caller()
        .call::<RoleList>(Operation::ListRoles, None, None, None)
        .await
    {
        Ok(list) => Some(list.data),
        Err(failure) => {
            if notice.is_none() {
                status = failure.status;
                notice = Some(Notice::Error(failure.message));
            }
            None
        }
    };
    DashboardResponse::html(
        status,
        roles_page::list(&chrome, roles.as_deref(), form, notice.as_ref()),
    )
}

async fn create_role(ctx: &Ctx<'_>, form: Form) -> DashboardResponse {
    let body = match form::role(&form, true) {
        Ok(body) => body,
        Err(err) => return list_roles(ctx, &form, Some((422, Notice::Error(err)))).await,
    };
    match ctx
        .caller()
        .call::<RoleView>(Operation::CreateRole, None, None, Some(&body))
        .await
    {
        Ok(_) => DashboardResponse::redirect(ctx.url("/roles?done=role_created")),
        Err(failure) => list_roles(ctx, &form, refused(failure)).await,
    }
}

async fn role_page(ctx: &Ctx<'_>, name: &str) -> DashboardResponse {
    match ctx
        .caller()
        .call::<RoleView>(Operation::GetRole, Some(name), None, None)
        .await
    {
        Ok(role) => {
            let mut form = Form::default();
            form.set("description", role.description.clone().unwrap_or_default());
            form.set("scopes", role.scopes.join(" "));
            DashboardResponse::html(
                200,
                roles_page::edit(&ctx.chrome(Nav::Roles), &role.name, &form, None),
            )
        }
        Err(failure) => error_page(ctx.dashboard, failure.status, &failure.message),
    }
}

async fn put_role(ctx: &Ctx<'_>, name: &str, form: Form) -> DashboardResponse {
    let refuse = |status: u16, text: String| {
        DashboardResponse::html(
            status,
            roles_page::edit(
                &ctx.chrome(Nav::Roles),
                name,
                &form,
                Some(&Notice::Error(text)),
            ),
        )
    };
    let body = match form::role(&form, false) {
        Ok(body) => body,
        Err(err) => return refuse(422, err),
    };
    match ctx
        .caller()
        .call::<RoleView>(Operation::PutRole, Some(name), None, Some(&body))
        .await
    {
        Ok(_) => DashboardResponse::redirect(ctx.url("/roles?done=role_saved")),
        Err(failure) => refuse(failure.status, failure.message),
    }
}

async fn delete_role(ctx: &Ctx<'_>, name: &str, form: &Form) -> DashboardResponse {
    let query = match form.opt("force") {
        None => None,
        Some("true") => Some("force=true"),
        Some(other) => {
            return error_page(
                ctx.dashboard,
                400,
                &format!("force must be true (got {other:?})"),
            )
        }
    };
    match ctx
        .caller()
        .call::<RoleView>(Operation::DeleteRole, Some(name), query, None)
        .await
    {
        Ok(_) => DashboardResponse::redirect(ctx.url("/roles?done=role_deleted")),
        Err(failure) => {
            let mut form = Form::default();
            if let Ok(role) = ctx
                .caller()
                .call::<RoleView>(Operation::GetRole, Some(name), None, None)
                .await
            {
                form.set("description", role.description.unwrap_or_default());
                form.set("scopes", role.scopes.join(" "));
            }
            DashboardResponse::html(
                failure.status,
                roles_page::edit(
                    &ctx.chrome(Nav::Roles),
                    name,
                    &form,
                    Some(&Notice::Error(failure.message)),
                ),
            )
        }
    }
}

async fn audit(ctx: &Ctx<'_>) -> DashboardResponse {
    let q = |name: &str| query_param(ctx.req.query, name).unwrap_or_default();
    let query = AuditQuery {
        key: q("key"),
        action: q("action"),
        outcome: q("outcome"),
        since: q("since"),
        until: q("until"),
        cursor: q("cursor"),
    };
    let chrome = ctx.chrome(Nav::Audit);
    let api = {
        let mut api = form_urlencoded::Serializer::new(String::new());
        api.append_pair("limit", "100");
        for (name, value) in [
            ("keyId", &query.key),
            ("action", &query.action),
            ("outcome", &query.outcome),
            ("cursor", &query.cursor),
        ] {
            if !value.is_empty() {
                api.append_pair(name, value);
            }
        }
        for (name, value) in [("since", &query.since), ("until", &query.until)] {
            if !value.is_empty() {
                if let Some(t) = form::time(value).as_str() {
                    api.append_pair(name, t);
                }
            }
        }
        api.finish()
    };
    match ctx
        .caller()
        .call::<AuditList>(Operation::AuditLogs, None, Some(&api), None)
        .await
    {
        Ok(list) => DashboardResponse::html(
            200,
            audit_page::render(
                &chrome,
                &query,
                Some((&list.data, list.next_cursor.as_deref())),
                None,
            ),
        ),
        Err(failure) => DashboardResponse::html(
            failure.status,
            audit_page::render(&chrome, &query, None, Some(&Notice::Error(failure.message))),
        ),
    }
}

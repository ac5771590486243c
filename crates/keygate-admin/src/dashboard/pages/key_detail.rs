//! One key: everything but the secret, edit, rotate, and revoke behind a confirmation.

use maud::{html, Markup};

use super::key_form::{access_fields, text_field};
use super::{page, status_badge, when, Chrome, Notice};
use crate::dashboard::form::Form;
use crate::dto::{KeyView, RateLimitView, VerificationAnalytics};

/// The fields of the edit form.
pub(crate) const EDIT_FIELDS: &[&str] = &[
    "csrf",
    "name",
    "description",
    "role",
    "scopes",
    "resource_scopes",
    "rate_limit",
    "expires_at",
    "allowed_ips",
    "allowed_referrers",
];

fn rate(view: &KeyView) -> String {
    match &view.rate_limit {
        Some(RateLimitView::PerHour(n)) => format!("{n} per hour"),
        Some(RateLimitView::Spec(s)) => s.clone(),
        None => "the environment's default".to_owned(),
    }
}

fn list(items: &[String], empty: &str) -> Markup {
    html! {
        @if items.is_empty() { span.muted { (empty) } }
        @else { @for (i, item) in items.iter().enumerate() { @if i > 0 { ", " } code { (item) } } }
    }
}

pub(crate) fn render(
    chrome: &Chrome<'_>,
    view: &KeyView,
    usage: &Result<VerificationAnalytics, String>,
    edit: &Form,
    notice: Option<&Notice>,
) -> Markup {
    let live = view.revoked_at.is_none();
    page(
        chrome,
        &format!("Key “{}”", view.name),
        notice,
        html! {
            div.card {
                dl.facts {
                    dt { "Status" } dd { (status_badge(&view.status)) }
                    dt { "Id" } dd { code { (view.id) } }
                    dt { "Key" } dd { code { (view.hint) } span.muted { " (the secret is never shown again)" } }
                    dt { "Description" } dd { (view.description.as_deref().unwrap_or("—")) }
                    dt { "Kind" } dd { (view.kind) }
                    dt { "Tenant / environment" } dd { (view.tenant) " / " (view.env) }
                    dt { "Owner" } dd { (view.owner.as_deref().unwrap_or("—")) }
                    dt { "Role" } dd { (view.role.as_deref().unwrap_or("—")) }
                    dt { "Scopes" } dd { (list(&view.scopes, "none of its own")) }
                    dt { "Rate limit" } dd { (rate(view)) }
                    dt { "Allowed IPs" } dd { (list(&view.allowed_ips, "any")) }
                    dt { "Allowed referrers" } dd { (list(&view.allowed_referrers, "any")) }
                    dt { "Created" } dd { (when(Some(view.created_at), "")) }
                    dt { "Expires" } dd { (when(view.expires_at, "never")) }
                    dt { "Last used" } dd { (when(view.last_used_at, "never")) }
                    @if let Some(revoked) = view.revoked_at {
                        dt { "Revoked" } dd { (when(Some(revoked), "")) }
                    }
                    @if let Some(disabled) = view.disabled_at {
                        dt { "Disabled" } dd { (when(Some(disabled), "")) }
                    }
                    @if let Some(next) = &view.replaced_by {
                        dt { "Replaced by" } dd {
                            a href=(chrome.url(&format!("/keys/{next}"))) { code { (next) } }
                            " (old key works until " (when(view.grace_until, "")) ")"
                        }
                    }
                    @if let Some(by) = &view.created_by {
                        dt { "Created by" } dd { code { (by) } }
                    }
                }
                section aria-labelledby="usage-h" {
                    h2 #usage-h { "Verifications, last 24 hours" }
                    @match usage {
                        Ok(data) => (super::usage_chart::render(data)),
                        Err(why) => p.muted { (why) },
                    }
                }
                p { a href=(chrome.url(&format!("/audit?key={}", view.id))) { "Audit events of this key" } }
            }
            @if live {
                section.card aria-labelledby="edit-h" {
                    h2 #edit-h { "Edit" }
                    form method="post" action=(chrome.url(&format!("/keys/{}", view.id))) {
                        (chrome.csrf_field())
                        (text_field(edit, "name", "Name", "", true))
                        (text_field(edit, "description", "Description", "Empty clears it.", false))
                        (access_fields(edit))
                        div.buttons { button.primary type="submit" { "Save changes" } }
                    }
                }
                section.card aria-labelledby="rotate-h" {
                    h2 #rotate-h { "Rotate" }
                    form method="post" action=(chrome.url(&format!("/keys/{}/rotate", view.id))) {
                        (chrome.csrf_field())
                        div.field {
                            label for="grace_period" { "Grace period for the old key" }
                            input #grace_period name="grace_period" type="text" placeholder="24h"
                                aria-describedby="grace-hint";
                            p.hint #grace-hint { "How long the old key keeps working: 30m, 24h, 7d, or 0 to end it now. Empty: 24h." }
                        }
                        div.buttons { button type="submit" { "Rotate key" } }
                    }
                }
                section.card aria-labelledby="switch-h" {
                    @if view.disabled_at.is_some() {
                        h2 #switch-h { "Enable" }
                        p { "The key is disabled: every request with it is refused until it is enabled again." }
                        form method="post" action=(chrome.url(&format!("/keys/{}/enable", view.id))) {
                            (chrome.csrf_field())
                            div.buttons { button type="submit" { "Enable “" (view.name) "”" } }
                        }
                    } @else {
                        h2 #switch-h { "Disable" }
                        p { "Disabling refuses every request with this key until you enable it again; unlike revoking, it can be undone." }
                        form method="post" action=(chrome.url(&format!("/keys/{}/disable", view.id))) {
                            (chrome.csrf_field())
                            div.buttons { button type="submit" { "Disable “" (view.name) "”" } }
                        }
                    }
                }
                section.card.danger aria-labelledby="revoke-h" {
                    h2 #revoke-h { "Revoke" }
                    p { "Revoking is immediate and permanent: every request with this key is refused." }
                    a.button.danger href=(chrome.url(&format!("/keys/{}/revoke", view.id))) { "Revoke…" }
                }
            }
        },
    )
}

/// The confirmation before a revoke, naming the key.
pub(crate) fn confirm_revoke(
    chrome: &Chrome<'_>,
    view: &KeyView,
    notice: Option<&Notice>,
) -> Markup {
    page(
        chrome,
        "Revoke key",
        notice,
        html! {
            div.card.danger {
                p.confirm {
                    "Revoke the key " strong { "“" (view.name) "”" } " (" code { (view.hint) } ", "
                    code { (view.id) } ")?"
                }
                p { "Every request with this key will be refused from now on. This cannot be undone." }
                form method="post" action=(chrome.url(&format!("/keys/{}/revoke", view.id))) {
                    (chrome.csrf_field())
                    div.buttons {
                        button.danger type="submit" { "Revoke “" (view.name) "”" }
                        a.button href=(chrome.url(&format!("/keys/{}", view.id))) { "Cancel" }
                    }
                }
            }
        },
    )
}

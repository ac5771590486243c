//! Creating a key, and the one time a new key is shown.

use maud::{html, Markup};

use super::{page, Chrome, Notice};
use crate::dashboard::form::Form;
use crate::dto::KeyView;

/// The fields of the create form.
pub(crate) const CREATE_FIELDS: &[&str] = &[
    "csrf",
    "name",
    "description",
    "kind",
    "owner",
    "env",
    "role",
    "scopes",
    "resource_scopes",
    "rate_limit",
    "expires_at",
    "allowed_ips",
    "allowed_referrers",
];

pub(crate) fn text_field(
    form: &Form,
    name: &str,
    label: &str,
    hint: &str,
    required: bool,
) -> Markup {
    let hint_id = format!("{name}-hint");
    html! {
        div.field {
            label for=(name) { (label) @if required { " " span.req aria-hidden="true" { "*" } } }
            input id=(name) name=(name) type="text" value=(form.shown(name)) required[required]
                aria-describedby=[(!hint.is_empty()).then_some(&hint_id)];
            @if !hint.is_empty() { p.hint id=(hint_id) { (hint) } }
        }
    }
}

pub(crate) fn area_field(form: &Form, name: &str, label: &str, hint: &str) -> Markup {
    let hint_id = format!("{name}-hint");
    html! {
        div.field {
            label for=(name) { (label) }
            textarea id=(name) name=(name) rows="3" aria-describedby=(hint_id) { (form.shown(name)) }
            p.hint id=(hint_id) { (hint) }
        }
    }
}

/// The scope, limit, expiry and restriction fields shared by create and edit.
pub(crate) fn access_fields(form: &Form) -> Markup {
    html! {
        (text_field(form, "role", "Role", "A role's scopes are added to the key's own.", false))
        (area_field(form, "scopes", "Scopes", "Separated by spaces, commas or lines, e.g. read:scans write:scans. Only scopes your key holds."))
        (area_field(form, "resource_scopes", "Per-resource scopes", "One resource a line: opportunities: read, write"))
        (text_field(form, "rate_limit", "Rate limit", "Requests per hour (1000) or a spec: 1000/h,burst=50 · 10/s · 5000/day,quota=20000. Empty: the default.", false))
        div.field {
            label for="expires_at" { "Expires at (UTC)" }
            input #expires_at name="expires_at" type="datetime-local" value=(form.shown("expires_at"))
                aria-describedby="expires_at-hint";
            p.hint #expires_at-hint { "Empty: never." }
        }
        (area_field(form, "allowed_ips", "Allowed IPs", "IP addresses or CIDR networks, e.g. 10.0.0.0/8. Empty: any."))
        (area_field(form, "allowed_referrers", "Allowed referrers", "example.com, *.example.com, https://app.example.com or https://app.example.com/embed/*. Empty: any."))
    }
}

pub(crate) fn create(chrome: &Chrome<'_>, form: &Form, notice: Option<&Notice>) -> Markup {
    let kind = form.get("kind");
    page(
        chrome,
        "Create API key",
        notice,
        html! {
            form.card method="post" action=(chrome.url("/keys")) {
                (chrome.csrf_field())
                (text_field(form, "name", "Name", "", true))
                (text_field(form, "description", "Description", "What the key is for.", false))
                div.field {
                    label for="kind" { "Kind" }
                    select #kind name="kind" {
                        @for (value, label) in [("", "Service (default)"), ("team", "Team"), ("personal", "Personal")] {
                            option value=(value) selected[kind == value] { (label) }
                        }
                    }
                }
                (text_field(form, "owner", "Owner", "A personal key's owner defaults to yours.", false))
                (text_field(form, "env", "Environment", "Empty: your key's.", false))
                (access_fields(form))
                div.buttons {
                    button.primary type="submit" { "Create key" }
                    a.button href=(chrome.url("/keys")) { "Cancel" }
                }
            }
        },
    )
}

/// The page after a create or a rotation: the key once, or a note that it was shown.
pub(crate) fn reveal(chrome: &Chrome<'_>, view: &KeyView, secret: Option<(&str, &str)>) -> Markup {
    page(
        chrome,
        &format!("Key “{}”", view.name),
        None,
        html! {
            @if let Some((secret, what)) = secret {
                div.card.reveal {
                    h2 { "Your new key (" (what) ")" }
                    p {
                        strong { "Copy it now: it is shown only this once." }
                        " keygate stores only its hash; if it is lost, rotate the key."
                    }
                    div.copy-row {
                        label.visually-hidden for="new-key" { "The new API key" }
                        input #new-key type="text" readonly value=(secret) spellcheck="false";
                        button type="button" data-copy="new-key" { "Copy" }
                    }
                    p.hint #copy-status role="status" aria-live="polite" {}
                }
            } @else {
                div.notice role="status" {
                    "This key was already shown once and cannot be shown again. "
                    "If it was not saved, rotate the key."
                }
            }
            p {
                a.button href=(chrome.url(&format!("/keys/{}", view.id))) { "Key details" }
                " "
                a.button href=(chrome.url("/keys")) { "All keys" }
            }
        },
    )
}

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
            @if view.status == "rotation_grace" {
                (cut_over(chrome, view, usage))
            }
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
                    dt { "Named limits" } dd {
                        @if view.limits.is_empty() { span.muted { "none" } }
                        @else {
                            @for (i, (name, spec)) in view.limits.iter().enumerate() {
                                @if i > 0 { ", " } code { (name) " " (spec) }
                            }
                        }
                    }
                    dt { "Credits" } dd {
                        @match &view.credits {
                            None => span.muted { "unmetered" },
                            Some(credits) => {
                                (credits.remaining) " left"
                                @if let Some(refill) = &credits.refill { ", refill " code { (refill) } }
                                @if let Some(at) = credits.refills_at { " (next " (when(Some(at), "")) ")" }
                                @if credits.account != view.id { ", shared with " code { (credits.account) } }
                            }
                        }
                    }
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

/// For a key replaced by rotation and still in its grace period: whether it is still
/// used, so the operator knows when cutting over is safe.
fn cut_over(
    chrome: &Chrome<'_>,
    view: &KeyView,
    usage: &Result<VerificationAnalytics, String>,
) -> Markup {
    let uses = usage.as_ref().ok().map(|u| {
        u.data
            .iter()
            .filter(|c| c.outcome == "valid")
            .map(|c| c.count)
            .sum::<u64>()
    });
    html! {
        div.notice.warning role="status" {
            p {
                "This key was replaced"
                @if let Some(next) = &view.replaced_by {
                    " by " a href=(chrome.url(&format!("/keys/{next}"))) { code { (next) } }
                }
                "; it keeps working until " (when(view.grace_until, "")) ". "
                @match uses {
                    Some(0) => "It was not used in the last 24 hours: callers have moved to the new key.",
                    Some(n) => { "It was used " strong { (n) } " times in the last 24 hours (last " (when(view.last_used_at, "never")) "): some callers still send it." }
                    None => { "Last used " (when(view.last_used_at, "never")) "." }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use keygate::hash::KeyHasher;
    use keygate::record::Rotation;
    use keygate::{KeyId, KeyRecord, Principal, ScopeSet};

    use super::*;
    use crate::dashboard::pages::Nav;
    use crate::dto::VerificationCountView;

    fn page_of(record: &KeyRecord, uses: Option<u64>) -> String {
        let now = Utc::now();
        let who = Principal::from_record(record, ScopeSet::new());
        let chrome = Chrome {
            base: "/dashboard",
            who: &who,
            csrf: "token",
            nav: Nav::Keys,
        };
        let view = KeyView::new(record, now);
        let usage = uses.map_or_else(
            || Err("no read:analytics".to_owned()),
            |n| {
                Ok(VerificationAnalytics {
                    granularity: "hour".into(),
                    from: now - Duration::hours(24),
                    to: now,
                    data: vec![VerificationCountView {
                        key_id: Some(record.id.to_string()),
                        tenant: Some("acme".into()),
                        env: Some("live".into()),
                        at: keygate::analytics::Granularity::Hour.start_of(now),
                        outcome: "valid".into(),
                        count: n,
                    }],
                })
            },
        );
        render(&chrome, &view, &usage, &Form::default(), None).into_string()
    }

    #[test]
    fn a_key_in_its_grace_period_says_whether_callers_still_send_it() {
        let mut record = KeyRecord::new(
            KeyHasher::Sha256.hash("k"),
            "h",
            "sk",
            "live",
            "old",
            "acme",
        );
        let active = page_of(&record, Some(3));
        assert!(!active.contains("This key was replaced"));
        record.rotation = Some(Rotation {
            replaced_by: KeyId::generate(),
            grace_until: Utc::now() + Duration::hours(2),
        });
        let still_used = page_of(&record, Some(3));
        assert!(
            still_used.contains("This key was replaced")
                && still_used.contains("<strong>3</strong> times in the last 24 hours"),
            "{still_used}"
        );
        let quiet = page_of(&record, Some(0));
        assert!(
            quiet.contains("callers have moved to the new key"),
            "{quiet}"
        );
        let unknown = page_of(&record, None);
        assert!(
            unknown.contains("UTC</time>. Last used <span class=\"muted\">never</span>."),
            "without analytics, the last use: {unknown}"
        );
    }
}

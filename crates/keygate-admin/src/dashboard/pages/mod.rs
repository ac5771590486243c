//! The pages, as `maud` templates (checked at compile time, no build step): one file
//! per page, this one the frame they share.

pub(crate) mod audit;
pub(crate) mod key_detail;
pub(crate) mod key_form;
pub(crate) mod keys;
pub(crate) mod roles;
pub(crate) mod sign_in;
pub(crate) mod usage_chart;

use chrono::{DateTime, Utc};
use keygate::Principal;
use maud::{html, Markup, DOCTYPE};

/// Which part of the navigation is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Keys,
    Roles,
    Audit,
}

/// What every signed-in page shows around its content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chrome<'a> {
    /// The mount path, e.g. `/dashboard`.
    pub(crate) base: &'a str,
    /// The signed-in key.
    pub(crate) who: &'a Principal,
    /// The session's CSRF token, for the forms.
    pub(crate) csrf: &'a str,
    pub(crate) nav: Nav,
}

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    Error(String),
    Success(String),
}

impl Chrome<'_> {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The hidden CSRF field of a form.
    pub(crate) fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

fn head(base: &str, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · keygate" }
            link rel="stylesheet" href={ (base) "/assets/style.css" };
            script src={ (base) "/assets/copy.js" } defer {}
        }
    }
}

/// A page without navigation (sign-in, refusals before a session).
pub(crate) fn bare(base: &str, title: &str, notice: Option<&Notice>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(base, title))
            body.bare {
                main id="main" {
                    (notice_markup(notice))
                    (body)
                }
            }
        }
    }
}

/// A signed-in page.
pub(crate) fn page(
    chrome: &Chrome<'_>,
    title: &str,
    notice: Option<&Notice>,
    body: Markup,
) -> Markup {
    let link = |nav: Nav, path: &str, label: &str| {
        html! {
            li {
                @if chrome.nav == nav {
                    a href=(chrome.url(path)) aria-current="page" { (label) }
                } @else {
                    a href=(chrome.url(path)) { (label) }
                }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(chrome.base, title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(chrome.url("/keys")) { "keygate" }
                    nav aria-label="Main" {
                        ul {
                            (link(Nav::Keys, "/keys", "API keys"))
                            (link(Nav::Roles, "/roles", "Roles"))
                            (link(Nav::Audit, "/audit", "Audit log"))
                        }
                    }
                    div.who {
                        span title=(chrome.who.key_id().to_string()) {
                            "Signed in as " strong { (chrome.who.name()) }
                            " · " (chrome.who.tenant()) " / " (chrome.who.env())
                        }
                        form method="post" action=(chrome.url("/sign-out")) {
                            (chrome.csrf_field())
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (notice_markup(notice))
                    (body)
                }
            }
        }
    }
}

fn notice_markup(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Error(text)) => {
                div.notice.error role="alert" { strong { "Error: " } (text) }
            }
            Some(Notice::Success(text)) => {
                div.notice.success role="status" { (text) }
            }
            None => {}
        }
    }
}

/// A time as `2026-01-22 10:00 UTC`, or `fallback` when absent.
pub(crate) fn when(t: Option<DateTime<Utc>>, fallback: &str) -> Markup {
    html! {
        @match t {
            Some(t) => time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) },
            None => span.muted { (fallback) },
        }
    }
}

/// A key's status as a badge.
pub(crate) fn status_badge(status: &str) -> Markup {
    let label = match status {
        "active" => "Active",
        "rotation_grace" => "Rotating (grace)",
        "rotated" => "Rotated",
        "expired" => "Expired",
        "revoked" => "Revoked",
        "owner_deactivated" => "Owner deactivated",
        "disabled" => "Disabled",
        other => other,
    };
    html! { span class={ "badge " (status) } { (label) } }
}

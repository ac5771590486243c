//! The keys list: search, filters, sort and pages over the signed-in key's tenant.

use maud::{html, Markup};

use super::{page, status_badge, when, Chrome, Notice};
use crate::dto::KeyView;

/// The list's query, as read from the URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyQuery {
    pub(crate) q: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) owner: String,
    pub(crate) sort: String,
    pub(crate) page: usize,
}

pub(crate) const STATUSES: &[(&str, &str)] = &[
    ("", "Usable"),
    ("all", "All (revoked too)"),
    ("active", "Active"),
    ("rotation_grace", "Rotating (grace)"),
    ("rotated", "Rotated"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
    ("owner_deactivated", "Owner deactivated"),
    ("disabled", "Disabled"),
];

pub(crate) const SORTS: &[(&str, &str)] = &[
    ("", "Newest first"),
    ("last_used", "Recently used first"),
    ("least_used", "Least recently used first"),
    ("name", "Name"),
];

pub(crate) const KINDS: &[(&str, &str)] = &[
    ("", "Any kind"),
    ("service", "Service"),
    ("team", "Team"),
    ("personal", "Personal"),
];

/// One page of the filtered list.
#[derive(Debug)]
pub(crate) struct Listing<'a> {
    pub(crate) keys: &'a [KeyView],
    pub(crate) matched: usize,
    pub(crate) pages: usize,
    /// More keys exist than the dashboard reads at once.
    pub(crate) truncated: bool,
}

fn select(name: &str, label: &str, options: &[(&str, &str)], current: &str) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[*value == current] { (text) }
                }
            }
        }
    }
}

pub(crate) fn render(
    chrome: &Chrome<'_>,
    query: &KeyQuery,
    listing: Option<&Listing<'_>>,
    notice: Option<&Notice>,
) -> Markup {
    let link_to = |page: usize| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &query.q),
            ("kind", &query.kind),
            ("status", &query.status),
            ("owner", &query.owner),
            ("sort", &query.sort),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("page", &page.to_string());
        chrome.url(&format!("/keys?{}", s.finish()))
    };
    page(
        chrome,
        "API keys",
        notice,
        html! {
            div.actions {
                a.button.primary href=(chrome.url("/keys/new")) { "Create key" }
            }
            form.filters method="get" action=(chrome.url("/keys")) role="search" aria-label="Filter keys" {
                div.field.grow {
                    label for="q" { "Search" }
                    input #q type="search" name="q" value=(query.q) placeholder="name, id, hint, owner";
                }
                (select("kind", "Kind", KINDS, &query.kind))
                (select("status", "Status", STATUSES, &query.status))
                div.field {
                    label for="owner" { "Owner" }
                    input #owner type="text" name="owner" value=(query.owner);
                }
                (select("sort", "Sort", SORTS, &query.sort))
                div.field.submit { button type="submit" { "Apply" } }
            }
            @if let Some(listing) = listing {
                p.muted {
                    (listing.matched) " key" @if listing.matched != 1 { "s" }
                    " in tenant " strong { (chrome.who.tenant()) } ", environment "
                    strong { (chrome.who.env()) }
                    @if listing.truncated { " (only the first 10,000 keys are searched)" }
                }
                @if listing.keys.is_empty() {
                    p.empty { "No keys match." }
                } @else {
                    div.table-wrap {
                        table {
                            thead {
                                tr {
                                    th scope="col" { "Name" }
                                    th.wide scope="col" { "Key" }
                                    th scope="col" { "Status" }
                                    th.wide scope="col" { "Kind" }
                                    th.wide scope="col" { "Owner" }
                                    th.wide scope="col" { "Role / scopes" }
                                    th scope="col" { "Last used" }
                                    th.wide scope="col" { "Created" }
                                }
                            }
                            tbody {
                                @for key in listing.keys {
                                    tr {
                                        td {
                                            a href=(chrome.url(&format!("/keys/{}", key.id))) { (key.name) }
                                        }
                                        td.wide { code.nowrap { (key.hint) } }
                                        td { (status_badge(&key.status)) }
                                        td.wide { (key.kind) }
                                        td.wide { (key.owner.as_deref().unwrap_or("—")) }
                                        td.wide {
                                            @if let Some(role) = &key.role { span.badge.role { (role) } " " }
                                            (key.scopes.join(", "))
                                        }
                                        td { (when(key.last_used_at, "never")) }
                                        td.wide { (when(Some(key.created_at), "")) }
                                    }
                                }
                            }
                        }
                    }
                    @if listing.pages > 1 {
                        nav.pager aria-label="Pages" {
                            @if query.page > 1 {
                                a href=(link_to(query.page - 1)) rel="prev" { "← Previous" }
                            }
                            span { "Page " (query.page) " of " (listing.pages) }
                            @if query.page < listing.pages {
                                a href=(link_to(query.page + 1)) rel="next" { "Next →" }
                            }
                        }
                    }
                }
            }
        },
    )
}

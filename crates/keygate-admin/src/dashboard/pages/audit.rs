//! The audit log: filter by key, action, outcome and time.

use maud::{html, Markup};

use super::{page, when, Chrome, Notice};
use crate::dto::AuditEventView;

/// The log's query, as read from the URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditQuery {
    pub(crate) key: String,
    pub(crate) action: String,
    pub(crate) outcome: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) cursor: String,
}

pub(crate) fn render(
    chrome: &Chrome<'_>,
    query: &AuditQuery,
    events: Option<(&[AuditEventView], Option<&str>)>,
    notice: Option<&Notice>,
) -> Markup {
    let next_link = |cursor: &str| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("key", &query.key),
            ("action", &query.action),
            ("outcome", &query.outcome),
            ("since", &query.since),
            ("until", &query.until),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("cursor", cursor);
        chrome.url(&format!("/audit?{}", s.finish()))
    };
    page(
        chrome,
        "Audit log",
        notice,
        html! {
            form.filters method="get" action=(chrome.url("/audit")) role="search" aria-label="Filter the audit log" {
                div.field.grow {
                    label for="key" { "Key id" }
                    input #key type="text" name="key" value=(query.key) placeholder="key_…";
                }
                div.field {
                    label for="action" { "Action" }
                    input #action type="text" name="action" value=(query.action) placeholder="key.create" list="actions";
                    datalist #actions {
                        @for a in ["key.create", "key.update", "key.rotate", "key.revoke", "key.verify", "role.create", "role.update", "role.delete"] {
                            option value=(a) {}
                        }
                    }
                }
                div.field {
                    label for="outcome" { "Outcome" }
                    select #outcome name="outcome" {
                        @for (v, l) in [("", "Any"), ("success", "Success"), ("failure", "Failure")] {
                            option value=(v) selected[query.outcome == v] { (l) }
                        }
                    }
                }
                div.field {
                    label for="since" { "Since (UTC)" }
                    input #since type="datetime-local" name="since" value=(query.since);
                }
                div.field {
                    label for="until" { "Until (UTC)" }
                    input #until type="datetime-local" name="until" value=(query.until);
                }
                div.field.submit { button type="submit" { "Apply" } }
            }
            @if let Some((events, next)) = events {
                @if events.is_empty() {
                    p.empty { "No events match on this page." }
                } @else {
                    div.table-wrap {
                        table {
                            thead { tr {
                                th scope="col" { "When" }
                                th scope="col" { "Action" }
                                th scope="col" { "Outcome" }
                                th scope="col" { "Target" }
                                th.wide scope="col" { "Actor" }
                                th.wide scope="col" { "Client IP" }
                                th.wide scope="col" { "Reason" }
                            } }
                            tbody {
                                @for e in events {
                                    tr {
                                        td { (when(Some(e.at), "")) }
                                        td { code { (e.action) } }
                                        td { span class={ "badge " (e.outcome) } { (e.outcome) } }
                                        td {
                                            @if let Some(t) = &e.target {
                                                @if t.starts_with("key_") {
                                                    a href=(chrome.url(&format!("/keys/{t}"))) { code { (t) } }
                                                } @else { code { (t) } }
                                            } @else if let Some(r) = &e.role { "role " code { (r) } }
                                            @else { "—" }
                                        }
                                        td.wide { @if let Some(a) = &e.actor { code { (a) } } @else { span.muted { "—" } } }
                                        td.wide { (e.client_ip.as_deref().unwrap_or("—")) }
                                        td.wide { (e.reason.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(cursor) = next {
                    nav.pager aria-label="Pages" { a href=(next_link(cursor)) rel="next" { "Older events →" } }
                }
            }
        },
    )
}

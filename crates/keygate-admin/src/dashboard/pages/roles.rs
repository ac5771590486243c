//! Roles: the list, create, and edit within the signed-in key's scopes.

use maud::{html, Markup};

use super::key_form::{area_field, text_field};
use super::{page, Chrome, Notice};
use crate::dashboard::form::Form;
use crate::dto::RoleView;

/// The fields of the role forms.
pub(crate) const ROLE_FIELDS: &[&str] =
    &["csrf", "name", "description", "scopes", "resource_scopes"];

fn scope_fields(form: &Form) -> Markup {
    html! {
        (area_field(form, "scopes", "Scopes", "Separated by spaces, commas or lines. Only scopes your key holds."))
        (area_field(form, "resource_scopes", "Per-resource scopes", "One resource a line: opportunities: read, write"))
    }
}

pub(crate) fn list(
    chrome: &Chrome<'_>,
    roles: Option<&[RoleView]>,
    form: &Form,
    notice: Option<&Notice>,
) -> Markup {
    page(
        chrome,
        "Roles",
        notice,
        html! {
            @if let Some(roles) = roles {
                @if roles.is_empty() {
                    p.empty { "No roles yet." }
                } @else {
                    div.table-wrap {
                        table {
                            thead { tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Scopes" }
                                th.wide scope="col" { "Description" }
                                th scope="col" { "Defined for" }
                            } }
                            tbody {
                                @for role in roles {
                                    tr {
                                        td {
                                            @if role.tenant.is_some() {
                                                a href=(chrome.url(&format!("/roles/{}", role.name))) { (role.name) }
                                            } @else { (role.name) }
                                        }
                                        td { (role.scopes.join(", ")) }
                                        td.wide { (role.description.as_deref().unwrap_or("—")) }
                                        td {
                                            @match (&role.tenant, &role.env) {
                                                (Some(t), Some(e)) => { (t) " / " (e) }
                                                (Some(t), None) => { (t) }
                                                _ => span.muted { "all tenants (global)" },
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="new-role-h" {
                h2 #new-role-h { "Create role" }
                p.muted { "Roles are created in your key's tenant and environment." }
                form method="post" action=(chrome.url("/roles")) {
                    (chrome.csrf_field())
                    (text_field(form, "name", "Name", "Lower-case letters, digits, - and _; starts with a letter.", true))
                    (text_field(form, "description", "Description", "", false))
                    (scope_fields(form))
                    div.buttons { button.primary type="submit" { "Create role" } }
                }
            }
        },
    )
}

pub(crate) fn edit(
    chrome: &Chrome<'_>,
    name: &str,
    form: &Form,
    notice: Option<&Notice>,
) -> Markup {
    page(
        chrome,
        &format!("Role “{name}”"),
        notice,
        html! {
            section.card aria-labelledby="edit-role-h" {
                h2 #edit-role-h { "Edit" }
                form method="post" action=(chrome.url(&format!("/roles/{name}"))) {
                    (chrome.csrf_field())
                    (text_field(form, "description", "Description", "", false))
                    (scope_fields(form))
                    div.buttons {
                        button.primary type="submit" { "Save role" }
                        a.button href=(chrome.url("/roles")) { "Cancel" }
                    }
                }
            }
            section.card.danger aria-labelledby="delete-role-h" {
                h2 #delete-role-h { "Delete" }
                form method="post" action=(chrome.url(&format!("/roles/{name}/delete"))) {
                    (chrome.csrf_field())
                    div.check {
                        input #force type="checkbox" name="force" value="true";
                        label for="force" { "Delete even while keys hold it (they lose its scopes)" }
                    }
                    div.buttons { button.danger type="submit" { "Delete role “" (name) "”" } }
                }
            }
        },
    )
}

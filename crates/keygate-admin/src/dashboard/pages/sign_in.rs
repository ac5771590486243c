//! The sign-in page: an admin API key in, a session out.

use maud::{html, Markup};

use super::{bare, Notice};

pub(crate) fn page(base: &str, notice: Option<&Notice>) -> Markup {
    bare(
        base,
        "Sign in",
        notice,
        html! {
            div.card.narrow {
                h1 { "Sign in to keygate" }
                p {
                    "Use an API key that may manage keys (e.g. one with "
                    code { "read:api-keys" } "). The dashboard can do exactly what the key "
                    "could do over the admin REST API, for the key's tenant and environment."
                }
                form method="post" action={ (base) "/sign-in" } autocomplete="off" {
                    label for="key" { "API key" }
                    input #key type="password" name="key" required autocomplete="off"
                        spellcheck="false" autofocus;
                    p.hint { "The key is checked once and never stored: the session keeps only its id." }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

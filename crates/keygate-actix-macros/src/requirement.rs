//! The attribute's argument: a scope literal, or `any(...)` / `all(...)` of them,
//! checked with `keygate::Requirement::parse` and lowered to its text form.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{parenthesized, Ident, LitStr, Token};

use crate::errors::Errors;

/// One node of the requirement as written.
enum Node {
    /// `"write:items"` (or a whole text form, `"any(a:b, c:d)"`).
    Scope(LitStr),
    /// `any(...)` or `all(...)` (or a misspelling, reported later with its span).
    Group {
        name: Ident,
        items: Vec<Node>,
        parens: Span,
    },
}

impl Parse for Node {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return input.parse().map(Node::Scope);
        }
        if input.peek(Ident) {
            let name: Ident = input.parse()?;
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "scopes are string literals: write `\"{name}:…\"`, or use `any(...)` / `all(...)`"
                    ),
                ));
            }
            let content;
            let parens = parenthesized!(content in input);
            let items = Punctuated::<Node, Token![,]>::parse_terminated(&content)?;
            return Ok(Node::Group {
                name,
                items: items.into_iter().collect(),
                parens: parens.span.join(),
            });
        }
        Err(input
            .error("expected a scope like \"write:items\", or `any(...)` / `all(...)` of scopes"))
    }
}

/// Parses the attribute's tokens into the requirement's canonical text form, checked
/// by the same parser `RequireScope::new` uses at run time. Every mistake is reported,
/// each at the span of the literal or name that caused it.
pub(crate) fn parse(args: TokenStream) -> syn::Result<String> {
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing requirement: write `#[require_scope(\"write:items\")]`, \
             `#[require_scope(any(\"read:items\", \"admin\"))]` or `all(...)`",
        ));
    }
    let nodes = Punctuated::<Node, Token![,]>::parse_terminated.parse2(args)?;
    let mut nodes = nodes.into_iter();
    let Some(first) = nodes.next() else {
        return Err(syn::Error::new(Span::call_site(), "missing requirement"));
    };
    let mut errors = Errors::default();
    let text = lower(&first, &mut errors);
    for extra in nodes {
        errors.push(syn::Error::new(
            extra.span(),
            "one requirement per attribute: combine several with `all(...)` or `any(...)`",
        ));
    }
    errors.finish()?;
    let text = text.unwrap_or_default();
    // Each part parsed alone; the whole may still be refused (e.g. nested too deeply).
    match keygate::Requirement::parse(&text) {
        Ok(requirement) => Ok(requirement.to_string()),
        Err(e) => Err(syn::Error::new(first.span(), e.to_string())),
    }
}

impl Node {
    fn span(&self) -> Span {
        match self {
            Node::Scope(lit) => lit.span(),
            Node::Group { name, .. } => name.span(),
        }
    }
}

/// The text form of `node`, or `None` after recording why not.
fn lower(node: &Node, errors: &mut Errors) -> Option<String> {
    match node {
        Node::Scope(lit) => match keygate::Requirement::parse(&lit.value()) {
            Ok(requirement) => Some(requirement.to_string()),
            Err(e) => {
                errors.push(syn::Error::new(lit.span(), e.to_string()));
                None
            }
        },
        Node::Group {
            name,
            items,
            parens,
        } => {
            let combinator = match name.to_string().as_str() {
                "any" => Some("any"),
                "all" => Some("all"),
                other => {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("unknown `{other}(...)`: expected `any(...)` or `all(...)`"),
                    ));
                    None
                }
            };
            if items.is_empty() {
                errors.push(syn::Error::new(
                    *parens,
                    format!("`{name}()` needs at least one scope"),
                ));
            }
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|item| lower(item, errors))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            Some(format!("{}({})", combinator?, parts?.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn text(args: TokenStream) -> Result<String, String> {
        parse(args).map_err(|e| e.to_string())
    }

    #[test]
    fn lowers_to_the_canonical_text_form() {
        assert_eq!(text(quote!("write:scans")), Ok("write:scans".to_owned()));
        assert_eq!(
            text(quote!(any("read:scans", "admin"))),
            Ok("any(read:scans, admin)".to_owned())
        );
        assert_eq!(
            text(quote!(all("a:b", any("c:d", "e:f"),))),
            Ok("all(a:b, any(c:d, e:f))".to_owned())
        );
        assert_eq!(
            text(quote!("any(read:scans,admin)")),
            Ok("any(read:scans, admin)".to_owned())
        );
    }

    #[test]
    fn reports_mistakes() {
        let err = |args| text(args).expect_err("refused");
        assert!(err(quote!()).starts_with("missing requirement"));
        assert!(err(quote!("write items")).contains("write items"));
        assert!(err(quote!(some("a:b"))).contains("unknown `some(...)`"));
        assert!(err(quote!(any())).contains("`any()` needs at least one scope"));
        assert!(err(quote!(write)).contains("scopes are string literals"));
        assert!(err(quote!("a:b", "c:d")).contains("one requirement per attribute"));
        assert!(err(quote!(42)).contains("expected a scope"));
    }

    #[test]
    fn collects_every_error() {
        let Err(e) = parse(quote!(all("bad scope", nope("a:b"), any()))) else {
            panic!("should fail");
        };
        assert_eq!(e.into_iter().count(), 3);
    }
}

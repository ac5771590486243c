//! Target `require_scope_args`: the argument parser of `#[require_scope(...)]`
//! (`crates/keygate-actix-macros/src/requirement.rs`, compiled into this crate with
//! `#[path]`: a proc-macro crate exports only its macros, and this way the fuzzer runs
//! the very source the macro is built from, unchanged).
//!
//! Input: Rust tokens, as written between the attribute's parentheses.

use std::str::FromStr;

use keygate::Requirement;
use proc_macro2::TokenStream;

/// Lexes the input and parses it as the attribute's argument, and checks: an accepted
/// argument lowers to the canonical text form of a requirement that
/// `Requirement::parse` accepts; that requirement written back as attribute tokens
/// (`all("a:b", any(...))`) or as one literal parses to the same text; a single
/// literal is accepted exactly when `Requirement::parse` accepts its value; a refusal
/// carries at least one non-empty message.
pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else {
        return;
    };
    let Ok(tokens) = TokenStream::from_str(text) else {
        return;
    };
    let single_literal = syn::parse2::<syn::LitStr>(tokens.clone()).ok();
    match crate::requirement::parse(tokens) {
        Ok(lowered) => {
            let requirement = Requirement::parse(&lowered)
                .unwrap_or_else(|e| panic!("{text:?} lowered to {lowered:?}: {e}"));
            assert_eq!(requirement.to_string(), lowered, "{text:?}");
            assert_eq!(
                reparse(&as_tokens(&requirement)).as_deref(),
                Ok(lowered.as_str())
            );
            assert_eq!(
                reparse(&format!("{lowered:?}")).as_deref(),
                Ok(lowered.as_str())
            );
            if let Some(lit) = single_literal {
                let direct = Requirement::parse(&lit.value()).map(|r| r.to_string());
                assert_eq!(direct.as_deref(), Ok(lowered.as_str()), "{text:?}");
            }
        }
        Err(errors) => {
            assert!(errors.clone().into_iter().count() >= 1);
            for e in errors {
                assert!(!e.to_string().is_empty(), "{text:?}");
            }
            if let Some(lit) = single_literal {
                assert!(
                    Requirement::parse(&lit.value()).is_err(),
                    "{text:?} refused"
                );
            }
        }
    }
}

/// The attribute argument for `requirement`: literals for scopes, `any`/`all` groups.
fn as_tokens(requirement: &Requirement) -> String {
    let (name, items) = match requirement {
        Requirement::Scope(scope) => return format!("{:?}", scope.to_string()),
        Requirement::Any(items) => ("any", items),
        Requirement::All(items) => ("all", items),
    };
    let items: Vec<String> = items.iter().map(as_tokens).collect();
    format!("{name}({})", items.join(", "))
}

fn reparse(text: &str) -> Result<String, String> {
    let tokens = TokenStream::from_str(text).map_err(|e| e.to_string())?;
    crate::requirement::parse(tokens).map_err(|e| e.to_string())
}

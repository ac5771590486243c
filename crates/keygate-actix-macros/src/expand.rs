//! Code generation for actix-web: a hidden first argument that checks the scope.
//!
//! ```text
//! #[require_scope("write:items")]
//! async fn create(body: web::Json<Item>) -> HttpResponse { … }
//! ```
//! becomes
//! ```text
//! struct __keygate_require_scope_create_<hash>;   // carries the requirement
//! impl ScopeRequirement for __keygate_require_scope_create_<hash> { … }
//! async fn create(_: ScopeGuard<__keygate_require_scope_create_<hash>>, body: web::Json<Item>) -> HttpResponse { … }
//! ```
//! Extractors run in argument order, so the guard refuses (401/403) before any other
//! extractor reads the request; signature, body and attributes are otherwise kept.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{parse_quote, FnArg, ItemFn};

use crate::errors::Errors;
use crate::requirement;

/// Expands the attribute, or returns the compile errors followed by the item as it
/// was (so that only the real mistake is reported).
pub(crate) fn require_scope(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let error = error.into_compile_error();
            quote!(#error #item)
        }
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // Report every mistake at once: the requirement's and the signature's.
    let mut errors = Errors::default();
    let requirement = errors.take(requirement::parse(args));
    let function = errors.take(syn::parse2::<ItemFn>(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("#[require_scope] goes on an async handler function: {e}"),
        )
    }));
    if let Some(function) = &function {
        check_signature(function, &mut errors);
    }
    errors.finish()?;
    let (Some(requirement), Some(mut function)) = (requirement, function) else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[require_scope] could not be expanded",
        ));
    };
    let name = &function.sig.ident;
    let marker = format_ident!(
        "__keygate_require_scope_{}_{:08x}",
        name,
        fnv1a(&requirement)
    );
    let vis = &function.vis;
    let guard: FnArg = parse_quote!(_: ::keygate_actix::__private::ScopeGuard<#marker>);
    function.sig.inputs.insert(0, guard);

    Ok(quote! {
        #[doc(hidden)]
        #[allow(
            non_camel_case_types,
            dead_code,
            missing_docs,
            missing_debug_implementations,
            unreachable_pub
        )]
        #vis struct #marker;

        impl ::keygate_actix::__private::ScopeRequirement for #marker {
            fn requirement() -> &'static ::keygate_actix::__private::Requirement {
                static REQUIREMENT: ::std::sync::OnceLock<::keygate_actix::__private::Requirement> =
                    ::std::sync::OnceLock::new();
                ::keygate_actix::__private::requirement_cell(&REQUIREMENT, #requirement)
            }
        }

        #function
    })
}

/// The handler must be an `async fn` without `self`.
fn check_signature(function: &ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        let fn_token = &sig.fn_token;
        let ident = &sig.ident;
        errors.push(syn::Error::new_spanned(
            quote!(#fn_token #ident),
            "#[require_scope] works on async handlers: write `async fn`",
        ));
    }
    if let Some(receiver) = sig.receiver() {
        errors.push(syn::Error::new_spanned(
            receiver,
            "#[require_scope] works on free handler functions, not methods",
        ));
    }
}

/// A small stable hash, so two requirements on one handler get distinct markers.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        require_scope(args, item).to_string()
    }

    #[test]
    fn adds_the_guard_first_and_keeps_the_rest() {
        let out = expand(
            quote!("write:items"),
            quote! {
                /// Docs.
                #[get("/items")]
                pub async fn create<T: Clone>(data: web::Data<T>) -> impl Responder where T: 'static { "ok" }
            },
        );
        assert!(
            out.contains("pub struct __keygate_require_scope_create_"),
            "{out}"
        );
        assert!(
            out.contains("requirement_cell (& REQUIREMENT , \"write:items\")"),
            "{out}"
        );
        assert!(out.contains("# [get (\"/items\")]"), "{out}");
        assert!(out.contains("pub async fn create < T : Clone > (_ : :: keygate_actix :: __private :: ScopeGuard <"), "{out}");
        assert!(
            out.contains("data : web :: Data < T >) -> impl Responder where T : 'static"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand(
            quote!("bad scope"),
            quote!(
                fn handler() {}
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn handler"), "{out}");
        assert!(out.contains("async handlers"), "{out}");
    }

    #[test]
    fn distinct_requirements_get_distinct_markers() {
        assert_ne!(fnv1a("write:items"), fnv1a("read:items"));
        assert_eq!(fnv1a(""), 0x811c_9dc5);
    }
}

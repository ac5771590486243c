//! The `#[require_scope(...)]` attribute for `keygate-actix`. Use it through
//! `keygate_actix::require_scope`: the code it generates refers to `keygate_actix`.
#![deny(missing_docs)]

mod errors;
mod expand;
mod requirement;

use proc_macro::TokenStream;

/// Refuses a request whose API key lacks a scope, before the handler or any of its
/// other extractors runs: 403 `insufficient_scope`, or 401 when no key was verified
/// (no `ApiKeyAuth` around the route), rendered by the configured renderer.
///
/// The requirement is checked when the handler compiles, with the same parser as
/// `RequireScope::new`:
///
/// - `#[require_scope("write:scans")]`: one scope (`read` means `read:*`, `admin` `*`);
/// - `#[require_scope(any("read:scans", "admin"))]`: at least one;
/// - `#[require_scope(all("a:b", any("c:d", "e:f")))]`: nested freely;
/// - `#[require_scope("any(read:scans, admin)")]`: the text form in one literal.
///
/// It goes on an `async fn` handler, before or after a routing attribute such as
/// `#[get("/x")]`, and keeps its signature, generics, other attributes and extractors
/// (`web::Data`, `web::Json`, `Principal`, …). It adds one hidden first argument, so a
/// handler may take at most 15 extractors of its own.
///
/// ```
/// use actix_web::{post, test, web, App, HttpResponse};
/// use keygate::{key_format, KeyGate, KeyRecord, KeyStore, MemoryStore, ScopeSet};
/// use keygate::hash::KeyHasher;
/// use keygate_actix::{require_scope, ApiKeyAuth, Principal};
///
/// #[post("/scans")]
/// #[require_scope(any("write:scans", "admin"))]
/// async fn start_scan(principal: Principal, body: String) -> HttpResponse {
///     HttpResponse::Created().body(format!("{} started {body}", principal.name()))
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let key = key_format::generate("sk", "live")?;
/// let record = KeyRecord::new(KeyHasher::Sha256.hash(key.expose()), "hint", "sk", "live", "ci", "acme")
///     .with_scopes(ScopeSet::parse(["write:scans"])?);
/// store.insert(&record).await?;
/// let gate = KeyGate::builder(store).build();
/// let app = test::init_service(App::new().wrap(ApiKeyAuth::new(gate)).service(start_scan)).await;
///
/// let req = test::TestRequest::post()
///     .uri("/scans")
///     .insert_header(("x-api-key", key.expose()))
///     .set_payload("scan 1")
///     .to_request();
/// let res = test::call_service(&app, req).await;
/// assert_eq!(res.status(), 201);
/// assert_eq!(test::read_body(res).await, "ci started scan 1");
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
///
/// Mistakes are compile errors pointing at the culprit:
///
/// ```compile_fail
/// #[keygate_actix::require_scope("write items")] // error: invalid scope "write items"
/// async fn handler() -> &'static str { "never" }
/// ```
#[proc_macro_attribute]
pub fn require_scope(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::require_scope(args.into(), item.into()).into()
}

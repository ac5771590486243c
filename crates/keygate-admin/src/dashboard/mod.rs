//! The web dashboard (feature `dashboard`): API keys, roles and the audit log in a
//! browser, as server-rendered pages over the same [`Admin`] as the REST API.
//!
//! Every read and every change goes through [`Admin::handle`] with the signed-in key as
//! the caller, so the dashboard can do exactly what that key could do over REST: the
//! same route scopes, the same validation and the same [`KeyManager`](keygate::KeyManager)
//! policy (its tenant only, never more scopes than it holds).
//!
//! * **Sign-in.** An admin API key is checked once by the gate's verifier (with the
//!   failure throttle, IP restrictions and rate limit of any other request) and
//!   exchanged for a server-side session: 32 random bytes from the OS CSPRNG, in an
//!   `HttpOnly; SameSite=Strict; Path=<mount>` cookie (`Secure` over https), with an idle
//!   (30 min) and an absolute (12 h) expiry. The session holds the key's id, never the
//!   key; each request checks the key again ([`Verifier::recheck`]), so a revoked or
//!   expired key's session ends at its next request. Sign-out deletes the session.
//! * **Forms.** Every state-changing form carries the session's CSRF token, compared in
//!   constant time; POSTs from another origin (`Origin`, `Sec-Fetch-Site`) are refused.
//! * **Headers.** A strict Content-Security-Policy (`default-src 'none'`, the
//!   dashboard's own stylesheet and script files only, no inline code),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
//! * **A new key** (created or rotated) is shown once, on the page the form redirects
//!   to; a reload shows a note instead.
//!
//! ```
//! use keygate::{KeyGate, MemoryStore};
//! use keygate_admin::dashboard::Dashboard;
//! let gate = KeyGate::builder(MemoryStore::new()).build();
//! let dashboard = Dashboard::for_gate(&gate)
//!     .idle_timeout(chrono::Duration::minutes(15))
//!     .absolute_timeout(chrono::Duration::hours(8));
//! assert_eq!(dashboard.mount_path(), "/dashboard");
//! # #[cfg(feature = "axum")] {
//! let app: axum::Router = keygate_admin::dashboard::axum::router(dashboard);
//! # }
//! ```

mod api;
mod controller;
mod csrf;
mod form;
mod http;
mod pages;
mod security;
mod session;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

use std::sync::Arc;

use keygate::{KeyGate, Verifier};

pub use http::{DashboardRequest, DashboardResponse};
pub use security::CONTENT_SECURITY_POLICY;

use crate::handler::Admin;
use session::Sessions;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "keygate_session";

/// The dashboard: the admin API's [`Admin`], the gate's [`Verifier`] for sign-in, and
/// the sessions. Cheap to clone (the clones share the sessions).
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate_admin::dashboard::{Dashboard, DashboardRequest};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dashboard = Dashboard::for_gate(&KeyGate::builder(MemoryStore::new()).build());
/// let page = dashboard
///     .handle(DashboardRequest { method: "GET", path: "/dashboard/keys", ..Default::default() })
///     .await;
/// assert_eq!(page.status, 303); // no session: to the sign-in page
/// assert_eq!(page.header("location"), Some("/dashboard/sign-in"));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    admin: Admin,
    verifier: Verifier,
    base: String,
    sessions: Sessions,
    idle: chrono::Duration,
    absolute: chrono::Duration,
}

impl Dashboard {
    /// The dashboard for `gate`: its admin API ([`Admin::for_gate`]) and its verifier,
    /// mounted at `/dashboard`.
    pub fn for_gate(gate: &KeyGate) -> Self {
        Self::new(Admin::for_gate(gate), gate.verifier().clone())
    }

    /// The dashboard over `admin` (use the one your REST API serves, so both share its
    /// configuration), signing in with `verifier` (the gate's, over the same store).
    pub fn new(admin: Admin, verifier: Verifier) -> Self {
        let idle = chrono::Duration::minutes(30);
        let absolute = chrono::Duration::hours(12);
        Self {
            inner: Arc::new(Inner {
                admin,
                verifier,
                base: "/dashboard".to_owned(),
                sessions: Sessions::new(idle, absolute),
                idle,
                absolute,
            }),
        }
    }

    /// Where the dashboard is mounted (default `/dashboard`): its links and the
    /// cookie's `Path`. Configure before serving: this starts an empty session store.
    #[must_use]
    pub fn mount_at(self, path: &str) -> Self {
        let base = format!("/{}", path.trim_matches('/'));
        self.rebuild(|i| i.base = base)
    }

    /// A session ends this long after its last request (default 30 minutes).
    /// Configure before serving: this starts an empty session store.
    #[must_use]
    pub fn idle_timeout(self, idle: chrono::Duration) -> Self {
        self.rebuild(|i| i.idle = idle)
    }

    /// A session ends this long after sign-in, however active (default 12 hours).
    /// Configure before serving: this starts an empty session store.
    #[must_use]
    pub fn absolute_timeout(self, absolute: chrono::Duration) -> Self {
        self.rebuild(|i| i.absolute = absolute)
    }

    fn rebuild(self, f: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            base: self.inner.base.clone(),
            idle: self.inner.idle,
            absolute: self.inner.absolute,
        };
        f(&mut config);
        Self {
            inner: Arc::new(Inner {
                admin: self.inner.admin.clone(),
                verifier: self.inner.verifier.clone(),
                base: config.base,
                sessions: Sessions::new(config.idle, config.absolute),
                idle: config.idle,
                absolute: config.absolute,
            }),
        }
    }

    /// The mount path, e.g. `/dashboard`.
    pub fn mount_path(&self) -> &str {
        &self.inner.base
    }

    /// The admin API the dashboard calls.
    pub fn admin(&self) -> &Admin {
        &self.inner.admin
    }

    /// How many sessions are held (expired ones until they are next seen).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Answers one request, security headers included.
    pub async fn handle(&self, request: DashboardRequest<'_>) -> DashboardResponse {
        security::secure(controller::handle(self, request).await)
    }
}

struct Config {
    base: String,
    idle: chrono::Duration,
    absolute: chrono::Duration,
}

/// Compile-time guard: the answer is `Send`, as axum and multi-threaded runtimes need.
#[allow(dead_code)]
fn assert_send(d: &Dashboard) {
    fn is_send<T: Send>(_: T) {}
    is_send(d.handle(DashboardRequest::default()));
}

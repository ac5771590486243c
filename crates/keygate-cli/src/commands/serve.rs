//! `keygate serve`: the admin REST API and the web dashboard over the store.

use std::net::SocketAddr;
use std::process::ExitCode;

use keygate::render::NestedRenderer;
use keygate::KeyGate;
use keygate_admin::dashboard::Dashboard;
use keygate_admin::Admin;
use keygate_tower::ApiKeyLayer;

use crate::cli::ServeArgs;
use crate::store::Store;
use crate::Failure;

/// The secret-scanning endpoint trusting the keys of GitHub's document at `path`.
fn secret_scanning(
    gate: &KeyGate,
    path: &std::path::Path,
    policy: &str,
) -> Result<keygate_admin::secret_scanning::SecretScanning, Failure> {
    let about = |e: &dyn std::fmt::Display| {
        Failure(format!("--secret-scanning-keys {}: {e}", path.display()))
    };
    let document = std::fs::read_to_string(path).map_err(|e| about(&e))?;
    let scanning = keygate_admin::secret_scanning::SecretScanning::new(gate.manager())
        .github_keys(&document)
        .map_err(|e| about(&e))?;
    if scanning.key_count() == 0 {
        return Err(about(&"the document holds no public key"));
    }
    Ok(scanning.policy(if policy == "quarantine" {
        keygate::manager::LeakPolicy::Quarantine
    } else {
        keygate::manager::LeakPolicy::Revoke
    }))
}

pub(crate) async fn run(store: Store, args: ServeArgs) -> Result<ExitCode, Failure> {
    // Nested errors: the admin API's own errors have that shape, so every answer of
    // the service, from the key layer or the handlers, speaks one vocabulary.
    let mut gate = KeyGate::builder(store.store.clone())
        .hasher(store.hasher.clone())
        .renderer(NestedRenderer::new());
    let throttle: keygate::RateLimitSpec = args.failure_throttle.parse().map_err(|e| {
        Failure(format!(
            "--failure-throttle {:?}: {e}",
            args.failure_throttle
        ))
    })?;
    gate = gate.failure_throttle(keygate::rate_limit::FailureThrottle::new(throttle));
    if let Some(prefix) = &args.prefix {
        gate = gate.prefix(prefix.clone());
    }
    let gate = gate.build();
    let admin = Admin::for_gate(&gate);
    // The dashboard (/dashboard) signs in with a key itself: outside the key layer,
    // over the same `Admin` as the REST API.
    let dashboard = Dashboard::new(admin.clone(), gate.verifier().clone());
    let mut app = keygate_admin::axum::router(admin.clone())
        .layer(ApiKeyLayer::new(gate.clone()))
        .merge(keygate_admin::axum::openapi_router(&admin))
        .merge(keygate_admin::dashboard::axum::router(dashboard));
    if let Some(path) = &args.secret_scanning_keys {
        // Public: the scanner is authenticated by its signature, not by a key.
        app = app.merge(keygate_admin::axum::secret_scanning_router(
            secret_scanning(&gate, path, &args.leak_policy)?,
        ));
    }
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| Failure(format!("cannot listen on {}: {e}", args.addr)))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    gate.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

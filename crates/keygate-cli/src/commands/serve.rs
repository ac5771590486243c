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
    let app = keygate_admin::axum::router(admin.clone())
        .layer(ApiKeyLayer::new(gate.clone()))
        .merge(keygate_admin::axum::openapi_router(&admin))
        .merge(keygate_admin::dashboard::axum::router(dashboard));
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

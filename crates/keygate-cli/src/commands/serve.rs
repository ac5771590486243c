//! `keygate serve`: the admin REST API over the store.

use std::net::SocketAddr;
use std::process::ExitCode;

use keygate::{KeyGate, KeyManager};
use keygate_admin::Admin;
use keygate_tower::ApiKeyLayer;

use crate::cli::ServeArgs;
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(store: Store, args: ServeArgs) -> Result<ExitCode, Failure> {
    let mut gate = KeyGate::builder(store.store.clone()).hasher(store.hasher.clone());
    if let Some(prefix) = &args.prefix {
        gate = gate.prefix(prefix.clone());
    }
    let gate = gate.build();
    let manager = KeyManager::builder(store.store.clone())
        .hasher(store.hasher.clone())
        .build();
    let app = keygate_admin::axum::router(Admin::new(manager))
        .layer(ApiKeyLayer::new(gate.clone()))
        .merge(keygate_admin::axum::openapi_router());
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

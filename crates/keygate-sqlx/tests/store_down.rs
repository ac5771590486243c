//! A store that cannot answer: the verifier says 503 (`store_unavailable`) for every
//! key not freshly cached, never lets a request through, and over HTTP answers with
//! the documented body.

mod common;

use common::key;
use keygate::{AuthError, KeyGate, KeyStore, VerifyRequest};
use keygate_moka::CachedStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY_503: &str = r#"{"error":"Service Unavailable","message":"API key verification is temporarily unavailable."}"#;

/// A server on 127.0.0.1:0 with `ApiKeyLayer` over `gate`; returns its address.
async fn serve(gate: KeyGate) -> std::net::SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(keygate_tower::ApiKeyLayer::new(gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// `GET /hello` with a bearer key, over a plain TCP connection: (status, body).
async fn get_hello(addr: std::net::SocketAddr, key: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut response = String::new();
    conn.read_to_string(&mut response)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .expect("an HTTP response with a body");
    (status, body)
}

fn assert_unavailable(result: Result<keygate::verifier::Verification, AuthError>) {
    let err = result
        .err()
        .unwrap_or_else(|| panic!("a down store let a request through"));
    assert_eq!(err, AuthError::StoreUnavailable);
    assert_eq!((err.status(), err.code()), (503, "store_unavailable"));
}

#[cfg(feature = "postgres")]
fn dead_postgres() -> keygate_sqlx::PostgresStore {
    keygate_sqlx::PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .acquire_timeout(std::time::Duration::from_millis(300))
        .connect_lazy()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_dead_postgres_port_means_503() {
    let connect = keygate_sqlx::PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .acquire_timeout(std::time::Duration::from_millis(300))
        .connect()
        .await;
    assert!(connect.is_err(), "connecting to a dead port fails");

    let gate = KeyGate::builder(CachedStore::new(dead_postgres())).build();
    let (plain, _) = key("any");
    assert_unavailable(gate.verify(VerifyRequest::key(&plain)).await);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_dead_postgres_port_over_http_is_503_json() {
    let addr = serve(KeyGate::builder(CachedStore::new(dead_postgres())).build()).await;
    let (plain, _) = key("any");
    assert_eq!(get_hello(addr, &plain).await, (503, BODY_503.to_owned()));
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_closed_postgres_pool_fails_closed_except_for_fresh_cache_entries() {
    common::pg::with_postgres("postgres closed pool", |pg| async move {
        let store = pg.store().await;
        let (cached_key, cached) = key("cached");
        let (cold_key, cold) = key("cold");
        store
            .insert(&cached)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.insert(&cold).await.unwrap_or_else(|e| panic!("{e}"));
        let cache = CachedStore::new(store.clone());
        let gate = KeyGate::builder(cache.clone()).build();
        assert!(gate.verify(VerifyRequest::key(&cached_key)).await.is_ok());

        store.pool().close().await;
        assert_unavailable(gate.verify(VerifyRequest::key(&cold_key)).await);
        assert!(
            gate.verify(VerifyRequest::key(&cached_key)).await.is_ok(),
            "a fresh cache entry still answers"
        );
        cache.invalidate(&cached.hash).await;
        assert_unavailable(gate.verify(VerifyRequest::key(&cached_key)).await);
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_closed_postgres_pool_over_http_is_503_json() {
    common::pg::with_postgres("postgres closed pool over HTTP", |pg| async move {
        let store = pg.store().await;
        let (plain, record) = key("http");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = serve(KeyGate::builder(CachedStore::new(store.clone())).build()).await;

        store.pool().close().await;
        assert_eq!(get_hello(addr, &plain).await, (503, BODY_503.to_owned()));
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn with_the_pool_open_the_same_server_answers_200() {
    common::pg::with_postgres("postgres HTTP baseline", |pg| async move {
        let store = pg.store().await;
        let (plain, record) = key("http");
        store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = serve(KeyGate::builder(CachedStore::new(store)).build()).await;
        assert_eq!(get_hello(addr, &plain).await, (200, "hello".to_owned()));
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_closed_sqlite_pool_means_503() {
    let store = keygate_sqlx::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (plain, record) = key("k");
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gate = KeyGate::builder(CachedStore::new(store.clone())).build();
    let addr = serve(gate.clone()).await;
    store.pool().close().await;
    assert_unavailable(gate.verify(VerifyRequest::key(&plain)).await);
    assert_eq!(get_hello(addr, &plain).await, (503, BODY_503.to_owned()));
}

//! Shared pieces of the benchmark servers run by `cargo xtask bench servers`.
//!
//! Every server binary takes the port as its first argument, binds 127.0.0.1 only,
//! runs ONE worker thread (tokio `worker_threads(1)` with the serve future spawned onto
//! it; actix `workers(1)`), answers `GET /hello` with 200 `ok`, and its handler takes
//! the principal. All of them accept the same 52-byte demo key ([`demo_key`]), a key in
//! keygate's format (`keygate_sk_live_<30 base62><6 base62 CRC32>`), so every server
//! gets the same request bytes.
//!
//! The peers (`axum_plain`, `axum_bearer`, `axum_hashmap`, `axum_hashmap_outer`,
//! `actix_plain`, `actix_bearer`, `actix_hashmap`) are the reference servers of the
//! baseline study; the `*_keygate*` servers use keygate's public API only.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

pub mod hashmap_tower;
pub mod kg;
pub mod peer;

/// Key prefix of the demo key (and of every keygate server's gate).
pub const PREFIX: &str = "keygate_sk";
/// Environment of the demo key.
pub const ENV: &str = "live";
/// 30 fixed "random" base62 characters: every run sends the same bytes.
pub const DEMO_RANDOM: &str = "4fT9kQ2mZx7LpR1vB8nW3cY6hJ0sDa";
/// Keys in every server's table: the demo key and fillers.
pub const TABLE_SIZE: usize = 10_000;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `<prefix>_<env>_<random>` completed with its 6-character base62 CRC32 checksum, as
/// keygate's key format defines it.
pub fn with_checksum(signed: &str) -> String {
    let mut v = u64::from(crc32fast::hash(signed.as_bytes()));
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    let mut key = String::with_capacity(signed.len() + 6);
    key.push_str(signed);
    key.extend(digits.iter().map(|&b| char::from(b)));
    key
}

/// The demo key every server accepts (52 bytes).
pub fn demo_key() -> String {
    with_checksum(&format!("{PREFIX}_{ENV}_{DEMO_RANDOM}"))
}

/// Another well-formed key, numbered `i`, for filling tables (deterministic).
pub fn filler_key(i: usize) -> String {
    let mut signed = format!("{PREFIX}_{ENV}_");
    let mut v = i as u64 ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..30 {
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        signed.push(char::from(BASE62[(v % 62) as usize]));
    }
    with_checksum(&signed)
}

/// Port from the first command-line argument (exits with a usage line otherwise).
#[expect(
    clippy::exit,
    reason = "a benchmark server's usage error ends the process"
)]
pub fn port_from_args() -> u16 {
    let mut args = std::env::args();
    let prog = args.next().unwrap_or_else(|| "server".to_owned());
    match args.next().and_then(|a| a.parse::<u16>().ok()) {
        Some(p) => p,
        None => {
            eprintln!("usage: {prog} PORT   (serves GET /hello on 127.0.0.1:PORT)");
            std::process::exit(2);
        }
    }
}

/// The address every server binds: 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A tokio runtime with ONE worker thread (build the app's stores with `block_on`,
/// then hand the runtime to a `serve_*` function).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")))
}

/// Answers `GET` on 127.0.0.1:`port + 1` with `body()` from a plain thread, outside the
/// measured server (no route, layer or runtime of the server is involved): how the
/// bad-key flood reads a server's store-lookup counters, even while keygate's failure
/// throttle refuses the client's requests on the main port. Connections are served one
/// at a time, each closed after its answer.
pub fn stats_port<F>(port: u16, body: F)
where
    F: Fn() -> String + Send + 'static,
{
    use std::io::{Read, Write};
    let Some(side) = port.checked_add(1) else {
        fail("no port above the server's for its stats");
    };
    let listener = std::net::TcpListener::bind(loopback(side))
        .unwrap_or_else(|e| fail(&format!("stats port {side}: {e}")));
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let body = body();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

/// Prints `msg` and exits 1.
#[expect(
    clippy::exit,
    reason = "a benchmark server that cannot start ends the process"
)]
pub fn fail(msg: &str) -> ! {
    eprintln!("server error: {msg}");
    std::process::exit(1)
}

/// Serves an axum Router (placed layers included) on 127.0.0.1:`port`.
/// `axum::serve(listener, router)` finalises the router once per connection.
pub fn serve_router(rt: tokio::runtime::Runtime, app: axum::Router, port: u16) {
    run(rt, port, move |listener| async move {
        axum::serve(listener, app).await
    });
}

/// Like [`serve_router`], with `ConnectInfo<SocketAddr>` in every request: how keygate's
/// failure throttle and IP rules see the client IP.
pub fn serve_router_with_connect_info(rt: tokio::runtime::Runtime, app: axum::Router, port: u16) {
    run(rt, port, move |listener| async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
}

/// Serves a Router wrapped in middleware from the outside. Call
/// `router.with_state(())` BEFORE wrapping it: otherwise axum turns every handler into
/// a route again on each request.
pub fn serve_service<S>(rt: tokio::runtime::Runtime, svc: S, port: u16)
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    run(rt, port, move |listener| async move {
        let make = axum::ServiceExt::<axum::extract::Request>::into_make_service(svc);
        axum::serve(listener, make).await
    });
}

fn run<F, Fut>(rt: tokio::runtime::Runtime, port: u16, serve: F)
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let addr = loopback(port);
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("listening on http://{addr}");
        tokio::spawn(serve(listener))
            .await
            .map_err(std::io::Error::other)?
    });
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

/// Runs an actix-web app on 127.0.0.1:`port` with ONE worker (`HttpServer::workers(1)`;
/// actix-server also keeps an accept thread, idle once the keep-alive connections are
/// open). `$setup` is an async block run first on the system's runtime; its value is
/// bound to `$state` for the factory.
#[macro_export]
macro_rules! serve_actix {
    ($port:expr, $factory:expr) => {
        $crate::serve_actix!($port, async {}, _unit => $factory)
    };
    ($port:expr, $setup:expr, $state:ident => $factory:expr) => {{
        let addr = $crate::loopback($port);
        let result = ::actix_web::rt::System::new().block_on(async move {
            let $state = $setup.await;
            let server = ::actix_web::HttpServer::new($factory)
                .workers(1)
                .bind(addr)?
                .run();
            eprintln!("listening on http://{addr}");
            server.await
        });
        if let Err(e) = result {
            $crate::fail(&e.to_string());
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate::key_format::ParsedKey;

    #[test]
    fn demo_and_filler_keys_are_keygate_keys() {
        let key = demo_key();
        assert_eq!(key.len(), 52);
        let parsed = ParsedKey::parse(&key).expect("demo key parses");
        assert_eq!((parsed.prefix(), parsed.env()), (PREFIX, ENV));
        assert!(ParsedKey::parse(&filler_key(7)).is_ok());
        assert_ne!(filler_key(1), filler_key(2));
    }
}

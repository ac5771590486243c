//! Which IP the request came from, for keys with IP restrictions.

use std::net::{IpAddr, SocketAddr};

use http::Request;

/// The client's IP address, set by you in request extensions when keygate cannot see
/// it (behind a trusted proxy, set it from `X-Forwarded-For` in a layer that runs
/// before [`ApiKeyLayer`](crate::ApiKeyLayer)).
///
/// keygate looks for, in order: `ClientIp`; with the `axum` feature,
/// `axum::extract::ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`); a bare `SocketAddr`. With
/// none, a key with IP restrictions is refused (fail closed).
///
/// ```
/// use keygate_tower::ClientIp;
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientIp("203.0.113.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client IP keygate sees for `request` (see [`ClientIp`] for the order).
///
/// ```
/// let req = http::Request::new(());
/// assert_eq!(keygate_tower::client_ip(&req), None);
/// ```
pub fn client_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    if let Some(ClientIp(ip)) = ext.get::<ClientIp>() {
        return Some(*ip);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_client_ip_wins() {
        let mut req = Request::new(());
        assert_eq!(client_ip(&req), None);
        req.extensions_mut()
            .insert(SocketAddr::from(([127, 0, 0, 1], 9)));
        assert_eq!(client_ip(&req), "127.0.0.1".parse().ok());
        req.extensions_mut().insert(ClientIp(
            "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ));
        assert_eq!(client_ip(&req), "10.0.0.1".parse().ok());
    }
}

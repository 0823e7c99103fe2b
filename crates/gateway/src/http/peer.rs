//! Who sent a request: the TCP peer and, behind trusted proxies, the forwarded client
//! ([`crate::model::peer`]). The server computes it once per request and puts it in the
//! request's extensions, so handlers take `Extension<ClientAddr>`.
//!
//! Which limit uses which: the per-IP connection cap is applied at `accept`, before any header
//! exists, so it counts TCP peers (and exempts trusted proxies); anything decided per request
//! (e.g. a per-IP back-off on failed sign-ins) uses [`ClientAddr::ip`].

use crate::model::peer::{TrustedProxies, client_ip, forwarded_https};
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The connection's place under the connection caps, in every request's extensions: whatever
/// outlives the request on the same socket (an upgraded WebSocket) keeps a clone, so the
/// connection counts until the socket closes, not until hyper hands it over.
#[derive(Debug, Clone)]
pub struct ConnHold(pub Arc<dyn std::fmt::Debug + Send + Sync>);

/// The addresses of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The TCP peer (the proxy, when there is one).
    pub peer: SocketAddr,
    /// The client: the peer, or the forwarded address when the peer is a trusted proxy.
    pub ip: IpAddr,
    /// The scheme the client used, when a trusted proxy said so (`X-Forwarded-Proto`).
    pub https: Option<bool>,
}

impl ClientAddr {
    pub fn from_headers(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let xff = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok());
        Self {
            peer,
            ip: client_ip(peer.ip(), xff.into_iter(), trusted),
            https: forwarded_https(peer.ip(), proto, trusted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_both_headers_only_from_a_trusted_peer() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("9.9.9.9"));
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.4"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let via_proxy = ClientAddr::from_headers("127.0.0.1:5000".parse().unwrap(), &h, &trusted);
        assert_eq!(via_proxy.ip, "203.0.113.4".parse::<IpAddr>().unwrap());
        assert_eq!(via_proxy.https, Some(true));
        let direct = ClientAddr::from_headers("198.51.100.1:5000".parse().unwrap(), &h, &trusted);
        assert_eq!(direct.ip, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(direct.https, None);
    }
}

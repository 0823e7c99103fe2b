//! Access control in tests: an environment with `FEEDGATE_AUTH=keys` and a key per scope, and
//! requests and WebSockets that present a key (header, query, cookie, first message).

use super::{EnvBuilder, WsClient};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// `ID:SECRET` of the test keys given in `FEEDGATE_API_KEYS`.
pub const READER: &str = "reader:reader-secret-0123456789";
pub const ADMIN: &str = "admin:admin-secret-0123456789ab";
pub const ORDERS: &str = "orders:orders-secret-012345678";
/// A key with `read` and `orders`: the feed plus broker order updates.
pub const TRADER: &str = "trader:trader-secret-012345678";

impl EnvBuilder {
    /// Access control on (the environment listens on loopback, where it is off by default),
    /// with the [`READER`], [`ADMIN`], [`ORDERS`] and [`TRADER`] keys.
    pub fn with_keys(self) -> Self {
        self.var("FEEDGATE_AUTH", "keys").var(
            "FEEDGATE_API_KEYS",
            &format!("{READER}:read,{ADMIN}:admin,{ORDERS}:orders,{TRADER}:read+orders"),
        )
    }
}

/// A WebSocket on `path` with extra request headers; `Err(status)` when the upgrade is refused.
pub async fn ws_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WsClient, u16> {
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (k, v) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = k.parse().expect("name");
        req.headers_mut()
            .insert(name, HeaderValue::from_str(v).expect("value"));
    }
    match tokio_tungstenite::connect_async_with_config(req, None, true).await {
        Ok((ws, _)) => Ok(WsClient { ws }),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("WebSocket connect: {e}"),
    }
}

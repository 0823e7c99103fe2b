//! The Kite ticker WebSocket: the upgrade decision (credentials, the per-api_key connection
//! limit, the `reject_ws` fault) and the connection tasks it starts.

/// Batches encoded once per mode and shared by connections.
pub(crate) mod batch;
/// One connection's task.
mod conn;
/// A connection's subscription table.
mod subs;

use crate::registry::bump;
use crate::shared::Shared;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::{debug, info};

/// Largest client message accepted: a 3000-token subscribe is about 30 KiB.
const MAX_CLIENT_MESSAGE: usize = 1 << 20;
/// The socket's read buffer. tungstenite zeroes this much before every read, even one that
/// finds nothing (its default, 128 KiB, was an eighth of a soak's CPU); clients send a few
/// small requests, which a larger message simply takes more reads to assemble.
const READ_BUFFER: usize = 4 << 10;

/// `api_key` and `access_token` from a ticker URL's query, in any order, extra parameters
/// ignored (the JS client adds `uid`), percent-decoding applied.
fn credentials(query: Option<&str>) -> (Option<String>, Option<String>) {
    let mut api_key = None;
    let mut access_token = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "api_key" if api_key.is_none() => api_key = Some(value.into_owned()),
            "access_token" if access_token.is_none() => access_token = Some(value.into_owned()),
            _ => {}
        }
    }
    (api_key, access_token)
}

/// Answers a ticker upgrade request on any path: 403 during `reject_ws` or for bad
/// credentials, 429 for a 4th connection of the api_key, else the WebSocket.
pub(crate) fn upgrade(shared: Arc<Shared>, ws: WebSocketUpgrade, query: Option<&str>) -> Response {
    let counters = &shared.registry.counters;
    if shared.reject_ws_active(Instant::now()) {
        bump(&counters.refused_reject_ws);
        debug!("ticker upgrade refused: reject_ws fault active");
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: WebSocket connections are refused (simulated outage)",
        )
            .into_response();
    }
    let (api_key, access_token) = credentials(query);
    let (Some(api_key), Some(access_token)) = (api_key, access_token) else {
        bump(&counters.refused_bad_token);
        debug!("ticker upgrade refused: api_key or access_token missing");
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: api_key and access_token are required",
        )
            .into_response();
    };
    if !shared.credentials_valid(&api_key, &access_token) {
        bump(&counters.refused_bad_token);
        info!(api_key = %api_key, "ticker upgrade refused: invalid or expired access token");
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: invalid api_key or access_token",
        )
            .into_response();
    }
    let Some(lease) = shared.registry.reserve(&api_key) else {
        bump(&counters.refused_too_many);
        info!(api_key = %api_key, "ticker upgrade refused: connection limit per api_key reached");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests: at most 3 connections per api_key",
        )
            .into_response();
    };
    bump(&counters.upgrades_accepted);
    let id = lease.handle().id;
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_failed_upgrade(move |error| debug!(conn = id, error = %error, "ticker upgrade failed"))
        .on_upgrade(move |socket| conn::run(shared, socket, lease))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_any_order_with_extras_and_encoding() {
        let cases = [
            (Some("api_key=k&access_token=t"), (Some("k"), Some("t"))),
            (Some("access_token=t&api_key=k"), (Some("k"), Some("t"))),
            (
                Some("uid=123&api_key=k&access_token=a%2Bb"),
                (Some("k"), Some("a+b")),
            ),
            (Some("api_key=k"), (Some("k"), None)),
            (
                Some("api_key=k&api_key=other&access_token=t"),
                (Some("k"), Some("t")),
            ),
            (None, (None, None)),
        ];
        for (query, (key, token)) in cases {
            let (k, t) = credentials(query);
            assert_eq!((k.as_deref(), t.as_deref()), (key, token), "{query:?}");
        }
    }
}

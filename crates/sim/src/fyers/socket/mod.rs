//! The Fyers data socket at `/hsm/v1-5/prod`: the upgrade decision (the `reject_ws` fault, and
//! noting an `Authorization` header, which makes the real server ignore the auth frame) and
//! the connection tasks it starts. Authentication happens inside the socket (type-1 frame), so
//! any upgrade is accepted otherwise.

/// Acknowledgement bookkeeping.
mod acks;
/// One connection's task.
mod conn;
/// One connection's protocol state.
pub(crate) mod session;
/// One connection's subscription table.
mod topics;

use crate::fyers::registry::add;
use crate::shared::Shared;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::debug;

/// Largest client message accepted: a 1500-topic subscribe is about 30 KiB.
const MAX_CLIENT_MESSAGE: usize = 1 << 20;
/// The socket's read buffer. tungstenite zeroes this much before every read, even one that
/// finds nothing (its default, 128 KiB, was an eighth of a soak's CPU); clients send a few
/// small requests, which a larger message simply takes more reads to assemble.
const READ_BUFFER: usize = 4 << 10;

/// Answers a data-socket upgrade request: 403 during `reject_ws`, else the WebSocket.
pub(crate) fn upgrade(shared: Arc<Shared>, ws: WebSocketUpgrade, headers: &HeaderMap) -> Response {
    let counters = &shared.fyers.registry.counters;
    if shared.reject_ws_active(Instant::now()) {
        add(&counters.upgrades_refused_reject_ws, 1);
        debug!("fyers data socket upgrade refused: reject_ws fault active");
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: WebSocket connections are refused (simulated outage)",
        )
            .into_response();
    }
    // The real server silently ignores the auth frame when the upgrade carries any
    // Authorization header (spec §1); the value is irrelevant and never looked at.
    let silent = headers.contains_key(header::AUTHORIZATION);
    add(&counters.upgrades_accepted, 1);
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_failed_upgrade(|error| debug!(error = %error, "fyers data socket upgrade failed"))
        .on_upgrade(move |socket| conn::run(shared, socket, silent))
}

//! The client WebSocket endpoint (`/ws/market`, alias `/api/websocket/stream`): upgrade with
//! buffer sizes tuned for many mostly-idle clients, then hand the socket to
//! [`crate::clients::serve`].
//!
//! Inbound messages have a hard cap, [`crate::clients::ClientLimits::max_message_bytes`]
//! (1 MiB): the protocol's own, smaller limit answers with an `error` frame and keeps the
//! connection; this one protects the process from absurd frames, and a client that hits it
//! gets an `error` (`frame_too_large`) and a close with code 1009.

use crate::http::AppState;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

/// Initial read buffer per connection. Client requests are small (tungstenite grows the buffer
/// when a larger one arrives); its 128 KiB default would cost 128 KiB per idle client.
const READ_BUFFER: usize = 1024;
/// Outgoing bytes gathered before a socket write.
const WRITE_BUFFER: usize = 16 * 1024;
pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let ctx = app.client_context();
    let shutdown = app.shutdown();
    let tracker = app.tracker();
    let max_message = ctx.limits.max_message_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "client WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            let fut = crate::clients::serve(socket, ctx, shutdown);
            // Tracked so graceful shutdown waits for every client to get its close frame.
            tracker.track_future(fut)
        })
}

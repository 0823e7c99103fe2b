//! The client WebSocket endpoint (`/ws/market`, alias `/api/websocket/stream`): upgrade with
//! buffer sizes tuned for many mostly-idle clients, then hand the socket to
//! [`crate::client::serve`].

use crate::api::AppState;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

/// Initial read buffer per connection. Client requests are small (tungstenite grows the buffer
/// when a larger one arrives); its 128 KiB default would cost 128 KiB per idle client.
const READ_BUFFER: usize = 1024;
/// Outgoing bytes gathered before a socket write.
const WRITE_BUFFER: usize = 16 * 1024;
/// Hard cap on one inbound message; the protocol's own (smaller) limit answers with an
/// `error` frame instead, this one protects the process from absurd frames.
const MAX_MESSAGE: usize = 1 << 20;

pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let ctx = app.client_context();
    let shutdown = app.shutdown();
    let tracker = app.tracker();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "client WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            let fut = crate::client::serve(socket, ctx, shutdown);
            // Tracked so graceful shutdown waits for every client to get its close frame.
            tracker.track_future(fut)
        })
}

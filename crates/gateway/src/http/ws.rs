//! The client WebSocket endpoint (`/ws/market`, alias `/api/websocket/stream`): upgrade with
//! buffer sizes tuned for many mostly-idle clients, then hand the socket to
//! [`crate::clients::serve`].
//!
//! The socket's limits come from [`crate::clients::ClientLimits`]: inbound messages and frames
//! of at most `max_message_bytes` (64 KiB; a larger one gets an `error` and close 1009), and
//! at most `max_pending_out_bytes` held for a client that does not read (pongs included).

use crate::http::AppState;
use crate::http::peer::ConnHold;
use crate::model::read_clock::ReadClock;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use futures_util::FutureExt;

/// Initial read buffer per connection. Client requests are small (tungstenite grows the buffer
/// when a larger one arrives); its 128 KiB default would cost 128 KiB per idle client.
const READ_BUFFER: usize = 1024;
/// Outgoing bytes gathered before a socket write.
const WRITE_BUFFER: usize = 16 * 1024;
/// Upgrades; `read` (the connection's read clock) and `hold` (its place under the connection
/// caps) come from the server, which puts them in every request.
pub async fn upgrade(
    State(app): State<AppState>,
    read: Option<Extension<ReadClock>>,
    hold: Option<Extension<ConnHold>>,
    ws: WebSocketUpgrade,
) -> Response {
    let read = read.map(|Extension(r)| r).unwrap_or_default();
    let ctx = app.client_context();
    let shutdown = app.shutdown();
    let tracker = app.tracker();
    let max_message = ctx.limits.max_message_bytes;
    // Tungstenite requires the bound to exceed the write buffer.
    let max_pending = ctx.limits.max_pending_out_bytes.max(2 * WRITE_BUFFER);
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(max_pending)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "client WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            // The connection counts against the caps until its client task ends. (`map`, not an
            // async block around the call: a block would keep its own copy of the socket and
            // context beside the call's, ~0.8 KiB more per idle client, measured.)
            let fut = crate::clients::serve(socket, ctx, shutdown, read).map(move |()| drop(hold));
            // Tracked so graceful shutdown waits for every client to get its close frame.
            tracker.track_future(fut)
        })
}

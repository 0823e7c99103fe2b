//! What both client endpoints (`/ws/market` and `/kite`) do with their socket alike: why a
//! connection ended, bounded writes, and what a failed read or write means (a message over the
//! size cap, a client that does not read).

use crate::hub::ClientId;
use crate::status::limits::{self, Cause};
use std::future::Future;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// Why a connection ended (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    ClientClosed,
    Shutdown,
    Flood,
    SlowConsumer,
    /// A message over the socket's hard size cap.
    FrameTooLarge,
    /// A message not completed in time.
    Unfinished,
    SocketError(String),
}

/// Runs a write, bounded by `timeout` (a client whose socket takes nothing for that long is
/// a slow consumer) and cut short by shutdown.
pub(super) async fn timed_write(
    write: impl Future<Output = Result<(), axum::Error>>,
    timeout: Duration,
    max_pending: usize,
    shutdown: &CancellationToken,
    client: ClientId,
) -> Result<(), End> {
    let res = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Err(End::Shutdown),
        r = tokio::time::timeout(timeout, write) => r,
    };
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(write_failed(e, client, max_pending)),
        Err(_) => {
            if limits::record(Cause::SlowConsumer) {
                tracing::info!(
                    client,
                    timeout_s = timeout.as_secs(),
                    "client stopped reading; disconnecting (further ones are summarised)"
                );
            }
            Err(End::SlowConsumer)
        }
    }
}

/// A failed write. Over the bound of pending outbound bytes (the client does not read, and its
/// pongs count too) it is a slow consumer; anything else is the socket's end.
pub(super) fn write_failed(e: axum::Error, client: ClientId, max_pending: usize) -> End {
    let e = e.into_inner();
    if !matches!(
        e.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::WriteBufferFull(_))
    ) {
        return End::SocketError(e.to_string());
    }
    if limits::record(Cause::SlowConsumer) {
        tracing::info!(
            client,
            max_bytes = max_pending,
            "client does not read; its pending outbound bytes are over the limit; disconnecting (further ones are summarised)"
        );
    }
    End::SlowConsumer
}

/// A failed read: `Ok(what)` for a message over the size cap (what was too large, for the
/// client's error message; counted and logged once), else the socket's end.
pub(super) fn read_failed(e: axum::Error, client: ClientId) -> Result<String, End> {
    let e = e.into_inner();
    let Some(tungstenite::Error::Capacity(cap)) = e.downcast_ref::<tungstenite::Error>() else {
        return Err(End::SocketError(e.to_string()));
    };
    if limits::record(Cause::FrameTooLarge) {
        tracing::info!(client, error = %cap, "client message over the size limit; closing (further ones are summarised)");
    }
    Ok(match cap {
        tungstenite::error::CapacityError::MessageTooLong { size, .. } => {
            format!("a message of {size} bytes")
        }
        other => other.to_string(),
    })
}

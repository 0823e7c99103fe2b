//! One Fyers data-socket connection: the only code that touches its socket. Feeds client
//! messages and market batches to the connection's [`Session`] and writes what it returns, and
//! obeys the fault injector (drop without a close frame, stall without reading or writing, a
//! garbage frame). No application heartbeats: the real server is reported to send none.

use super::session::{Env, Output, Session};
use crate::fyers::feed::FyersBatch;
use crate::fyers::registry::{FyersConn, add};
use crate::registry::lock;
use crate::shared::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info};

/// The `malformed` fault's frame: a data frame (correct length, message number 0) whose one
/// record has the unknown kind `X`, so no decoder can read past it.
const GARBAGE_FRAME: [u8; 14] = [
    0x00, 0x0c, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x58, 0xde, 0xad, 0xbe, 0xef,
];
/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a connection task ended.
#[derive(Debug)]
enum Exit {
    Shutdown,
    /// A `drop` fault: the socket is dropped without a close frame (the client sees 1006).
    Killed,
    /// The session asked to close (e.g. acknowledgements missing).
    Closing(u16, &'static str),
    ClientClosed,
    ClientGone,
    Io(String),
    FeedStopped,
}

struct Conn {
    shared: Arc<Shared>,
    handle: Arc<FyersConn>,
    socket: WebSocket,
    batches: broadcast::Receiver<Arc<FyersBatch>>,
}

/// Serves an upgraded data socket until it closes, a fault drops it or the simulator stops.
pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket, silent: bool) {
    let cfg = &shared.cfg;
    let session = Session::new(silent, cfg.fyers_ack_count, cfg.fyers_enforce_acks);
    let handle = shared.fyers.registry.register(session);
    let batches = shared.fyers.batches.subscribe();
    let mut conn = Conn {
        shared,
        handle,
        socket,
        batches,
    };
    let id = conn.handle.id;
    info!(
        conn = id,
        authorization_header = silent,
        "fyers data socket opened"
    );
    let exit = conn.serve().await;
    let fyers = &conn.shared.fyers;
    lock(&conn.handle.session).release(&fyers.registry.demand);
    fyers.registry.unregister(id);
    match exit {
        Exit::Killed => info!(conn = id, "fyers data socket dropped by fault injection"),
        Exit::Shutdown => {
            conn.close(1001, "simulator shutting down").await;
            info!(conn = id, "fyers data socket closed on shutdown");
        }
        Exit::Closing(code, reason) => {
            conn.close(code, reason).await;
            info!(
                conn = id,
                code, reason, "fyers data socket closed by the server"
            );
        }
        Exit::ClientClosed => {
            // Let tungstenite send its queued reply to the client's close frame.
            let _ = timeout(CLOSE_TIMEOUT, conn.socket.flush()).await;
            info!(conn = id, "fyers data socket closed by the client");
        }
        Exit::ClientGone => info!(conn = id, "fyers data socket ended by the client"),
        Exit::Io(error) => info!(conn = id, error = %error, "fyers data socket failed"),
        Exit::FeedStopped => info!(conn = id, "fyers data socket ended: market feed stopped"),
    }
}

/// The session's view of the simulator.
fn env(shared: &Shared) -> Env<'_> {
    let fyers = &shared.fyers;
    Env {
        catalog: &fyers.catalog,
        universe: &shared.universe,
        market: &shared.market,
        tokens: &fyers.tokens,
        demand: &fyers.registry.demand,
        counters: &fyers.registry.counters,
        now_secs: shared.clock.now().timestamp(),
        now: Instant::now(),
    }
}

impl Conn {
    async fn serve(&mut self) -> Exit {
        loop {
            if let Err(exit) = self.obey_orders().await {
                return exit;
            }
            let deadline = lock(&self.handle.session).ack_deadline();
            let step = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => Err(Exit::Shutdown),
                () = self.handle.control.kill.cancelled() => Err(Exit::Killed),
                () = self.handle.control.wake.notified() => Ok(()),
                msg = self.socket.recv() => self.on_message(msg).await,
                batch = self.batches.recv() => self.on_batch(batch).await,
                () = sleep_or_never(deadline) => {
                    let out = lock(&self.handle.session).check_acks(&env(&self.shared));
                    self.write(out, false).await
                }
            };
            if let Err(exit) = step {
                return exit;
            }
        }
    }

    /// Applies pending fault orders: garbage frames first, then a stall.
    async fn obey_orders(&mut self) -> Result<(), Exit> {
        let (malformed, stall_until) = {
            let mut orders = lock(&self.handle.control.orders);
            let until = orders.stall_until.filter(|until| *until > Instant::now());
            // Garbage waits while stalled: a stalled socket sends nothing at all.
            let malformed = if until.is_some() {
                0
            } else {
                std::mem::take(&mut orders.malformed)
            };
            (malformed, until)
        };
        for _ in 0..malformed {
            self.send(vec![Message::Binary(Bytes::from_static(&GARBAGE_FRAME))])
                .await?;
            add(&self.shared.fyers.registry.counters.malformed_sent, 1);
            info!(
                conn = self.handle.id,
                "sent a malformed fyers frame by fault injection"
            );
        }
        match stall_until {
            Some(until) => self.stall(until).await,
            None => Ok(()),
        }
    }

    /// Sends and reads nothing until `until` (or until the fault is cleared), like a silently
    /// dead TCP path; batches produced meanwhile are skipped (later updates are diffs against
    /// what the client really has, so it converges).
    async fn stall(&mut self, mut until: Instant) -> Result<(), Exit> {
        let id = self.handle.id;
        info!(
            conn = id,
            seconds = until
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
            "fyers data socket stalled"
        );
        loop {
            tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => return Err(Exit::Shutdown),
                () = self.handle.control.kill.cancelled() => return Err(Exit::Killed),
                () = self.handle.control.wake.notified() => {
                    match lock(&self.handle.control.orders).stall_until {
                        Some(next) if next > Instant::now() => until = next,
                        _ => break,
                    }
                }
                () = sleep_until(until) => break,
            }
        }
        self.batches = self.batches.resubscribe();
        lock(&self.handle.session).restart_ack_clock(Instant::now());
        info!(conn = id, "fyers data socket resumed after stall");
        Ok(())
    }

    async fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> Result<(), Exit> {
        match msg {
            None => Err(Exit::ClientGone),
            Some(Err(error)) => Err(Exit::Io(error.to_string())),
            Some(Ok(Message::Binary(data))) => {
                let out = lock(&self.handle.session).on_message(&data, &env(&self.shared));
                self.write(out, false).await
            }
            Some(Ok(Message::Text(_))) => {
                add(&self.shared.fyers.registry.counters.bad_frames_received, 1);
                debug!(
                    conn = self.handle.id,
                    "ignoring a text message (binary frames only)"
                );
                Ok(())
            }
            Some(Ok(Message::Close(_))) => Err(Exit::ClientClosed),
            // WebSocket pings are answered by tungstenite.
            Some(Ok(_)) => Ok(()),
        }
    }

    async fn on_batch(&mut self, batch: Result<Arc<FyersBatch>, RecvError>) -> Result<(), Exit> {
        let batch = match batch {
            Ok(batch) => batch,
            Err(RecvError::Lagged(skipped)) => {
                add(
                    &self.shared.fyers.registry.counters.batches_skipped,
                    skipped,
                );
                debug!(
                    conn = self.handle.id,
                    skipped, "fyers data socket fell behind; skipping market batches"
                );
                return Ok(());
            }
            Err(RecvError::Closed) => return Err(Exit::FeedStopped),
        };
        let out = lock(&self.handle.session).on_batch(&batch, &env(&self.shared));
        self.write(out, true).await
    }

    /// Writes a session step's frames (market frames are shown to the send observer first),
    /// then closes if the session asked to.
    async fn write(&mut self, out: Output, market: bool) -> Result<(), Exit> {
        if !out.frames.is_empty() {
            if market && let Some(observer) = &self.shared.cfg.send_observer {
                observer.observe(&out.frames);
            }
            self.send(out.frames.into_iter().map(Message::Binary).collect())
                .await?;
        }
        match out.close {
            Some((code, reason)) => Err(Exit::Closing(code, reason)),
            None => Ok(()),
        }
    }

    /// Writes `msgs` with one flush, giving up at once on shutdown or a `drop` fault.
    async fn send(&mut self, msgs: Vec<Message>) -> Result<(), Exit> {
        let socket = &mut self.socket;
        let write = async move {
            for msg in msgs {
                socket.feed(msg).await?;
            }
            socket.flush().await
        };
        tokio::select! {
            biased;
            () = self.shared.shutdown.cancelled() => Err(Exit::Shutdown),
            () = self.handle.control.kill.cancelled() => Err(Exit::Killed),
            written = write => written.map_err(|e| Exit::Io(e.to_string())),
        }
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(CLOSE_TIMEOUT, self.socket.send(Message::Close(Some(frame)))).await;
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

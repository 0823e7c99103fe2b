//! One Kite ticker connection: the only code that touches its socket. Applies the client's
//! `subscribe`/`mode`/`unsubscribe` requests (with snapshots), forwards the shared market
//! batches it subscribed to, sends a 1-byte heartbeat after each idle interval, and obeys the
//! fault injector (drop without a close frame, stall without reading or writing, garbage frame).
//! It never sends a Pong on its own: tungstenite answers Pings, and only Pings.

use super::batch::{Batch, select};
use super::subs::{MAX_SLOTS, Subscriptions};
use crate::kite::packets::packet;
use crate::registry::{ConnHandle, ConnLease, bump, lock};
use crate::shared::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use feedgate_kite::{HEARTBEAT, MAX_PACKETS_PER_FRAME, Mode, Request, TextMessage, encode_frames};
use futures_util::SinkExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info};

/// The `malformed` fault's frame: it announces 2 packets, the first claiming 44 bytes, and
/// then ends after 4 bytes (a truncated packet and a bad count at once).
const GARBAGE_FRAME: [u8; 8] = [0x00, 0x02, 0x00, 0x2c, 0xde, 0xad, 0xbe, 0xef];
/// How long a closing handshake may take on shutdown before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a connection task ended.
#[derive(Debug)]
enum Exit {
    Shutdown,
    /// A `drop` fault: the socket is dropped without a close frame (the client sees 1006).
    Killed,
    ClientClosed,
    ClientGone,
    Io(String),
    FeedStopped,
}

/// Encoded snapshot frames and the number of packets in them.
#[derive(Debug, Default)]
struct Snapshot {
    frames: Vec<Bytes>,
    packets: usize,
}

struct Conn {
    shared: Arc<Shared>,
    handle: Arc<ConnHandle>,
    socket: WebSocket,
    subs: Subscriptions,
    batches: broadcast::Receiver<Arc<Batch>>,
    last_sent: Instant,
}

/// Serves an upgraded ticker socket until it closes, a fault drops it or the simulator stops.
/// The lease (the api_key's connection slot) is released when this returns.
pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket, mut lease: ConnLease) {
    let handle = lease.activate();
    let batches = shared.batches.subscribe();
    let mut conn = Conn {
        shared,
        handle,
        socket,
        subs: Subscriptions::default(),
        batches,
        last_sent: Instant::now(),
    };
    let id = conn.handle.id;
    info!(conn = id, api_key = %conn.handle.api_key, "ticker connection opened");
    let exit = conn.serve().await;
    conn.release_demand();
    match &exit {
        Exit::Killed => info!(conn = id, "ticker connection dropped by fault injection"),
        Exit::Shutdown => {
            conn.close(1001, "simulator shutting down").await;
            info!(conn = id, "ticker connection closed on shutdown");
        }
        Exit::ClientClosed => {
            // Let tungstenite send its queued reply to the client's close frame.
            let _ = timeout(CLOSE_TIMEOUT, conn.socket.flush()).await;
            info!(conn = id, "ticker connection closed by the client");
        }
        Exit::ClientGone => info!(conn = id, "ticker connection ended by the client"),
        Exit::Io(error) => info!(conn = id, error = %error, "ticker connection failed"),
        Exit::FeedStopped => info!(conn = id, "ticker connection ended: market feed stopped"),
    }
    drop(lease);
}

impl Conn {
    async fn serve(&mut self) -> Exit {
        loop {
            if let Err(exit) = self.obey_orders().await {
                return exit;
            }
            let heartbeat_at = self.last_sent + self.shared.cfg.heartbeat_interval;
            let step = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => Err(Exit::Shutdown),
                () = self.handle.control.kill.cancelled() => Err(Exit::Killed),
                () = self.handle.control.wake.notified() => Ok(()),
                msg = self.socket.recv() => self.on_message(msg).await,
                batch = self.batches.recv() => self.on_batch(batch).await,
                () = sleep_until(heartbeat_at) => self.heartbeat().await,
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
            bump(&self.shared.registry.counters.malformed_sent);
            info!(
                conn = self.handle.id,
                "sent a malformed frame by fault injection"
            );
        }
        match stall_until {
            Some(until) => self.stall(until).await,
            None => Ok(()),
        }
    }

    /// Sends and reads nothing until `until` (or until the fault is cleared), like a silently
    /// dead TCP path; batches produced meanwhile are skipped.
    async fn stall(&mut self, mut until: Instant) -> Result<(), Exit> {
        let id = self.handle.id;
        info!(
            conn = id,
            seconds = until
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
            "ticker connection stalled"
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
        info!(conn = id, "ticker connection resumed after stall");
        self.heartbeat().await
    }

    async fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> Result<(), Exit> {
        match msg {
            None => Err(Exit::ClientGone),
            Some(Err(error)) => Err(Exit::Io(error.to_string())),
            Some(Ok(Message::Text(text))) => self.on_request(text.as_str()).await,
            Some(Ok(Message::Close(_))) => Err(Exit::ClientClosed),
            // Pings are answered by tungstenite; binary frames and pongs mean nothing here.
            Some(Ok(_)) => Ok(()),
        }
    }

    async fn on_request(&mut self, text: &str) -> Result<(), Exit> {
        let request = match Request::parse(text) {
            Ok(request) => request,
            Err(error) => {
                debug!(conn = self.handle.id, error = %error, "ignoring invalid ticker request");
                return Ok(());
            }
        };
        debug!(
            conn = self.handle.id,
            action = request.action(),
            tokens = request.tokens().len(),
            "ticker request"
        );
        let mut out = Vec::new();
        let mut snapshot = Snapshot::default();
        match request {
            Request::Subscribe(tokens) => {
                let result = self.subs.subscribe(&tokens);
                for token in &result.added {
                    self.add_demand(*token, Mode::Quote);
                }
                if result.over_limit > 0 {
                    let text = format!(
                        "Subscription limit exceeded: at most {MAX_SLOTS} instruments per connection; {} ignored",
                        result.over_limit
                    );
                    info!(
                        conn = self.handle.id,
                        ignored = result.over_limit,
                        "subscription over the per-connection cap"
                    );
                    out.push(Message::Text(TextMessage::Error(text).to_json().into()));
                }
                snapshot = self.snapshot(&result.added);
            }
            Request::Unsubscribe(tokens) => {
                for (token, mode) in self.subs.unsubscribe(&tokens) {
                    self.remove_demand(token, mode);
                }
            }
            Request::Mode(mode, tokens) => {
                let changed = self.subs.set_mode(mode, &tokens);
                for (token, old) in &changed {
                    self.remove_demand(*token, *old);
                    self.add_demand(*token, mode);
                }
                let tokens: Vec<u32> = changed.iter().map(|(t, _)| *t).collect();
                snapshot = self.snapshot(&tokens);
            }
        }
        *lock(&self.handle.subscriptions) = self.subs.summary();
        let frames = snapshot.frames.len();
        out.extend(snapshot.frames.into_iter().map(Message::Binary));
        if out.is_empty() {
            return Ok(());
        }
        self.send(out).await?;
        self.record(frames, snapshot.packets);
        Ok(())
    }

    /// Frames with the current state of `tokens` in their subscribed modes; batches up to
    /// this market sequence are then skipped for them. Demand must already include them.
    fn snapshot(&mut self, tokens: &[u32]) -> Snapshot {
        if tokens.is_empty() {
            return Snapshot::default();
        }
        let universe = &self.shared.universe;
        let (seq, packets) = {
            let market = lock(&self.shared.market);
            let packets: Vec<_> = tokens
                .iter()
                .filter_map(|token| {
                    let mode = self.subs.mode(*token)?;
                    let idx = universe.index_of_token(*token)?;
                    Some(packet(universe.get(idx)?, market.quote(idx)?, mode))
                })
                .collect();
            (market.seq(), packets)
        };
        self.subs.snapshot_sent(tokens, seq);
        Snapshot {
            frames: encode_frames(&packets, MAX_PACKETS_PER_FRAME),
            packets: packets.len(),
        }
    }

    async fn on_batch(&mut self, batch: Result<Arc<Batch>, RecvError>) -> Result<(), Exit> {
        let batch = match batch {
            Ok(batch) => batch,
            Err(RecvError::Lagged(skipped)) => {
                let counters = &self.shared.registry.counters;
                counters
                    .batches_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
                debug!(
                    conn = self.handle.id,
                    skipped, "ticker connection fell behind; skipping market batches"
                );
                return Ok(());
            }
            Err(RecvError::Closed) => return Err(Exit::FeedStopped),
        };
        let mut out = Vec::new();
        let mut ticks = 0;
        for round in &batch.rounds {
            if let Some(selected) = select(round, |token| self.subs.wants(token, batch.seq)) {
                ticks += selected.packets;
                out.push(Message::Binary(selected.frame));
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        if let Some(observer) = &self.shared.cfg.send_observer {
            let frames: Vec<Bytes> = out
                .iter()
                .filter_map(|m| match m {
                    Message::Binary(frame) => Some(frame.clone()),
                    _ => None,
                })
                .collect();
            observer.observe(&frames);
        }
        let frames = out.len();
        self.send(out).await?;
        self.record(frames, ticks);
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), Exit> {
        self.send(vec![Message::Binary(Bytes::from_static(&HEARTBEAT))])
            .await?;
        bump(&self.shared.registry.counters.heartbeats_sent);
        Ok(())
    }

    /// Writes `msgs` with one flush, giving up at once on shutdown or a `drop` fault (a client
    /// that stopped reading must not keep a dropped connection alive).
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
            () = self.shared.shutdown.cancelled() => return Err(Exit::Shutdown),
            () = self.handle.control.kill.cancelled() => return Err(Exit::Killed),
            written = write => written.map_err(|e| Exit::Io(e.to_string()))?,
        }
        self.last_sent = Instant::now();
        Ok(())
    }

    fn record(&self, frames: usize, ticks: usize) {
        let counters = &self.shared.registry.counters;
        let (frames, ticks) = (frames as u64, ticks as u64);
        counters.frames_sent.fetch_add(frames, Ordering::Relaxed);
        counters.ticks_sent.fetch_add(ticks, Ordering::Relaxed);
        self.handle.frames.fetch_add(frames, Ordering::Relaxed);
        self.handle.ticks.fetch_add(ticks, Ordering::Relaxed);
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(CLOSE_TIMEOUT, self.socket.send(Message::Close(Some(frame)))).await;
    }

    fn add_demand(&self, token: u32, mode: Mode) {
        if let Some(idx) = self.shared.universe.index_of_token(token) {
            self.shared.registry.demand.add(idx, mode);
        }
    }

    fn remove_demand(&self, token: u32, mode: Mode) {
        if let Some(idx) = self.shared.universe.index_of_token(token) {
            self.shared.registry.demand.remove(idx, mode);
        }
    }

    fn release_demand(&mut self) {
        for (token, mode) in self.subs.drain() {
            self.remove_demand(token, mode);
        }
        *lock(&self.handle.subscriptions) = self.subs.summary();
    }
}

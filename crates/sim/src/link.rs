//! The broker-independent half of a WebSocket connection task, shared by the Kite ticker and the
//! Fyers data socket: the control block the fault injector reaches each socket through, how a
//! socket obeys it (garbage frames, stalls, drops; when a heartbeat flood is in force), the
//! select loop that waits for the next thing to do, writing with one flush, and how the task
//! ends (close frame or none).
//!
//! Framing, heartbeats, acknowledgements and what a client message means stay with each broker:
//! a connection task asks [`Link::next`] for an [`Event`] and handles it in its own terms. During
//! a heartbeat flood each broker sends its own no-data frame whenever
//! [`Link::flood_deadline`] passes and drops market batches instead of sending them.

use crate::registry::lock;
use crate::shared::Shared;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Gap between no-data frames during a heartbeat flood: 500 frames/s per connection is a busy
/// stream to any watchdog, yet bounded so that many flooded sockets do not spin a core.
pub(crate) const FLOOD_INTERVAL: Duration = Duration::from_millis(2);

/// Orders the fault injector gives one connection.
#[derive(Debug, Default)]
pub(crate) struct ControlOrders {
    /// Send nothing until then (no heartbeats either), without reading the socket.
    pub stall_until: Option<Instant>,
    /// Garbage frames still to send.
    pub malformed: u32,
    /// Send no-data frames every [`FLOOD_INTERVAL`] and no market data until then.
    pub flood_until: Option<Instant>,
    /// Text frames still to send (Kite order postbacks), in order.
    pub texts: Vec<Utf8Bytes>,
}

/// How the fault injector reaches a connection task.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// Cancelled by a `drop` fault: the task drops the socket without a close frame.
    pub kill: CancellationToken,
    orders: Mutex<ControlOrders>,
    /// Wakes the task after `orders` changed (`notify_one` keeps a permit if it is busy).
    wake: Notify,
}

impl ConnControl {
    /// Changes the orders and wakes the task so that it looks at them.
    pub(crate) fn order(&self, change: impl FnOnce(&mut ControlOrders)) {
        change(&mut self.orders());
        self.wake.notify_one();
    }

    /// Whether the connection is stalled at `now`.
    pub(crate) fn is_stalled(&self, now: Instant) -> bool {
        self.orders().stall_until.is_some_and(|until| until > now)
    }

    /// Whether a heartbeat flood is in force at `now`.
    pub(crate) fn is_flooding(&self, now: Instant) -> bool {
        self.orders().flood_until.is_some_and(|until| until > now)
    }

    fn orders(&self) -> MutexGuard<'_, ControlOrders> {
        lock(&self.orders)
    }

    /// The garbage frames and text frames to send now and the end of a stall in force at
    /// `now`. Both wait while stalled: a stalled socket sends nothing at all.
    fn take_orders(&self, now: Instant) -> (u32, Vec<Utf8Bytes>, Option<Instant>) {
        let mut orders = self.orders();
        let until = orders.stall_until.filter(|until| *until > now);
        if until.is_some() {
            return (0, Vec::new(), until);
        }
        let malformed = std::mem::take(&mut orders.malformed);
        (malformed, std::mem::take(&mut orders.texts), until)
    }
}

/// A registered connection as the fault injector and [`Link`] see it.
pub(crate) trait Controlled {
    /// The connection's id (in logs and `/_sim/state`).
    fn id(&self) -> u64;
    /// Its control block.
    fn control(&self) -> &ConnControl;
}

/// One round of a broker's connection loop: obey the fault orders ([`Link::obey_orders`]), then
/// handle the next [`Event`] ([`Link::next`]) in the broker's terms.
pub(crate) trait Step {
    async fn step(&mut self) -> Result<(), Exit>;
}

/// Runs `conn`'s rounds until one ends the connection, and says why.
pub(crate) async fn serve(conn: &mut impl Step) -> Exit {
    loop {
        if let Err(exit) = conn.step().await {
            return exit;
        }
    }
}

/// What differs between the brokers in the shared half.
#[derive(Debug)]
pub(crate) struct Profile {
    /// How logs name the socket ("ticker connection", "fyers data socket").
    pub label: &'static str,
    /// The `malformed` fault's frame, in the broker's framing.
    pub garbage: &'static [u8],
    /// Counts the garbage frames sent.
    pub malformed_sent: fn(&Shared) -> &AtomicU64,
    /// Counts the market batches skipped by a connection that fell behind.
    pub batches_skipped: fn(&Shared) -> &AtomicU64,
}

/// Why a connection task ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Shutdown,
    /// A `drop` fault: the socket is dropped without a close frame (the client sees 1006).
    Killed,
    /// The broker's protocol asked to close (e.g. acknowledgements missing).
    Closing(u16, &'static str),
    ClientClosed,
    ClientGone,
    Io(String),
    FeedStopped,
}

/// What the connection task has to handle next.
#[derive(Debug)]
pub(crate) enum Event<B> {
    /// A client message other than a close frame.
    Message(Message),
    /// A market batch.
    Batch(Arc<B>),
    /// The deadline given to [`Link::next`] passed.
    Deadline,
    /// Fault orders changed or batches were skipped: only the orders need another look.
    Idle,
}

/// The socket of one connection with its fault controls and market batches.
pub(crate) struct Link<H, B> {
    pub shared: Arc<Shared>,
    pub handle: Arc<H>,
    socket: WebSocket,
    batches: broadcast::Receiver<Arc<B>>,
    /// When the last write finished (Kite's heartbeat is due an interval after it).
    pub last_sent: Instant,
    profile: &'static Profile,
}

impl<H: Controlled, B> Link<H, B> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        handle: Arc<H>,
        socket: WebSocket,
        batches: broadcast::Receiver<Arc<B>>,
        profile: &'static Profile,
    ) -> Self {
        Self {
            shared,
            handle,
            socket,
            batches,
            last_sent: Instant::now(),
            profile,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.handle.id()
    }

    /// Whether a heartbeat flood is in force now: market batches are dropped, not sent.
    pub(crate) fn flooding(&self) -> bool {
        self.handle.control().is_flooding(Instant::now())
    }

    /// When the next no-data frame of a heartbeat flood is due, or `None` outside a flood.
    pub(crate) fn flood_deadline(&self) -> Option<Instant> {
        self.flooding().then(|| self.last_sent + FLOOD_INTERVAL)
    }

    /// Applies pending control orders: garbage frames first, then text frames, then a stall.
    /// Returns whether the connection stalled and has just resumed (the broker may owe the
    /// client something then).
    pub(crate) async fn obey_orders(&mut self) -> Result<bool, Exit> {
        let (malformed, texts, stall_until) = self.handle.control().take_orders(Instant::now());
        for _ in 0..malformed {
            let garbage = Bytes::from_static(self.profile.garbage);
            self.send(vec![Message::Binary(garbage)]).await?;
            (self.profile.malformed_sent)(&self.shared).fetch_add(1, Ordering::Relaxed);
            info!(
                conn = self.id(),
                "{}: sent a malformed frame by fault injection", self.profile.label
            );
        }
        if !texts.is_empty() {
            let count = texts.len();
            self.send(texts.into_iter().map(Message::Text).collect())
                .await?;
            debug!(
                conn = self.id(),
                count, "{}: sent text frames by control request", self.profile.label
            );
        }
        match stall_until {
            Some(until) => self.stall(until).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Sends and reads nothing until `until` (or until the fault is cleared), like a silently
    /// dead TCP path; batches produced meanwhile are skipped.
    async fn stall(&mut self, mut until: Instant) -> Result<(), Exit> {
        let (id, label) = (self.id(), self.profile.label);
        let seconds = until
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        info!(conn = id, seconds, "{label} stalled");
        let control = self.handle.control();
        loop {
            tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => return Err(Exit::Shutdown),
                () = control.kill.cancelled() => return Err(Exit::Killed),
                () = control.wake.notified() => {
                    match control.orders().stall_until {
                        Some(next) if next > Instant::now() => until = next,
                        _ => break,
                    }
                }
                () = sleep_until(until) => break,
            }
        }
        self.batches = self.batches.resubscribe();
        info!(conn = id, "{label} resumed after stall");
        Ok(())
    }

    /// Waits for the next thing to do: shutdown and a `drop` fault end the connection at once,
    /// then changed orders, client messages, market batches and `deadline`, in that order.
    pub(crate) async fn next(&mut self, deadline: Option<Instant>) -> Result<Event<B>, Exit> {
        let control = self.handle.control();
        tokio::select! {
            biased;
            () = self.shared.shutdown.cancelled() => Err(Exit::Shutdown),
            () = control.kill.cancelled() => Err(Exit::Killed),
            () = control.wake.notified() => Ok(Event::Idle),
            msg = self.socket.recv() => match msg {
                None => Err(Exit::ClientGone),
                Some(Err(error)) => Err(Exit::Io(error.to_string())),
                Some(Ok(Message::Close(_))) => Err(Exit::ClientClosed),
                Some(Ok(msg)) => Ok(Event::Message(msg)),
            },
            batch = self.batches.recv() => self.on_batch(batch),
            () = sleep_or_never(deadline) => Ok(Event::Deadline),
        }
    }

    fn on_batch(&self, batch: Result<Arc<B>, RecvError>) -> Result<Event<B>, Exit> {
        match batch {
            Ok(batch) => Ok(Event::Batch(batch)),
            Err(RecvError::Lagged(skipped)) => {
                (self.profile.batches_skipped)(&self.shared).fetch_add(skipped, Ordering::Relaxed);
                debug!(
                    conn = self.id(),
                    skipped, "{} fell behind; skipping market batches", self.profile.label
                );
                Ok(Event::Idle)
            }
            Err(RecvError::Closed) => Err(Exit::FeedStopped),
        }
    }

    /// Writes `msgs` with one flush, giving up at once on shutdown or a `drop` fault (a client
    /// that stopped reading must not keep a dropped connection alive).
    pub(crate) async fn send(&mut self, msgs: Vec<Message>) -> Result<(), Exit> {
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
            () = self.handle.control().kill.cancelled() => return Err(Exit::Killed),
            written = write => written.map_err(|e| Exit::Io(e.to_string()))?,
        }
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Ends the socket as `exit` demands (a close frame, a flushed close reply, or nothing after
    /// a `drop` fault) and logs why. The broker releases its subscriptions before this.
    pub(crate) async fn finish(&mut self, exit: Exit) {
        let (id, label) = (self.id(), self.profile.label);
        match exit {
            Exit::Killed => info!(conn = id, "{label} dropped by fault injection"),
            Exit::Shutdown => {
                self.close(1001, "simulator shutting down").await;
                info!(conn = id, "{label} closed on shutdown");
            }
            Exit::Closing(code, reason) => {
                self.close(code, reason).await;
                info!(conn = id, code, reason, "{label} closed by the server");
            }
            Exit::ClientClosed => {
                // Let tungstenite send its queued reply to the client's close frame.
                let _ = timeout(CLOSE_TIMEOUT, self.socket.flush()).await;
                info!(conn = id, "{label} closed by the client");
            }
            Exit::ClientGone => info!(conn = id, "{label} ended by the client"),
            Exit::Io(error) => info!(conn = id, error = %error, "{label} failed"),
            Exit::FeedStopped => info!(conn = id, "{label} ended: market feed stopped"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_texts_wait_while_stalled_and_are_sent_once() {
        let control = ConnControl::default();
        let now = Instant::now();
        control.order(|orders| orders.malformed += 2);
        control.order(|orders| orders.stall_until = Some(now + Duration::from_secs(5)));
        assert!(control.is_stalled(now));
        control.order(|orders| orders.texts.push(Utf8Bytes::from_static("t")));
        assert_eq!(
            control.take_orders(now),
            (0, vec![], Some(now + Duration::from_secs(5)))
        );
        let later = now + Duration::from_secs(5);
        assert!(!control.is_stalled(later), "a stall ends at its deadline");
        assert_eq!(
            control.take_orders(later),
            (2, vec![Utf8Bytes::from_static("t")], None)
        );
        assert_eq!(control.take_orders(later), (0, vec![], None));
    }

    #[test]
    fn a_flood_ends_at_its_deadline_or_when_cleared() {
        let control = ConnControl::default();
        let now = Instant::now();
        assert!(!control.is_flooding(now));
        control.order(|orders| orders.flood_until = Some(now + Duration::from_secs(3)));
        assert!(control.is_flooding(now) && !control.is_stalled(now));
        assert!(!control.is_flooding(now + Duration::from_secs(3)));
        control.order(|orders| orders.flood_until = None);
        assert!(!control.is_flooding(now));
    }
}

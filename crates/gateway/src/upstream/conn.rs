//! One broker connection (a shard): the I/O around its [`Machine`]. The machine decides (when
//! to connect, wait, declare the socket dead or stale, ask for the REST bridge, what the status
//! says and what is logged); this module performs it: it feeds the machine what happens (the
//! run policy, the token, the demand, attempt outcomes, frames, data, time), opens and closes
//! sockets, publishes the shard status from the machine, and turns its notes into log lines.
//! The only writer to its socket. Broker specifics live behind [`Wire`].
//!
//! Brokers with a login on the socket (Fyers) add three steps through the [`Wire`] hooks, all
//! no-ops for Kite: `prepare` before each attempt and before each subscription change (symbol
//! resolution over REST), a handshake after the upgrade (a refused or unanswered login is
//! classified exactly like Kite's 403), and outbound frames from decoding and keep-alives. A
//! `prepare` that fails on a live socket does not end it: the instruments it could not cover
//! wait for a retry with backoff while the others keep streaming.
//!
//! This file holds the loop between connections; `conn/open.rs` makes one attempt at a live
//! socket, and `conn/live.rs` streams one live connection until it ends.

mod live;
mod open;

use crate::brokers::TokenCheck;
use crate::brokers::wire::Wire;
use crate::config::FeedConfig;
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::store::recording::format::FrameKind;
use crate::store::recording::tap::FrameTap;
use crate::upstream::machine::{Action, Event, Machine, MachineConfig, Note};
use crate::upstream::orders::OrderGate;
use crate::upstream::slot::ShardSlot;
use crate::upstream::state::{Disconnect, FeedEvent};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use open::Outcome;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Fixed parameters of one connection.
#[derive(Debug, Clone)]
pub struct ConnParams {
    pub shard: usize,
    pub feed: FeedConfig,
    /// A connection that stays up this long resets the backoff.
    pub healthy_after: Duration,
    /// TCP + TLS + upgrade must finish within this.
    pub connect_timeout: Duration,
    /// Seed of the backoff jitter.
    pub seed: u64,
}

/// The connection's links to the rest of the gateway.
#[derive(Debug)]
pub struct ConnIo {
    pub demand: watch::Receiver<Arc<Demand>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub run: watch::Receiver<RunPolicy>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    /// Where order updates go (shared by every shard, which drops the copies).
    pub orders: Arc<OrderGate>,
    pub events: broadcast::Sender<FeedEvent>,
    pub status: ShardSlot,
    pub checker: Arc<dyn TokenCheck>,
    pub clock: SharedClock,
    pub gauges: Arc<Gauges>,
    /// Where received frames are recorded (for this shard).
    pub record: FrameTap,
    pub shutdown: CancellationToken,
}

/// Nanoseconds since the Unix epoch (saturating far outside the years any feed runs in).
fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or_else(|| t.timestamp_millis().saturating_mul(1_000_000))
}

/// Runs the connection until shutdown.
pub async fn run<W: Wire>(mut wire: W, p: ConnParams, mut io: ConnIo) {
    let mut c = Conn::new(p);
    let mut order = c.start(&mut io);
    loop {
        order = match order {
            Some(Order::Connect { preflight }) => c.connect(&mut wire, &mut io, preflight).await,
            // A close is only ever asked of a live connection, which handles it itself.
            Some(Order::Close(_)) => None,
            None => c.wait(&mut io).await,
        };
        if io.shutdown.is_cancelled() {
            break;
        }
    }
    c.machine.shut_down();
    c.publish(&io, (0, 0));
}

/// What the machine asks of the I/O around it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Order {
    Connect { preflight: bool },
    Close(Disconnect),
}

struct Conn {
    p: ConnParams,
    machine: Machine,
    /// The machine's actions, reused between events.
    actions: Vec<Action>,
}

impl ConnIo {
    /// Offers a received data frame to the recorder (control frames are not recorded).
    fn record(&self, msg: &Message, now: DateTime<Utc>) {
        if !self.record.is_on() {
            return;
        }
        let (kind, data) = match msg {
            Message::Binary(b) => (FrameKind::Binary, b.clone()),
            Message::Text(t) => (FrameKind::Text, Bytes::from(t.clone())),
            _ => return,
        };
        self.record.offer(ns(now), kind, data);
    }

    /// Marks the start of a new connection in the recording.
    fn record_connected(&self) {
        self.record
            .offer(ns(self.clock.now()), FrameKind::Connected, Bytes::new());
    }

    /// Records what the wire needs to decode the frames that follow (after a subscription
    /// change; nothing for wires whose frames describe themselves).
    fn record_context<W: Wire>(&self, wire: &W) {
        if !self.record.is_on() {
            return;
        }
        if let Some(context) = wire.recording_context() {
            self.record.offer(
                ns(self.clock.now()),
                FrameKind::Context,
                Bytes::from(context),
            );
        }
    }

    fn emit(&self, ev: FeedEvent) {
        // Broadcast never blocks; a lagging listener loses old events, and state lives in the
        // shard status anyway.
        let _ = self.events.send(ev);
    }
}

impl Conn {
    fn new(p: ConnParams) -> Self {
        let feed = &p.feed;
        let cfg = MachineConfig {
            shard: p.shard,
            reconnect_delay: feed.reconnect_delay,
            max_reconnect_delay: feed.max_reconnect_delay,
            max_reconnects: feed.max_reconnects,
            attempts_per_minute: feed.attempts_per_minute,
            bridge_after: feed.bridge_after,
            liveness_timeout: feed.liveness_timeout,
            stale_threshold: feed.stale_threshold,
            healthy_after: p.healthy_after,
            seed: p.seed,
        };
        Self {
            machine: Machine::new(cfg, Instant::now()),
            p,
            actions: Vec::new(),
        }
    }

    /// Tells the machine where things stand at the start.
    fn start(&mut self, io: &mut ConnIo) -> Option<Order> {
        let demand = io.demand.borrow_and_update().len();
        self.step(io, Event::Demand(demand));
        let epoch = io.token.borrow_and_update().as_ref().map(|t| t.epoch);
        self.step(io, Event::Token(epoch));
        let run = *io.run.borrow_and_update();
        self.step(io, Event::Run(run))
    }

    /// Feeds one event to the machine and carries out what needs no socket (publish, emit,
    /// log); returns what does.
    fn step(&mut self, io: &ConnIo, event: Event) -> Option<Order> {
        let counts = self.counts();
        self.machine.on(event, Instant::now(), &mut self.actions);
        self.publish(io, counts);
        let mut order = None;
        for action in self.actions.drain(..) {
            match action {
                Action::Connect { preflight } => order = Some(Order::Connect { preflight }),
                Action::Close(end) => order = order.or(Some(Order::Close(end))),
                Action::Emit(ev) => {
                    if matches!(ev, FeedEvent::AuthRejected { .. }) {
                        metrics::counter!("feedgate_upstream_auth_failures_total").increment(1);
                    }
                    io.emit(ev);
                }
                Action::Log(note) => log(self.p.shard, &note),
            }
        }
        order
    }

    /// The status counters before an event, for the metrics.
    fn counts(&self) -> (u64, u64) {
        let s = self.machine.status();
        (s.reconnects, s.stalls)
    }

    /// Publishes the shard status if the machine changed it: the one writer of the slot.
    fn publish(&mut self, io: &ConnIo, (reconnects, stalls): (u64, u64)) {
        if !self.machine.take_changed() {
            return;
        }
        let status = self.machine.status();
        if status.reconnects > reconnects {
            metrics::counter!("feedgate_upstream_reconnects_total")
                .increment(status.reconnects - reconnects);
        }
        if status.stalls > stalls {
            metrics::counter!("feedgate_upstream_stalls_total").increment(status.stalls - stalls);
        }
        io.status.send_modify(|s| s.clone_from(status));
    }

    /// Between connections: waits for whatever the machine waits for (its deadline, the run
    /// policy, the token, the demand).
    async fn wait(&mut self, io: &mut ConnIo) -> Option<Order> {
        let event = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return None,
            r = io.run.changed() => match r {
                Ok(()) => Event::Run(*io.run.borrow_and_update()),
                Err(_) => return closed(io),
            },
            r = io.token.changed() => match r {
                Ok(()) => Event::Token(io.token.borrow_and_update().as_ref().map(|t| t.epoch)),
                Err(_) => return closed(io),
            },
            r = io.demand.changed() => match r {
                Ok(()) => Event::Demand(io.demand.borrow_and_update().len()),
                Err(_) => return closed(io),
            },
            () = sleep_until_opt(self.machine.deadline()) => Event::Tick,
        };
        self.step(io, event)
    }

    /// One attempt and, if the broker accepts it, the live connection until it ends. The
    /// machine's clock keeps running meanwhile (the REST bridge starts while an attempt hangs).
    async fn connect<W: Wire>(
        &mut self,
        wire: &mut W,
        io: &mut ConnIo,
        preflight: bool,
    ) -> Option<Order> {
        let Some(token) = io.token.borrow().clone() else {
            return self.step(io, Event::AttemptFailed(open::no_token()));
        };
        let p = self.p.clone();
        let outcome = {
            let attempt = open::attempt(wire, io, &p, &token, preflight);
            tokio::pin!(attempt);
            loop {
                tokio::select! {
                    biased;
                    o = &mut attempt => break o,
                    () = sleep_until_opt(self.machine.deadline()) => {
                        self.step(io, Event::Tick);
                    }
                }
            }
        };
        let ws = match outcome {
            Outcome::Shutdown => return None,
            Outcome::Rejected => return self.step(io, Event::TokenRejected),
            Outcome::Failed(e) => return self.step(io, Event::AttemptFailed(e)),
            Outcome::Connected(ws) => ws,
        };
        let end = match self.step(io, Event::Connected) {
            Some(Order::Close(end)) => end,
            _ => self.live(wire, ws, io, &token).await,
        };
        if end == Disconnect::Shutdown {
            return None;
        }
        self.step(io, Event::Ended(end))
    }
}

/// A channel the connection listens to is gone: the gateway is shutting down.
fn closed(io: &ConnIo) -> Option<Order> {
    io.shutdown.cancel();
    None
}

/// One of the machine's notes as a log line.
fn log(shard: usize, note: &Note) {
    match note {
        Note::Connected { recovering: true } => {
            tracing::debug!(shard, "connected to the broker feed (recovering)")
        }
        Note::Connected { recovering: false } => {
            tracing::info!(shard, "connected to the broker feed")
        }
        Note::Subscribed {
            instruments,
            recovering,
        } => {
            if *recovering {
                tracing::debug!(shard, instruments, "subscribed");
            } else {
                tracing::info!(shard, instruments, "subscribed");
            }
        }
        Note::Lost {
            reason,
            lasted,
            first,
            retry_in,
        } => log_lost(shard, reason, *lasted, *first, *retry_in),
        Note::AttemptFailed {
            error,
            failures,
            retry_in,
            first,
        } => {
            let retry_in_s = retry_in.as_secs_f64();
            if *first {
                tracing::warn!(shard, failures, retry_in_s, error = %error, "broker connection attempt failed; retrying with backoff (until a connection stays healthy, further failures like this one are logged at debug)");
            } else {
                tracing::debug!(shard, failures, retry_in_s, error = %error, "broker connection attempt failed; retrying with backoff");
            }
        }
        Note::FallbackReported { failures, first } => {
            if *first {
                tracing::warn!(
                    shard,
                    failures,
                    "WebSocket unusable after {failures} consecutive failures; REST fallback serves while retries continue"
                );
            } else {
                tracing::debug!(
                    shard,
                    failures,
                    "WebSocket failing again; REST fallback serves while retries continue"
                );
            }
        }
        Note::FlapGuard { retry_in } => tracing::warn!(
            shard,
            retry_in_s = retry_in.as_secs_f64(),
            "the broker connection keeps dropping; holding back attempts (flap guard, FEED_MAX_ATTEMPTS_PER_MINUTE); REST bridges the gap"
        ),
        Note::Reconnected {
            instruments,
            failures,
        } => tracing::info!(
            shard,
            instruments,
            failures,
            "reconnected to the broker feed and resubscribed; watching it until it stays healthy"
        ),
        Note::Stable { failures } => tracing::info!(
            shard,
            failures,
            "broker connection recovered (stable again)"
        ),
        Note::Stopped => tracing::info!(shard, "feed stopped by the scheduler"),
        Note::TokenChanged => tracing::info!(shard, "reconnecting with the new access token"),
    }
}

fn log_lost(shard: usize, reason: &Disconnect, lasted: Duration, first: bool, retry_in: Duration) {
    let lasted_s = lasted.as_secs();
    let retry_in_s = retry_in.as_secs_f64();
    if first {
        tracing::warn!(shard, reason = %reason, lasted_s, retry_in_s, "broker connection lost; reconnecting (until a connection stays healthy, further losses like this one are logged at debug)");
    } else {
        tracing::debug!(shard, reason = %reason, lasted_s, retry_in_s, "broker connection lost; reconnecting");
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends queued frames with one flush; a broker that does not take them in time is dead.
async fn send_all<S>(
    sink: &mut S,
    out: &mut Vec<Message>,
    timeout: Duration,
) -> Result<(), Disconnect>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    if out.is_empty() {
        return Ok(());
    }
    let write = async {
        for m in out.drain(..) {
            sink.feed(m).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(timeout.max(Duration::from_secs(1)), write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Disconnect::Error(e.to_string())),
        Err(_) => Err(Disconnect::Dead {
            silent_for: timeout,
        }),
    }
}

#[cfg(test)]
mod tests;

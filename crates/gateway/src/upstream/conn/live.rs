//! One live connection: resubscribe the shard's demand, then read frames and hand their ticks
//! to the hub (and order updates to the shared order gate), and report to the connection machine what happens (frames, data for subscribed
//! instruments, the demand, the run policy, the token, time) until it asks to close. The
//! machine's deadlines are checked before every read and on every frame, so a stream that
//! never pauses cannot starve the watchdog. Not the attempt that opened the socket
//! (`open.rs`), nor what happens after it ends (`conn.rs`).

use super::{Conn, ConnIo, Order, Ws, send_all, sleep_until_opt};
use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::model::demand::Demand;
use crate::model::repeats::Repeats;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::upstream::backoff::Backoff;
use crate::upstream::machine::Event;
use crate::upstream::state::Disconnect;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long a live socket may go unread while new symbols are looked up (Fyers).
const LIVE_PREPARE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the wire may send what keep-alives are due (Fyers; Kite needs none).
const KEEPALIVE_EVERY: Duration = Duration::from_millis(250);

/// When a live connection next brings its subscriptions in line with the demand, and the
/// backoff of preparations that failed (the socket keeps streaming meanwhile).
struct Resync {
    at: Option<Instant>,
    backoff: Backoff,
}

/// What an event asks of the loop besides reading on.
enum Next {
    Read,
    Resync,
}

/// One live connection and what its loop keeps between events.
struct Live<'a, W> {
    conn: &'a mut Conn,
    wire: &'a mut W,
    io: &'a mut ConnIo,
    token: &'a CurrentToken,
    sink: SplitSink<Ws, Message>,
    /// Frames for the broker, sent with one flush.
    out: Vec<Message>,
    /// What the socket is subscribed to: the part of the demand the wire covered.
    sent: Demand,
    /// The ticks of the frame being decoded (see [`take_batch`]).
    ticks: Vec<Tick>,
    resync: Resync,
    /// The last frame of any kind (the wire's keep-alives depend on it).
    last_frame: Instant,
    malformed: Repeats,
    notices: Repeats,
    /// Counted on every data frame: resolved once per connection, not per frame.
    ticks_total: metrics::Counter,
}

impl Conn {
    /// Streams one connected socket until it ends. Returns why.
    pub(super) async fn live<W: Wire>(
        &mut self,
        wire: &mut W,
        ws: Ws,
        io: &mut ConnIo,
        token: &CurrentToken,
    ) -> Disconnect {
        let feed = &self.p.feed;
        let backoff = Backoff::new(feed.reconnect_delay, feed.max_reconnect_delay);
        let (sink, mut stream) = ws.split();
        let mut live = Live {
            conn: self,
            wire,
            io,
            token,
            sink,
            out: Vec::new(),
            sent: Demand::new(),
            ticks: Vec::new(),
            resync: Resync { at: None, backoff },
            last_frame: Instant::now(),
            malformed: Repeats::default(),
            notices: Repeats::default(),
            ticks_total: metrics::counter!("feedgate_upstream_ticks_total"),
        };
        if let Err(end) = live.subscribe_all().await {
            return end;
        }
        let end = live.read_until_end(&mut stream).await;
        live.close(end).await
    }
}

impl<W: Wire> Live<'_, W> {
    /// Resubscribes everything this shard wants, with the right modes.
    async fn subscribe_all(&mut self) -> Result<(), Disconnect> {
        let target = self.io.demand.borrow_and_update().clone();
        self.step(Event::Demand(target.len()))?;
        let prepared = self.sync_demand(&target, true).await?;
        self.prepared(prepared);
        Ok(())
    }

    /// Feeds the machine; a close it asks for ends the connection.
    fn step(&mut self, event: Event) -> Result<(), Disconnect> {
        match self.conn.step(self.io, event) {
            Some(Order::Close(end)) => Err(end),
            _ => Ok(()),
        }
    }

    /// Reads and reacts until the connection ends. The `select!` is biased: its order is the
    /// order of priority, and the machine's deadline comes before the stream.
    async fn read_until_end(&mut self, stream: &mut SplitStream<Ws>) -> Disconnect {
        self.last_frame = Instant::now();
        let mut keepalive = tokio::time::interval(KEEPALIVE_EVERY);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let deadline = self.conn.machine.deadline();
            let next = tokio::select! {
                biased;
                () = self.io.shutdown.cancelled() => Err(Disconnect::Shutdown),
                r = self.io.run.changed() => self.on_run(r),
                r = self.io.token.changed() => self.on_token(r),
                r = self.io.demand.changed() => self.on_demand(r).await,
                () = sleep_until_opt(self.resync.at) => Ok(Next::Resync),
                () = sleep_until_opt(deadline) => self.step(Event::Tick).map(|()| Next::Read),
                frame = stream.next() => self.on_frame(frame).await,
                _ = keepalive.tick() => self.on_keepalive().await,
            };
            let done = match next {
                Ok(Next::Read) => Ok(()),
                Ok(Next::Resync) => self.resync().await,
                Err(end) => Err(end),
            };
            if let Err(end) = done {
                return end;
            }
        }
    }

    /// The scheduler changed the run policy: stop, or follow the market's phase.
    fn on_run(&mut self, changed: Result<(), RecvError>) -> Result<Next, Disconnect> {
        if changed.is_err() {
            return Err(Disconnect::Shutdown);
        }
        let run = *self.io.run.borrow_and_update();
        self.step(Event::Run(run))?;
        Ok(Next::Read)
    }

    /// A new access token ends this connection (the next one uses it).
    fn on_token(&mut self, changed: Result<(), RecvError>) -> Result<Next, Disconnect> {
        if changed.is_err() {
            return Err(Disconnect::Shutdown);
        }
        let epoch = self.io.token.borrow_and_update().as_ref().map(|t| t.epoch);
        self.step(Event::Token(epoch))?;
        Ok(Next::Read)
    }

    /// The demand changed. Gather a burst of changes (brokers that resolve symbols over REST);
    /// a retry already scheduled after a failure takes them along, but what needs no lookup
    /// (removals, mode changes, symbols already resolved) is not held back by that retry's
    /// backoff.
    async fn on_demand(&mut self, changed: Result<(), RecvError>) -> Result<Next, Disconnect> {
        if changed.is_err() {
            return Err(Disconnect::Shutdown);
        }
        let wanted = self.io.demand.borrow().len();
        self.step(Event::Demand(wanted))?;
        if self.resync.at.is_some() && self.resync.backoff.failures() > 0 {
            let target = self.io.demand.borrow().clone();
            self.apply_covered(&target, false).await?;
        } else if self.resync.at.is_none() {
            let gather = self.wire.coalesce();
            if gather.is_zero() {
                return Ok(Next::Resync);
            }
            self.resync.at = Some(Instant::now() + gather);
        }
        Ok(Next::Read)
    }

    /// One frame from the broker: proof of life, maybe ticks for the hub, maybe frames to
    /// answer with.
    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<Next, Disconnect> {
        let msg = match frame {
            None => {
                return Err(Disconnect::Closed {
                    code: None,
                    reason: String::new(),
                });
            }
            Some(Err(e)) => return Err(Disconnect::Error(e.to_string())),
            Some(Ok(m)) => m,
        };
        let now = Instant::now();
        self.last_frame = now;
        self.step(Event::Frame)?;
        // A stream that never pauses must not starve the deadlines.
        if self.conn.machine.deadline().is_some_and(|d| d <= now) {
            self.step(Event::Tick)?;
        }
        if let Message::Close(frame) = &msg {
            return Err(Disconnect::Closed {
                code: frame.as_ref().map(|f| u16::from(f.code)),
                reason: frame
                    .as_ref()
                    .map(|f| f.reason.to_string())
                    .unwrap_or_default(),
            });
        }
        let received = self.io.clock.now();
        self.io.record(&msg, received);
        let now_ms = received.timestamp_millis();
        let inbound = self.wire.decode(&msg, now_ms, &mut self.ticks);
        self.note(inbound)?;
        // Frames decoding produced for the broker (Fyers: acknowledgements).
        self.wire.drain_outbound(&mut self.out);
        self.flush().await?;
        if !self.ticks.is_empty() {
            self.deliver(now_ms).await?;
        }
        Ok(Next::Read)
    }

    /// Counts and logs what a frame was (repeats of a malformed frame or a notice once); a
    /// refusal ends the connection.
    fn note(&mut self, inbound: Inbound) -> Result<(), Disconnect> {
        let shard = self.conn.p.shard;
        match inbound {
            Inbound::Heartbeat | Inbound::Ignored | Inbound::Accepted => {}
            Inbound::Order(update) => {
                self.io.orders.offer(shard, &update);
            }
            Inbound::Data { skipped } => {
                if skipped > 0 {
                    metrics::counter!("feedgate_upstream_skipped_packets_total")
                        .increment(skipped as u64);
                }
            }
            Inbound::Refused { detail } => {
                return Err(Disconnect::Error(format!(
                    "the broker ended the session: {detail}"
                )));
            }
            Inbound::Malformed { detail } => {
                metrics::counter!("feedgate_upstream_malformed_frames_total").increment(1);
                if self.malformed.occur("malformed") {
                    tracing::warn!(shard, detail = %detail, "malformed frame from the broker; skipped it, the feed continues (further ones are counted, not logged)");
                }
            }
            Inbound::Notice { error, text } => {
                if self.notices.occur(&text) {
                    if error {
                        tracing::warn!(shard, message = %text, "broker error message");
                    } else {
                        tracing::info!(shard, message = %text, "broker message");
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands the frame's ticks to the hub. Only ticks for subscribed instruments make the feed
    /// fresh (and end the REST bridge).
    async fn deliver(&mut self, now_ms: i64) -> Result<(), Disconnect> {
        if self.ticks.iter().any(|t| self.sent.contains_key(&t.token)) {
            self.step(Event::Data)?;
        }
        self.io.gauges.last_data_ms.store(now_ms, Ordering::Relaxed);
        self.ticks_total.increment(self.ticks.len() as u64);
        let batch = take_batch(&mut self.ticks);
        // Waiting for room in the hub's channel is backpressure from inside the gateway, not
        // silence of the broker: the watchdog's clocks move past it.
        let blocked = Instant::now();
        tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Err(Disconnect::Shutdown),
            r = self.io.ticks.send(batch) => if r.is_err() { return Err(Disconnect::Shutdown) },
        }
        self.step(Event::Held(blocked.elapsed()))
    }

    /// Application pings and liveness probes (Fyers; Kite needs none).
    async fn on_keepalive(&mut self) -> Result<Next, Disconnect> {
        let now = Instant::now();
        let silent = now.duration_since(self.last_frame);
        self.wire.keepalive(now, silent, &mut self.out);
        self.flush().await?;
        Ok(Next::Read)
    }

    /// Brings the subscriptions in line with the demand now. Reading pauses while the wire
    /// prepares (Fyers: at most one REST call for symbols it has not resolved yet; instant for
    /// Kite). That time is not silence of the broker, so the watchdog's clocks move past it.
    async fn resync(&mut self) -> Result<(), Disconnect> {
        self.resync.at = None;
        let paused = Instant::now();
        let target = self.io.demand.borrow_and_update().clone();
        self.step(Event::Demand(target.len()))?;
        let prepared = self.sync_demand(&target, false).await?;
        self.prepared(prepared);
        self.step(Event::Held(paused.elapsed()))
    }

    /// Brings the subscriptions from `sent` to `target`: prepares the wire (Fyers: resolves
    /// new symbols over REST), then subscribes what it covers and records that in `sent`.
    /// `Ok(Err(_))`: the wire could not prepare everything (a REST failure); what it covers is
    /// subscribed anyway, the socket stays up and the caller retries later. `Err`: the
    /// connection ends (shutdown, a rejected token, a socket that does not take the frames).
    async fn sync_demand(
        &mut self,
        target: &Demand,
        first: bool,
    ) -> Result<Result<(), WireError>, Disconnect> {
        // Bounded: while it waits nothing reads the socket or answers the broker's pings, and
        // the lookup queues behind every other REST caller in the broker's rate limiter. A
        // slow lookup is retried later with backoff, like a failed one.
        let prepared = tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Err(Disconnect::Shutdown),
            r = tokio::time::timeout(LIVE_PREPARE_TIMEOUT, self.wire.prepare(&self.token.token, target, false)) => {
                r.unwrap_or_else(|_| Err(WireError::Unavailable(format!(
                    "symbol lookup took over {} s", LIVE_PREPARE_TIMEOUT.as_secs()
                ))))
            }
        };
        if let Err(e @ WireError::Auth(_)) = &prepared {
            return Err(Disconnect::Error(format!(
                "cannot prepare the subscriptions: {e}"
            )));
        }
        self.apply_covered(target, first).await?;
        Ok(prepared)
    }

    /// Brings the subscriptions from `sent` to the part of `target` the wire can subscribe
    /// without a lookup, and records that in `sent`; `first` after connecting.
    async fn apply_covered(&mut self, target: &Demand, first: bool) -> Result<(), Disconnect> {
        let covered: Demand = target
            .iter()
            .filter(|(t, _)| self.wire.covers(**t))
            .map(|(t, m)| (*t, *m))
            .collect();
        self.wire.diff(&self.sent, &covered, &mut self.out);
        self.flush().await?;
        self.io.record_context(&*self.wire);
        self.sent = covered;
        let instruments = self.sent.len();
        self.step(Event::Subscribed { instruments, first })
    }

    /// What the connection does after preparing its subscriptions: a failure is retried with
    /// backoff (logged when it starts and when it ends), success clears it.
    fn prepared(&mut self, result: Result<(), WireError>) {
        let shard = self.conn.p.shard;
        let resync = &mut self.resync;
        match result {
            Ok(()) => {
                let failed = resync.backoff.failures();
                if failed > 0 {
                    tracing::info!(
                        shard,
                        failed_attempts = failed,
                        "new subscriptions prepared"
                    );
                }
                resync.backoff.reset();
            }
            Err(e) => {
                let retry = resync.backoff.fail(self.conn.machine.jitter());
                resync.at = Some(Instant::now() + retry);
                let retry_in_s = retry.as_secs_f64();
                if resync.backoff.failures() == 1 {
                    tracing::warn!(shard, error = %e, retry_in_s, "cannot prepare new subscriptions; the connection keeps streaming the others and retries with backoff");
                } else {
                    tracing::debug!(shard, error = %e, retry_in_s, "cannot prepare new subscriptions; retrying with backoff");
                }
            }
        }
    }

    /// Sends the queued frames; a broker that does not take them in time is dead.
    async fn flush(&mut self) -> Result<(), Disconnect> {
        let timeout = self.conn.p.feed.liveness_timeout;
        send_all(&mut self.sink, &mut self.out, timeout).await
    }

    /// The connection ended: sums up the malformed frames it skipped, and says goodbye where
    /// the broker should hear one.
    async fn close(mut self, end: Disconnect) -> Disconnect {
        if let Some(n) = self.malformed.clear().filter(|n| *n > 0) {
            tracing::warn!(
                shard = self.conn.p.shard,
                count = n + 1,
                "malformed frames skipped during this connection"
            );
        }
        let code = match end {
            Disconnect::Shutdown => Some(CloseCode::Away),
            Disconnect::Stopped | Disconnect::TokenChanged | Disconnect::Stale { .. } => {
                Some(CloseCode::Normal)
            }
            _ => None,
        };
        if let Some(code) = code {
            let close = self.sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: "".into(),
            })));
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
        }
        end
    }
}

/// Hands the decoded ticks over, leaving an empty buffer with room for as many: the next frame
/// of a large subscription decodes without growing a fresh vector step by step.
pub(super) fn take_batch(ticks: &mut Vec<Tick>) -> Vec<Tick> {
    let len = ticks.len();
    std::mem::replace(ticks, Vec::with_capacity(len))
}

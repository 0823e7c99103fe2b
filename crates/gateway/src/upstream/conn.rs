//! One broker connection (a shard): connect with the current token, subscribe the shard's
//! demand, stream ticks to the hub, watch liveness and freshness, and reconnect with backoff.
//! The only writer to its socket. Broker specifics live behind [`Wire`].
//!
//! Rules (see `docs/ARCHITECTURE.md`):
//! - any frame proves the socket alive; none within `liveness_timeout` → dead → reconnect;
//! - no market data for `stale_threshold` while the market should produce it → stale →
//!   reconnect;
//! - a refused upgrade (403) is classified with a REST profile call; a rejected token stops all
//!   attempts until a new token is published (no 403 storm);
//! - after a failure, the token is checked over REST before the next WebSocket attempt;
//! - the first reconnect after a connection that worked is immediate; consecutive failures back
//!   off; `FEED_MAX_RECONNECTS` consecutive failures ask for the REST fallback;
//! - logs follow failure episodes ([`Episode`]), not attempts: each kind of failure once until
//!   a connection stays healthy for `healthy_after`.
//!
//! Brokers with a login on the socket (Fyers) add three steps through the [`Wire`] hooks, all
//! no-ops for Kite: `prepare` before each attempt and before each subscription change (symbol
//! resolution over REST), a handshake after the upgrade (a refused or unanswered login is
//! classified exactly like Kite's 403), and outbound frames from decoding and keep-alives. A
//! `prepare` that fails on a live socket does not end it: the instruments it could not cover
//! wait for a retry with backoff while the others keep streaming.

use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::brokers::{TokenCheck, TokenVerdict};
use crate::config::FeedConfig;
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::repeats::Repeats;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::upstream::backoff::Backoff;
use crate::upstream::episode::Episode;
use crate::upstream::slot::ShardSlot;
use crate::upstream::state::{AttemptError, Disconnect, FeedEvent, FeedState};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
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
}

/// The connection's links to the rest of the gateway.
#[derive(Debug)]
pub struct ConnIo {
    pub demand: watch::Receiver<Arc<Demand>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub run: watch::Receiver<RunPolicy>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    pub events: broadcast::Sender<FeedEvent>,
    pub status: ShardSlot,
    pub checker: Arc<dyn TokenCheck>,
    pub clock: SharedClock,
    pub gauges: Arc<Gauges>,
    pub shutdown: CancellationToken,
}

/// Runs the connection until shutdown.
pub async fn run<W: Wire>(mut wire: W, p: ConnParams, mut io: ConnIo) {
    let mut c = Conn {
        backoff: Backoff::new(p.feed.reconnect_delay, p.feed.max_reconnect_delay),
        p,
        rejected_epoch: None,
        immediate_used: false,
        connected_once: false,
        preflight_due: true,
        fallback_wanted: false,
        fallback_reported: false,
        episode: Episode::default(),
        rng: Rng::seeded(),
    };
    while let Some(delay) = c.cycle(&mut wire, &mut io).await {
        if !delay.is_zero() && !c.wait(delay, &mut io).await {
            break;
        }
    }
    io.status.send_modify(|s| {
        s.state = FeedState::Disconnected;
        s.idle = true;
    });
}

struct Conn {
    p: ConnParams,
    backoff: Backoff,
    /// Epoch of a token the broker rejected; no attempts until the epoch changes.
    rejected_epoch: Option<u64>,
    /// The one immediate reconnect after a working connection has been spent.
    immediate_used: bool,
    connected_once: bool,
    /// A REST token check is due before the next attempt even without a failure: at start-up
    /// and whenever the scheduler starts the feed, so a token the pre-market check found
    /// rejected is never tried on the WebSocket.
    preflight_due: bool,
    /// The REST fallback should serve (mirrored in the shard status).
    fallback_wanted: bool,
    /// `FallbackWanted` was reported and `Recovered` not yet: the events come in pairs, once
    /// per failure episode, while the flag follows every change.
    fallback_reported: bool,
    /// The failure episode under way, for logging.
    episode: Episode,
    rng: Rng,
}

impl ConnIo {
    fn emit(&self, ev: FeedEvent) {
        // Broadcast never blocks; a lagging listener loses old events, and state lives in the
        // shard status anyway.
        let _ = self.events.send(ev);
    }
}

/// When a live connection next brings its subscriptions in line with the demand, and the
/// backoff of preparations that failed (the socket keeps streaming meanwhile).
struct Resync {
    at: Option<Instant>,
    backoff: Backoff,
}

impl Conn {
    /// One connect attempt (and session). Returns the delay before the next attempt, or `None`
    /// on shutdown.
    async fn cycle<W: Wire>(&mut self, wire: &mut W, io: &mut ConnIo) -> Option<Duration> {
        let token = self.wait_ready(io).await?;
        let shard = self.p.shard;

        // Pre-flight: after a failure, and before the first attempt of a run, ask REST whether
        // the token is still good before opening a socket with it (a rejected token must not
        // produce a 403 storm).
        if self.backoff.failures() > 0 || self.preflight_due {
            self.preflight_due = false;
            let verdict = tokio::select! {
                biased;
                () = io.shutdown.cancelled() => return None,
                v = io.checker.check(token.token.clone()) => v,
            };
            if verdict == TokenVerdict::Rejected {
                return Some(self.auth_rejected(io, &token));
            }
        }

        let attempt = self.backoff.failures() + 1;
        io.status.send_modify(|s| {
            s.state = FeedState::Connecting;
            s.idle = false;
        });
        io.emit(FeedEvent::Connecting { shard, attempt });
        if self.connected_once {
            io.status.send_modify(|s| s.reconnects += 1);
            metrics::counter!("feedgate_upstream_reconnects_total").increment(1);
        }
        // Broker-specific preparation (Fyers: resolve symbols to topics over REST) happens before
        // the socket opens, so the socket never idles waiting for it. A no-op for Kite.
        let demand = io.demand.borrow().clone();
        let prepared = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return None,
            r = wire.prepare(&token.token, &demand, true) => r,
        };
        if let Err(e) = prepared {
            let error = AttemptError::Prepare(e.to_string());
            return match e {
                WireError::Auth(_) => self.classify_refusal(io, &token, error).await,
                WireError::Unavailable(_) => Some(self.failed(io, error)),
            };
        }
        let url = wire.url(token.token.expose());
        let connected = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return None,
            r = connect(&url, self.p.connect_timeout) => r,
        };
        let mut ws = match connected {
            Ok(ws) => ws,
            // Is it the token, or is the WebSocket refused for another reason?
            Err(e @ AttemptError::Upgrade { status: 403 }) => {
                return self.classify_refusal(io, &token, e).await;
            }
            Err(e) => return Some(self.failed(io, e)),
        };
        // Brokers that log in on the socket (Fyers) are connected only once the login is
        // accepted; a refused or unanswered login is classified like a 403. Kite sends nothing
        // here and has no handshake.
        let mut opening = Vec::new();
        wire.on_open(token.token.expose(), &mut opening);
        let opened = match wire.handshake_timeout() {
            Some(limit) => tokio::select! {
                biased;
                () = io.shutdown.cancelled() => return None,
                r = handshake(wire, &mut ws, &mut opening, limit, io) => r,
            },
            None => send_all(&mut ws, &mut opening, self.p.feed.liveness_timeout)
                .await
                .map_err(|d| d.to_string()),
        };
        if let Err(detail) = opened {
            return self
                .classify_refusal(io, &token, AttemptError::Refused(detail))
                .await;
        }

        // Connected.
        self.connected_once = true;
        io.status.send_modify(|s| {
            s.state = FeedState::Connected;
            s.failures = 0;
            s.last_error = None;
            s.auth_rejected = false;
        });
        io.emit(FeedEvent::Connected {
            shard,
            token_epoch: token.epoch,
        });
        if self.episode.is_active() {
            tracing::debug!(shard, "connected to the broker feed (recovering)");
        } else {
            tracing::info!(shard, "connected to the broker feed");
        }
        let started = Instant::now();
        let end = self.session(wire, ws, io, &token, started).await;
        let lasted = started.elapsed();
        // A stall is a silent feed: no frame at all (dead socket) or no data (stale).
        let stalled = matches!(end, Disconnect::Stale { .. } | Disconnect::Dead { .. });
        io.status.send_modify(|s| {
            // `stale` stays visible until the next attempt starts (`connecting`).
            s.state = if matches!(end, Disconnect::Stale { .. }) {
                FeedState::Stale
            } else {
                FeedState::Disconnected
            };
            s.subscribed = 0;
            s.last_disconnect = Some(end.to_string());
            if stalled {
                s.stalls += 1;
            }
        });
        if stalled {
            metrics::counter!("feedgate_upstream_stalls_total").increment(1);
        }
        io.emit(FeedEvent::Disconnected {
            shard,
            reason: end.clone(),
        });
        let kind = match end.failure_kind() {
            Some(kind) => kind,
            None if end == Disconnect::Stopped => {
                tracing::info!(shard, "feed stopped by the scheduler");
                // The next run starts afresh: its first failure is news again.
                self.episode.end();
                self.preflight_due = true;
                io.status.send_modify(|s| s.idle = true);
                return Some(Duration::ZERO);
            }
            None if end == Disconnect::TokenChanged => {
                tracing::info!(shard, "reconnecting with the new access token");
                return Some(Duration::ZERO);
            }
            None => return None,
        };
        if lasted >= self.p.healthy_after {
            self.backoff.reset();
            self.immediate_used = false;
            self.end_episode();
        }
        if self.episode.fail(kind) {
            tracing::warn!(shard, reason = %end, lasted_s = lasted.as_secs(), "broker connection lost; reconnecting (until a connection stays healthy, further losses like this one are logged at debug)");
        } else {
            tracing::debug!(shard, reason = %end, lasted_s = lasted.as_secs(), "broker connection lost; reconnecting");
        }
        if !self.immediate_used {
            // A connection that worked and broke: reconnect at once, it is usually a blip.
            self.immediate_used = true;
            return Some(Duration::ZERO);
        }
        let delay = self.backoff.fail(self.rng.unit());
        tracing::debug!(
            shard,
            retry_in_s = delay.as_secs_f64(),
            "reconnecting after a backoff"
        );
        self.after_failure(io, end.to_string());
        Some(delay)
    }

    /// The broker turned the session down (a 403 upgrade, a refused login, a rejected token):
    /// ask REST whether it is the token. Rejected: no attempts until a new token arrives;
    /// otherwise (the socket is refused for another reason, or REST cannot tell) an ordinary
    /// failed attempt that counts towards the REST fallback. `None` on shutdown.
    async fn classify_refusal(
        &mut self,
        io: &ConnIo,
        token: &CurrentToken,
        error: AttemptError,
    ) -> Option<Duration> {
        // The check may take the REST timeout; shutdown must not wait for it.
        let verdict = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return None,
            v = io.checker.check(token.token.clone()) => v,
        };
        Some(match verdict {
            TokenVerdict::Rejected => self.auth_rejected(io, token),
            TokenVerdict::Valid => self.failed(io, error),
            TokenVerdict::Unknown(e) => {
                tracing::debug!(shard = self.p.shard, error = %e, "could not classify a refused session (REST unreachable)");
                self.failed(io, error)
            }
        })
    }

    /// A failed attempt: back off, report, and ask for the fallback when failures reach the limit.
    fn failed(&mut self, io: &ConnIo, error: AttemptError) -> Duration {
        let delay = self.backoff.fail(self.rng.unit());
        let failures = self.backoff.failures();
        io.status.send_modify(|s| s.state = FeedState::Error);
        io.emit(FeedEvent::AttemptFailed {
            shard: self.p.shard,
            error: error.clone(),
            failures,
            retry_in: delay,
        });
        let shard = self.p.shard;
        let retry_in_s = delay.as_secs_f64();
        if self.episode.fail(error.kind()) {
            tracing::warn!(shard, failures, retry_in_s, error = %error, "broker connection attempt failed; retrying with backoff (until a connection stays healthy, further failures like this one are logged at debug)");
        } else {
            tracing::debug!(shard, failures, retry_in_s, error = %error, "broker connection attempt failed; retrying with backoff");
        }
        self.after_failure(io, error.to_string());
        delay
    }

    fn after_failure(&mut self, io: &ConnIo, error: String) {
        let failures = self.backoff.failures();
        io.status.send_modify(|s| {
            s.failures = failures;
            s.last_error = Some(error);
        });
        if failures >= self.p.feed.max_reconnects && !self.fallback_wanted {
            self.fallback_wanted = true;
            io.status.send_modify(|s| s.fallback_wanted = true);
            let shard = self.p.shard;
            if self.episode.want_fallback() {
                tracing::warn!(
                    shard,
                    failures,
                    "WebSocket unusable after {failures} consecutive failures; REST fallback should take over while retries continue"
                );
                self.fallback_reported = true;
                io.emit(FeedEvent::FallbackWanted { shard });
            } else {
                tracing::debug!(
                    shard,
                    failures,
                    "WebSocket failing again; REST fallback should take over while retries continue"
                );
            }
        }
    }

    /// A connection has stayed up for `healthy_after`: the failure episode, if any, is over.
    fn end_episode(&mut self) {
        if let Some(failures) = self.episode.end() {
            tracing::info!(
                shard = self.p.shard,
                failures,
                "broker connection recovered (stable again)"
            );
        }
    }

    fn auth_rejected(&mut self, io: &ConnIo, token: &CurrentToken) -> Duration {
        self.rejected_epoch = Some(token.epoch);
        io.status.send_modify(|s| {
            s.state = FeedState::Error;
            s.auth_rejected = true;
            s.last_error = Some("access token rejected by the broker".into());
        });
        metrics::counter!("feedgate_upstream_auth_failures_total").increment(1);
        io.emit(FeedEvent::AuthRejected {
            shard: self.p.shard,
            token_epoch: token.epoch,
        });
        // No backoff needed: `wait_ready` blocks until a different token is published.
        Duration::ZERO
    }

    /// Waits until the feed should run and a usable token exists. `None` on shutdown.
    async fn wait_ready(&mut self, io: &mut ConnIo) -> Option<CurrentToken> {
        loop {
            let run = *io.run.borrow_and_update();
            let token = io.token.borrow_and_update().clone();
            let usable = token
                .as_ref()
                .filter(|t| Some(t.epoch) != self.rejected_epoch);
            if run.should_run
                && let Some(t) = usable
            {
                if self.rejected_epoch.is_some() {
                    // A new token: forget the rejection and the failures it caused.
                    self.rejected_epoch = None;
                    self.backoff.reset();
                    self.immediate_used = false;
                    io.status.send_modify(|s| s.auth_rejected = false);
                }
                return Some(t.clone());
            }
            io.status.send_modify(|s| {
                s.idle = !run.should_run;
                // An error stays until the next attempt, and so does `stale` while the feed
                // should run.
                let keep =
                    s.state == FeedState::Error || (s.state == FeedState::Stale && run.should_run);
                if !keep {
                    s.state = FeedState::Disconnected;
                }
            });
            tokio::select! {
                biased;
                () = io.shutdown.cancelled() => return None,
                r = io.run.changed() => if r.is_err() { return None },
                r = io.token.changed() => if r.is_err() { return None },
            }
        }
    }

    /// Sleeps `delay` unless a new token or a scheduler stop makes waiting pointless. `false`
    /// on shutdown.
    async fn wait(&mut self, delay: Duration, io: &mut ConnIo) -> bool {
        let until = Instant::now() + delay;
        let epoch = io.token.borrow().as_ref().map(|t| t.epoch);
        loop {
            tokio::select! {
                biased;
                () = io.shutdown.cancelled() => return false,
                () = tokio::time::sleep_until(until) => return true,
                r = io.token.changed() => {
                    if r.is_err() { return false; }
                    if io.token.borrow().as_ref().map(|t| t.epoch) != epoch {
                        self.backoff.reset();
                        return true;
                    }
                }
                r = io.run.changed() => {
                    if r.is_err() { return false; }
                    if !io.run.borrow().should_run { return true; }
                }
            }
        }
    }

    /// What a live connection does after preparing its subscriptions: a failure is retried
    /// with backoff (logged when it starts and when it ends), success clears it.
    fn prepared(&mut self, resync: &mut Resync, result: Result<(), WireError>) {
        let shard = self.p.shard;
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
                let retry = resync.backoff.fail(self.rng.unit());
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

    /// Streams one connected socket until it ends. Returns why.
    async fn session<W: Wire>(
        &mut self,
        wire: &mut W,
        ws: Ws,
        io: &mut ConnIo,
        token: &CurrentToken,
        started: Instant,
    ) -> Disconnect {
        let shard = self.p.shard;
        let feed = self.p.feed.clone();
        let (mut sink, mut stream) = ws.split();
        let mut out = Vec::new();
        let mut sent = Demand::new();
        let mut had_data = false;
        let mut malformed = Repeats::default();
        let mut notices = Repeats::default();
        let mut resync = Resync {
            at: None,
            backoff: Backoff::new(feed.reconnect_delay, feed.max_reconnect_delay),
        };

        // Resubscribe everything this shard wants, with the right modes.
        let target = io.demand.borrow_and_update().clone();
        let limit = feed.liveness_timeout;
        let prepared = match sync_demand(
            wire, &mut sink, &mut out, &mut sent, &target, token, io, limit,
        )
        .await
        {
            Ok(p) => p,
            Err(end) => return end,
        };
        io.emit(FeedEvent::Resubscribed {
            shard,
            instruments: sent.len(),
        });
        if self.episode.is_active() {
            tracing::debug!(shard, instruments = sent.len(), "subscribed");
        } else {
            tracing::info!(shard, instruments = sent.len(), "subscribed");
        }
        self.prepared(&mut resync, prepared);

        let mut expects_data = io.run.borrow_and_update().expects_data;
        let mut last_frame = Instant::now();
        let mut last_data = last_frame;
        let mut check = tokio::time::interval(Duration::from_millis(250));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: Vec<Tick> = Vec::new();
        let end = loop {
            let mut resync_now = false;
            tokio::select! {
                biased;
                () = io.shutdown.cancelled() => break Disconnect::Shutdown,
                r = io.run.changed() => {
                    if r.is_err() { break Disconnect::Shutdown; }
                    let run = *io.run.borrow_and_update();
                    if !run.should_run { break Disconnect::Stopped; }
                    // The market opens (pre-open or auction → live): the quiet before it was
                    // no silence of the broker's, so freshness counts from now.
                    if run.expects_data && !expects_data {
                        last_data = Instant::now();
                    }
                    expects_data = run.expects_data;
                }
                r = io.token.changed() => {
                    if r.is_err() { break Disconnect::Shutdown; }
                    let now_epoch = io.token.borrow().as_ref().map(|t| t.epoch);
                    if now_epoch != Some(token.epoch) { break Disconnect::TokenChanged; }
                }
                r = io.demand.changed() => {
                    if r.is_err() { break Disconnect::Shutdown; }
                    // Gather a burst of changes (brokers that resolve symbols over REST);
                    // a retry already scheduled after a failure takes them along, but what
                    // needs no lookup (removals, mode changes, symbols already resolved) is
                    // not held back by that retry's backoff.
                    if resync.at.is_some() && resync.backoff.failures() > 0 {
                        let target = io.demand.borrow().clone();
                        if let Err(end) = apply_covered(wire, &mut sink, &mut out, &mut sent, &target, io, limit).await {
                            break end;
                        }
                    } else if resync.at.is_none() {
                        let gather = wire.coalesce();
                        if gather.is_zero() {
                            resync_now = true;
                        } else {
                            resync.at = Some(Instant::now() + gather);
                        }
                    }
                }
                () = sleep_until_opt(resync.at) => resync_now = true,
                frame = stream.next() => {
                    let msg = match frame {
                        None => break Disconnect::Closed { code: None, reason: String::new() },
                        Some(Err(e)) => break Disconnect::Error(e.to_string()),
                        Some(Ok(m)) => m,
                    };
                    last_frame = Instant::now();
                    if let Message::Close(frame) = &msg {
                        break Disconnect::Closed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.as_ref().map(|f| f.reason.to_string()).unwrap_or_default(),
                        };
                    }
                    let now_ms = io.clock.now_ms();
                    match wire.decode(&msg, now_ms, &mut ticks) {
                        Inbound::Heartbeat | Inbound::Ignored | Inbound::Accepted => {}
                        Inbound::Data { skipped } => {
                            if skipped > 0 {
                                metrics::counter!("feedgate_upstream_skipped_packets_total").increment(skipped as u64);
                            }
                        }
                        Inbound::Refused { detail } => {
                            break Disconnect::Error(format!("the broker ended the session: {detail}"));
                        }
                        Inbound::Malformed { detail } => {
                            metrics::counter!("feedgate_upstream_malformed_frames_total").increment(1);
                            if malformed.occur("malformed") {
                                tracing::warn!(shard, detail = %detail, "malformed frame from the broker; skipped it, the feed continues (further ones are counted, not logged)");
                            }
                        }
                        Inbound::Notice { error, text } => {
                            if notices.occur(&text) {
                                if error {
                                    tracing::warn!(shard, message = %text, "broker error message");
                                } else {
                                    tracing::info!(shard, message = %text, "broker message");
                                }
                            }
                        }
                    }
                    // Frames decoding produced for the broker (Fyers: acknowledgements).
                    wire.drain_outbound(&mut out);
                    if let Err(e) = send_all(&mut sink, &mut out, feed.liveness_timeout).await {
                        break e;
                    }
                    if !ticks.is_empty() {
                        last_data = last_frame;
                        if !had_data && self.fallback_wanted {
                            self.fallback_wanted = false;
                            io.status.send_modify(|s| s.fallback_wanted = false);
                            if std::mem::take(&mut self.fallback_reported) {
                                io.emit(FeedEvent::Recovered { shard });
                            }
                        }
                        had_data = true;
                        io.gauges.last_data_ms.store(now_ms, Ordering::Relaxed);
                        metrics::counter!("feedgate_upstream_ticks_total").increment(ticks.len() as u64);
                        let batch = take_batch(&mut ticks);
                        // Waiting for room in the hub's channel is backpressure from inside the
                        // gateway, not silence of the broker: the watchdog's clocks move past it.
                        let blocked = Instant::now();
                        tokio::select! {
                            biased;
                            () = io.shutdown.cancelled() => break Disconnect::Shutdown,
                            r = io.ticks.send(batch) => if r.is_err() { break Disconnect::Shutdown },
                        }
                        let waited = blocked.elapsed();
                        last_frame += waited;
                        last_data += waited;
                    }
                }
                _ = check.tick() => {
                    let now = Instant::now();
                    let silent = now.duration_since(last_frame);
                    if silent >= feed.liveness_timeout {
                        break Disconnect::Dead { silent_for: silent };
                    }
                    let quiet = now.duration_since(last_data);
                    if expects_data && !sent.is_empty() && quiet >= feed.stale_threshold {
                        break Disconnect::Stale { no_data_for: quiet };
                    }
                    if now.duration_since(started) >= self.p.healthy_after {
                        self.end_episode();
                    }
                    // Application pings and liveness probes (Fyers; Kite needs none).
                    wire.keepalive(now, silent, &mut out);
                    if let Err(e) = send_all(&mut sink, &mut out, feed.liveness_timeout).await {
                        break e;
                    }
                }
            }
            if resync_now {
                // Reading pauses while the wire prepares (Fyers: at most one REST call for
                // symbols it has not resolved yet; instant for Kite). That time is not silence
                // of the broker, so the watchdog's clocks move past it.
                resync.at = None;
                let paused = Instant::now();
                let target = io.demand.borrow_and_update().clone();
                let prepared = match sync_demand(
                    wire, &mut sink, &mut out, &mut sent, &target, token, io, limit,
                )
                .await
                {
                    Ok(p) => p,
                    Err(end) => break end,
                };
                self.prepared(&mut resync, prepared);
                let waited = paused.elapsed();
                last_frame += waited;
                last_data += waited;
            }
        };
        if let Some(n) = malformed.clear().filter(|n| *n > 0) {
            tracing::warn!(
                shard,
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
            let close = sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: "".into(),
            })));
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
        }
        end
    }
}

/// Brings a live socket's subscriptions from `sent` to the part of `target` the wire can
/// subscribe without a lookup, and records that in `sent`.
async fn apply_covered<W: Wire, S>(
    wire: &mut W,
    sink: &mut S,
    out: &mut Vec<Message>,
    sent: &mut Demand,
    target: &Demand,
    io: &ConnIo,
    send_timeout: Duration,
) -> Result<(), Disconnect>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let covered: Demand = target
        .iter()
        .filter(|(t, _)| wire.covers(**t))
        .map(|(t, m)| (*t, *m))
        .collect();
    wire.diff(sent, &covered, out);
    send_all(sink, out, send_timeout).await?;
    *sent = covered;
    io.status.send_modify(|s| s.subscribed = sent.len());
    Ok(())
}

/// How long a live socket may go unread while new symbols are looked up (Fyers).
const LIVE_PREPARE_TIMEOUT: Duration = Duration::from_secs(5);

/// Brings a live socket's subscriptions from `sent` to `target`: prepares the wire (Fyers:
/// resolves new symbols over REST), then subscribes what it covers and records that in `sent`.
/// `Ok(Err(_))`: the wire could not prepare everything (a REST failure); what it covers is
/// subscribed anyway, the socket stays up and the caller retries later. `Err`: the session
/// ends (shutdown, a rejected token, a socket that does not take the frames).
#[allow(clippy::too_many_arguments)]
async fn sync_demand<W: Wire, S>(
    wire: &mut W,
    sink: &mut S,
    out: &mut Vec<Message>,
    sent: &mut Demand,
    target: &Demand,
    token: &CurrentToken,
    io: &ConnIo,
    send_timeout: Duration,
) -> Result<Result<(), WireError>, Disconnect>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    // Bounded: while it waits nothing reads the socket or answers the broker's pings, and the
    // lookup queues behind every other REST caller in the broker's rate limiter. A slow
    // lookup is retried later with backoff, like a failed one.
    let prepared = tokio::select! {
        biased;
        () = io.shutdown.cancelled() => return Err(Disconnect::Shutdown),
        r = tokio::time::timeout(LIVE_PREPARE_TIMEOUT, wire.prepare(&token.token, target, false)) => {
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
    apply_covered(wire, sink, out, sent, target, io, send_timeout).await?;
    Ok(prepared)
}

/// Hands the decoded ticks over, leaving an empty buffer with room for as many: the next frame
/// of a large subscription decodes without growing a fresh vector step by step.
fn take_batch(ticks: &mut Vec<Tick>) -> Vec<Tick> {
    let len = ticks.len();
    std::mem::replace(ticks, Vec::with_capacity(len))
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends the opening frames, then reads until the broker accepts or refuses the login. Every
/// other outcome (no answer within `limit`, a close, a socket error) is a refusal too: the
/// caller classifies it with a REST token check.
async fn handshake<W: Wire>(
    wire: &mut W,
    ws: &mut Ws,
    opening: &mut Vec<Message>,
    limit: Duration,
    io: &ConnIo,
) -> Result<(), String> {
    send_all(ws, opening, limit)
        .await
        .map_err(|d| d.to_string())?;
    let deadline = Instant::now() + limit;
    // Nothing is subscribed yet, so no ticks can arrive; anything decoded is dropped.
    let mut scratch = Vec::new();
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => {
                return Err(format!(
                    "no answer to the login within {} s",
                    limit.as_secs()
                ));
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err("the broker closed the socket during the login".into());
            }
            Ok(Some(Err(e))) => return Err(format!("socket error during the login: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        match wire.decode(&msg, io.clock.now_ms(), &mut scratch) {
            Inbound::Accepted => return Ok(()),
            Inbound::Refused { detail } => return Err(detail),
            _ => scratch.clear(),
        }
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

/// Opens the WebSocket. Never includes the URL (it carries the token) in errors.
async fn connect(url: &str, timeout: Duration) -> Result<Ws, AttemptError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let fut = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(AttemptError::Connect(format!(
            "no WebSocket handshake within {} s",
            timeout.as_secs()
        ))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => Err(AttemptError::Upgrade {
            status: resp.status().as_u16(),
        }),
        Ok(Err(e)) => Err(AttemptError::Connect(describe(&e))),
    }
}

/// A tungstenite error as text without any URL in it.
fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => io.to_string(),
        tungstenite::Error::Url(_) => {
            "invalid WebSocket URL (check KITE_WS_URL or FYERS_WS_URL)".into()
        }
        tungstenite::Error::Tls(t) => format!("TLS: {t}"),
        other => other.to_string(),
    }
}

/// A tiny xorshift generator for backoff jitter: no need for cryptographic randomness, and no
/// shared global state between shards.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self(t | 1)
    }

    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;

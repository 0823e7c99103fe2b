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
//!
//! This file holds the cycle of attempts and its bookkeeping (backoff, failure episodes, the
//! REST fallback, the waits between attempts); `conn/open.rs` makes one attempt at a live
//! socket, and `conn/live.rs` streams one live connection until it ends.

mod live;
mod open;

use crate::brokers::wire::Wire;
use crate::brokers::{TokenCheck, TokenVerdict};
use crate::config::FeedConfig;
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::upstream::backoff::Backoff;
use crate::upstream::episode::Episode;
use crate::upstream::slot::ShardSlot;
use crate::upstream::state::{AttemptError, Disconnect, FailureKind, FeedEvent, FeedState};
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// When to try again: after this delay, or `None`: never (shutdown).
type Retry = Option<Duration>;

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

impl Conn {
    /// One connect attempt and, if it connects, the live connection. Returns when to try
    /// again.
    async fn cycle<W: Wire>(&mut self, wire: &mut W, io: &mut ConnIo) -> Retry {
        let token = self.wait_ready(io).await?;
        let ws = match self.attempt(wire, io, &token).await {
            Ok(ws) => ws,
            Err(retry) => return retry,
        };
        self.connected(io, &token);
        let started = Instant::now();
        let end = self.live(wire, ws, io, &token, started).await;
        self.after_live(io, end, started.elapsed())
    }

    /// The socket is up and the broker accepted it: report, and log unless reconnecting is
    /// routine in this failure episode.
    fn connected(&mut self, io: &ConnIo, token: &CurrentToken) {
        let shard = self.p.shard;
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
    }

    /// A live connection ended after `lasted`: records why, and decides when to try again.
    fn after_live(&mut self, io: &ConnIo, end: Disconnect, lasted: Duration) -> Retry {
        self.record_end(io, &end);
        match end.failure_kind() {
            Some(kind) => Some(self.lost(io, &end, kind, lasted)),
            None => self.ended_on_purpose(io, &end),
        }
    }

    /// Why the connection ended, in the shard status, the stall count and the events.
    fn record_end(&self, io: &ConnIo, end: &Disconnect) {
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
            shard: self.p.shard,
            reason: end.clone(),
        });
    }

    /// An end that is no failure: a scheduler stop or a new token (reconnect at once, or wait
    /// for the next run), or shutdown.
    fn ended_on_purpose(&mut self, io: &ConnIo, end: &Disconnect) -> Retry {
        let shard = self.p.shard;
        match end {
            Disconnect::Stopped => {
                tracing::info!(shard, "feed stopped by the scheduler");
                // The next run starts afresh: its first failure is news again.
                self.episode.end();
                self.preflight_due = true;
                io.status.send_modify(|s| s.idle = true);
                Some(Duration::ZERO)
            }
            Disconnect::TokenChanged => {
                tracing::info!(shard, "reconnecting with the new access token");
                Some(Duration::ZERO)
            }
            _ => None,
        }
    }

    /// A connection that worked was lost: at once the first time, with backoff after that.
    fn lost(
        &mut self,
        io: &ConnIo,
        end: &Disconnect,
        kind: FailureKind,
        lasted: Duration,
    ) -> Duration {
        let shard = self.p.shard;
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
            return Duration::ZERO;
        }
        let delay = self.backoff.fail(self.rng.unit());
        tracing::debug!(
            shard,
            retry_in_s = delay.as_secs_f64(),
            "reconnecting after a backoff"
        );
        self.after_failure(io, end.to_string());
        delay
    }

    /// The broker turned the connection down (a 403 upgrade, a refused login, a rejected token):
    /// ask REST whether it is the token. Rejected: no attempts until a new token arrives;
    /// otherwise (the socket is refused for another reason, or REST cannot tell) an ordinary
    /// failed attempt that counts towards the REST fallback. `None` on shutdown.
    async fn classify_refusal(
        &mut self,
        io: &ConnIo,
        token: &CurrentToken,
        error: AttemptError,
    ) -> Retry {
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

    /// Data flows again: the REST fallback can stand down (reported once per episode).
    fn recovered(&mut self, io: &ConnIo) {
        if self.fallback_wanted {
            self.fallback_wanted = false;
            io.status.send_modify(|s| s.fallback_wanted = false);
            if std::mem::take(&mut self.fallback_reported) {
                io.emit(FeedEvent::Recovered {
                    shard: self.p.shard,
                });
            }
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

//! One client connection on `/ws/market`: reads requests, writes replies, ticks, status and
//! heartbeats. One task per connection; `select!` (biased: shutdown first) over inbound frames,
//! the outbox, the throttle timer, heartbeats and status changes.
//!
//! Generic over the socket (`Sink` + `Stream` of axum WebSocket messages) so it can be driven
//! by channels in tests as well as by a real WebSocket.
//!
//! Frame sizes: a text frame over [`ClientLimits::max_frame_bytes`] (64 KiB by default) gets an
//! `error` (`frame_too_large`) and the connection stays open. A message over the hard cap,
//! [`ClientLimits::max_message_bytes`] (1 MiB), is refused by the WebSocket reader at its
//! header and cannot be skipped, so it gets the same `error` followed by a close with code 1009
//! (message too big) and a reason.

use crate::clients::limits::{Admit, ClientLimits, RateLimiter};
use crate::hub::{ClientId, Drained, HubHandle, Outbox};
use crate::json::messages::{
    Ack, ConnectionHealth, ConnectionStatus, Heartbeat, Rejected, error_text, pong_text, to_text,
};
use crate::json::request::{self, ErrorCode, Request, RequestId};
use crate::model::clock::SharedClock;
use crate::model::instruments::{Instrument, Registry};
use crate::model::ist::ist_string;
use crate::model::tick::{Mode, Token};
use crate::status::view::{ClientStatus, StatusView};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// Everything a client task needs, shared by all of them.
#[derive(Debug, Clone)]
pub struct ClientContext {
    pub hub: HubHandle,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub limits: ClientLimits,
    /// `TICK_THROTTLE_MS`: default conflation interval (0 = every tick).
    pub default_throttle: Duration,
    /// `HEARTBEAT_INTERVAL`.
    pub heartbeat_interval: Duration,
    pub status: StatusView,
    pub clock: SharedClock,
}

/// Why a session ended (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    ClientClosed,
    Shutdown,
    Flood,
    SlowConsumer,
    /// A message over the socket's hard size cap.
    FrameTooLarge,
    SocketError(String),
}

/// How long the last words to a departing client (an `error`, the close frame) may take.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves one client until it disconnects, floods, stalls or feedgate shuts down.
pub async fn serve<S>(socket: S, ctx: ClientContext, shutdown: CancellationToken)
where
    S: Sink<Message, Error = axum::Error> + Stream<Item = Result<Message, axum::Error>> + Send,
{
    let id = ctx.hub.next_client_id();
    let outbox = Arc::new(Outbox::new(ctx.limits.outbox_immediate_bytes));
    ctx.status
        .gauges
        .connections
        .fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("feedgate_client_connections").increment(1.0);
    let mut session = Session {
        id,
        throttle: ctx.default_throttle,
        rate: RateLimiter::new(&ctx.limits, Instant::now()),
        subs: HashMap::new(),
        outbox,
        ctx,
    };
    let (sink, stream) = socket.split();
    let end = session.run(sink, stream, &shutdown).await;
    if let Err(e) = session.ctx.hub.disconnect(id).await {
        tracing::debug!(client = id, error = %e, "hub gone while disconnecting a client");
    }
    session
        .ctx
        .status
        .gauges
        .connections
        .fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("feedgate_client_connections").decrement(1.0);
    tracing::debug!(client = id, reason = ?end, "client session ended");
}

struct Session {
    id: ClientId,
    ctx: ClientContext,
    outbox: Arc<Outbox>,
    throttle: Duration,
    rate: RateLimiter,
    /// This client's subscriptions: token → mode.
    subs: HashMap<Token, Mode>,
}

impl Session {
    async fn run<W, R>(&mut self, mut sink: W, mut stream: R, shutdown: &CancellationToken) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let mut status_rx = self.ctx.status.status.clone();
        let mut sent_key = {
            let st = status_rx.borrow_and_update().clone();
            self.push(self.connection_status(&st));
            st.change_key()
        };
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + self.ctx.heartbeat_interval,
            self.ctx.heartbeat_interval,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drained = Drained::default();
        let mut last_tick_flush: Option<Instant> = None;
        let mut status_open = true;

        loop {
            // Write what is due. Replies, status and snapshots go at once; ticks at most once
            // per throttle interval (leading edge: after a quiet spell the first tick is
            // immediate; during bursts the newest values go out at the end of each interval).
            let now = Instant::now();
            let ticks_due = last_tick_flush.is_none_or(|t| now >= t + self.throttle);
            if let Err(over) = self.outbox.drain_into(&mut drained, ticks_due) {
                let msg =
                    format!("{over}; disconnecting. Subscribe to fewer symbols or read faster.");
                let text = error_text(ErrorCode::SlowConsumer, &msg, &None);
                // The client is not reading: this write may never complete.
                if !send_farewell(&mut sink, text, shutdown).await {
                    return End::Shutdown;
                }
                close(&mut sink, close_code::POLICY, "slow consumer").await;
                return End::SlowConsumer;
            }
            if !drained.is_empty() {
                let n_ticks = drained.ticks.len();
                let write = write_all(&mut sink, &mut drained);
                let res = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return End::Shutdown,
                    r = tokio::time::timeout(self.ctx.limits.write_timeout, write) => r,
                };
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return End::SocketError(e.to_string()),
                    Err(_) => {
                        tracing::info!(
                            client = self.id,
                            timeout_s = self.ctx.limits.write_timeout.as_secs(),
                            "client stopped reading; disconnecting"
                        );
                        return End::SlowConsumer;
                    }
                }
                if n_ticks > 0 {
                    // One sample per write batch: the oldest tick's time from the hub to the
                    // socket, and how many instruments were waiting.
                    if let Some(since) = drained.since.take() {
                        metrics::histogram!("feedgate_tick_latency_seconds")
                            .record(since.elapsed().as_secs_f64());
                    }
                    metrics::histogram!("feedgate_client_outbox_depth").record(n_ticks as f64);
                    last_tick_flush = Some(now);
                    metrics::counter!("feedgate_client_messages_total").increment(n_ticks as u64);
                }
            }
            // Pending ticks not yet due wake us at the end of the interval.
            let tick_timer = match last_tick_flush {
                Some(t) if !self.throttle.is_zero() && self.outbox.has_pending_ticks() => {
                    Some(t + self.throttle)
                }
                _ => None,
            };

            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    close(&mut sink, close_code::AWAY, "feedgate is shutting down").await;
                    return End::Shutdown;
                }
                frame = stream.next() => match frame {
                    None => return End::ClientClosed,
                    Some(Err(e)) => {
                        let e = e.into_inner();
                        let Some(tungstenite::Error::Capacity(cap)) =
                            e.downcast_ref::<tungstenite::Error>()
                        else {
                            return End::SocketError(e.to_string());
                        };
                        let size = match cap {
                            tungstenite::error::CapacityError::MessageTooLong { size, .. } => {
                                format!("a message of {size} bytes")
                            }
                            other => other.to_string(),
                        };
                        let msg = format!(
                            "{size} is over the {} byte hard limit, so the connection is \
                             closed; requests must stay under {} bytes (split them)",
                            self.ctx.limits.max_message_bytes, self.ctx.limits.max_frame_bytes
                        );
                        tracing::info!(client = self.id, error = %cap, "client message over the hard size cap; closing");
                        let text = error_text(ErrorCode::FrameTooLarge, &msg, &None);
                        if send_farewell(&mut sink, text, shutdown).await {
                            close(&mut sink, close_code::SIZE, "message too big").await;
                        }
                        return End::FrameTooLarge;
                    }
                    Some(Ok(msg)) => {
                        if let Some(end) = self.on_frame(msg).await {
                            if end == End::Flood {
                                close(&mut sink, close_code::POLICY, "message rate limit exceeded; slow down").await;
                                discard_until_closed(&mut stream).await;
                            }
                            return end;
                        }
                    }
                },
                () = sleep_until_opt(tick_timer) => {}
                () = self.outbox.notified() => {}
                _ = heartbeat.tick() => {
                    let hb = self.heartbeat(&status_rx.borrow());
                    self.push(hb);
                }
                changed = status_rx.changed(), if status_open => {
                    if changed.is_ok() {
                        let st = status_rx.borrow_and_update().clone();
                        if st.change_key() != sent_key {
                            sent_key = st.change_key();
                            self.push(self.connection_status(&st));
                        }
                    } else {
                        // The status producer is gone, which only happens at shutdown; stop
                        // polling it rather than spin on a closed channel.
                        status_open = false;
                    }
                }
            }
        }
    }

    /// Queues a message for immediate delivery. An overflow is reported on the next drain.
    fn push(&self, msg: Utf8Bytes) {
        let _ = self.outbox.push_immediate(msg);
    }

    fn error(&self, code: ErrorCode, message: &str, id: &RequestId) {
        self.push(error_text(code, message, id));
    }

    /// Handles one inbound frame; `Some` ends the session.
    async fn on_frame(&mut self, msg: Message) -> Option<End> {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                self.error(
                    ErrorCode::UnsupportedFrame,
                    "binary frames are not supported; send JSON text frames",
                    &None,
                );
                return None;
            }
            // Pings are answered by the WebSocket layer; pongs need nothing.
            Message::Ping(_) | Message::Pong(_) => return None,
            Message::Close(_) => return Some(End::ClientClosed),
        };
        match self.rate.admit(Instant::now()) {
            Admit::Accept => {}
            Admit::Drop { notify } => {
                if notify {
                    let msg = format!(
                        "too many requests; the limit is {}/s (bursts of {}). This one was dropped.",
                        self.ctx.limits.rate_per_sec, self.ctx.limits.burst
                    );
                    self.error(ErrorCode::RateLimited, &msg, &None);
                }
                return None;
            }
            Admit::Disconnect => {
                tracing::info!(client = self.id, "client flooding requests; disconnecting");
                return Some(End::Flood);
            }
        }
        if text.len() > self.ctx.limits.max_frame_bytes {
            let msg = format!(
                "frame of {} bytes is over the {} byte limit; split the request",
                text.len(),
                self.ctx.limits.max_frame_bytes
            );
            self.error(ErrorCode::FrameTooLarge, &msg, &None);
            return None;
        }
        match request::parse(text.as_str()) {
            Ok(req) => self.on_request(req).await,
            Err(e) => {
                self.error(e.code, &e.message, &e.id);
                None
            }
        }
    }

    async fn on_request(&mut self, req: Request) -> Option<End> {
        match req {
            Request::Ping { id } => self.push(pong_text(&id)),
            Request::Options { throttle_ms, id } => {
                if let Some(ms) = throttle_ms {
                    self.throttle = Duration::from_millis(ms);
                }
                self.push(to_text(&Ack {
                    kind: "ack",
                    action: "options",
                    count: 0,
                    symbols: None,
                    rejected: &[],
                    throttle_ms: Some(self.throttle.as_millis() as u64),
                    subscribed: self.subs.len(),
                    id: &id,
                }));
            }
            Request::Subscribe {
                symbols,
                mode,
                candles,
                id,
            } => {
                if symbols.len() > self.ctx.limits.max_symbols {
                    let msg = format!(
                        "{} symbols in one request; at most {} per connection",
                        symbols.len(),
                        self.ctx.limits.max_symbols
                    );
                    self.error(ErrorCode::TooManySymbols, &msg, &id);
                    return None;
                }
                let registry = self.ctx.registry.borrow().clone();
                let (items, accepted, rejected) = self.resolve_subscribe(&registry, &symbols, mode);
                // The ack goes into the outbox before the hub queues the snapshots, so the
                // client always sees the ack first.
                self.push(to_text(&Ack {
                    kind: "ack",
                    action: "subscribe",
                    count: accepted.len(),
                    symbols: Some(&accepted),
                    rejected: &rejected,
                    throttle_ms: None,
                    subscribed: self.subs.len(),
                    id: &id,
                }));
                if !items.is_empty()
                    && self
                        .ctx
                        .hub
                        .subscribe(self.id, self.outbox.clone(), items, candles)
                        .await
                        .is_err()
                {
                    return Some(End::Shutdown);
                }
            }
            Request::Unsubscribe { symbols, id } => {
                let registry = self.ctx.registry.borrow().clone();
                let mut tokens = Vec::new();
                let mut accepted = Vec::new();
                let mut rejected = Vec::new();
                for sym in symbols {
                    match registry.resolve(&sym) {
                        Ok(inst) if self.subs.remove(&inst.token).is_some() => {
                            tokens.push(inst.token);
                            accepted.push(inst.symbol.to_string());
                        }
                        Ok(_) => rejected.push(Rejected {
                            symbol: sym,
                            reason: "not subscribed".into(),
                        }),
                        Err(e) => rejected.push(Rejected {
                            symbol: sym,
                            reason: e.to_string(),
                        }),
                    }
                }
                // The hub drops the instruments (and their undelivered ticks) before the ack is
                // queued, so nothing of them follows the ack.
                if !tokens.is_empty() && self.ctx.hub.unsubscribe(self.id, tokens).await.is_err() {
                    return Some(End::Shutdown);
                }
                self.push(to_text(&Ack {
                    kind: "ack",
                    action: "unsubscribe",
                    count: accepted.len(),
                    symbols: Some(&accepted),
                    rejected: &rejected,
                    throttle_ms: None,
                    subscribed: self.subs.len(),
                    id: &id,
                }));
            }
        }
        None
    }

    /// Resolves symbols, applies the per-connection limit and records the accepted ones.
    #[allow(clippy::type_complexity)]
    fn resolve_subscribe(
        &mut self,
        registry: &Registry,
        symbols: &[String],
        mode: Mode,
    ) -> (Vec<(Arc<Instrument>, Mode)>, Vec<String>, Vec<Rejected>) {
        let mut items: Vec<(Arc<Instrument>, Mode)> = Vec::new();
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        for sym in symbols {
            let inst = match registry.resolve(sym) {
                Ok(i) => i.clone(),
                Err(e) => {
                    rejected.push(Rejected {
                        symbol: sym.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            if items.iter().any(|(i, _)| i.token == inst.token) {
                continue; // the same instrument twice in one request
            }
            let is_new = !self.subs.contains_key(&inst.token);
            if is_new && self.subs.len() >= self.ctx.limits.max_symbols {
                rejected.push(Rejected {
                    symbol: sym.clone(),
                    reason: format!(
                        "symbol limit reached ({} per connection); unsubscribe some first",
                        self.ctx.limits.max_symbols
                    ),
                });
                continue;
            }
            self.subs.insert(inst.token, mode);
            accepted.push(inst.symbol.to_string());
            items.push((inst, mode));
        }
        (items, accepted, rejected)
    }

    fn connection_status(&self, st: &ClientStatus) -> Utf8Bytes {
        to_text(&ConnectionStatus {
            kind: "connection_status",
            mode: st.mode,
            quality: st.quality,
            message: st.message.clone(),
            market_status: st.market_status,
            auth_required: st.auth_required,
            timestamp: ist_string(self.ctx.clock.now().timestamp()),
        })
    }

    fn heartbeat(&self, st: &ClientStatus) -> Utf8Bytes {
        let now = self.ctx.clock.now();
        let gauges = &self.ctx.status.gauges;
        to_text(&Heartbeat {
            kind: "heartbeat",
            timestamp: ist_string(now.timestamp()),
            connections: gauges.connections.load(Ordering::Relaxed),
            market_status: st.market_status,
            connection_health: ConnectionHealth {
                state: st.feed_state,
                is_healthy: st.is_healthy,
                connection_quality: st.connection_quality,
                using_rest_fallback: st.using_rest_fallback,
                last_tick_seconds_ago: gauges.last_tick_seconds_ago(now.timestamp_millis()),
            },
        })
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Writes every drained message with one flush at the end, so a batch shares syscalls.
async fn write_all<W>(sink: &mut W, drained: &mut Drained) -> Result<(), axum::Error>
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    for text in drained.immediate.drain(..).chain(drained.ticks.drain(..)) {
        sink.feed(Message::Text(text)).await?;
    }
    sink.flush().await
}

/// After closing on a client that is still sending: reads and discards its frames until it
/// answers the close (or 1 s passes). Dropping a socket with unread input makes the kernel
/// reset the connection, which destroys the close frame (and its reason) still in flight.
async fn discard_until_closed<R>(stream: &mut R)
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let drain = async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Sends a close frame with a code and reason, best effort (the peer may already be gone).
async fn close<W>(sink: &mut W, code: u16, reason: &'static str)
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let send = sink.send(Message::Close(Some(frame)));
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, send).await;
}

/// Sends a last message to a client about to be disconnected, best effort and bounded like
/// [`close`]: a client that does not read cannot hold the task. `false` when shutdown cut it
/// short.
async fn send_farewell<W>(sink: &mut W, text: Utf8Bytes, shutdown: &CancellationToken) -> bool
where
    W: Sink<Message, Error = axum::Error> + Unpin,
{
    let send = tokio::time::timeout(FAREWELL_TIMEOUT, sink.send(Message::Text(text)));
    tokio::select! {
        biased;
        () = shutdown.cancelled() => false,
        _ = send => true,
    }
}

//! One client connection on `/ws/market`: reads requests, writes replies, ticks, status,
//! heartbeats and (with the `orders` scope) broker order updates. One task per connection;
//! `select!` (biased: shutdown first) over inbound frames, the outbox, the throttle timer,
//! heartbeats and status changes. Order updates arrive through the outbox: the connection is
//! registered with the hub's order fan-out while it lasts, with no receiver of its own.
//!
//! Generic over the socket (`Sink` + `Stream` of axum WebSocket messages) so it can be driven
//! by channels in tests as well as by a real WebSocket.
//!
//! Limits (DESIGN.md §10): a message over [`ClientLimits::max_message_bytes`] (64 KiB) is
//! refused by the WebSocket reader at its frame header and cannot be skipped, so it gets an
//! `error` (`frame_too_large`) and a close with 1009 (message too big). Every inbound frame
//! (text, binary, ping, pong) counts against the rate limit; binary frames get at most one
//! `unsupported_frame` error a second. A message still incomplete
//! [`ClientLimits::unfinished_message_timeout`] after its first bytes arrived closes the
//! connection with 1008: the [`ReadClock`] the socket marks at every read is cleared at every
//! complete message. (Bytes that arrive in the same read as the end of a message start no
//! clock; they are at most one message's worth, and their next byte starts it.) Outbound bytes
//! the WebSocket layer holds for a client that does not read are bounded by the upgrade
//! ([`ClientLimits::max_pending_out_bytes`]); a write over the bound ends the connection as a
//! slow consumer.

use crate::clients::limits::{Admit, ClientLimits, RateLimiter};
pub(super) use crate::clients::socket::End;
use crate::clients::socket::{read_failed, timed_write};
use crate::hub::{ClientId, Drained, HubHandle, Outbox, Overflow};
use crate::json::messages::{
    Ack, ConnectionHealth, ConnectionStatus, Heartbeat, Rejected, error_text, pong_text, to_text,
};
use crate::json::request::{self, CandleRequest, ErrorCode, Request, RequestId};
use crate::model::clock::SharedClock;
use crate::model::instruments::{Instrument, Registry};
use crate::model::ist::ist_string;
use crate::model::read_clock::ReadClock;
use crate::model::tick::{Mode, Token};
use crate::status::limits::{self, Cause};
use crate::status::view::{ClientStatus, StatusView};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
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
    /// This connection receives broker order updates (its key has the `orders` scope; every
    /// connection when access control is off). Set per connection at admission.
    pub order_updates: bool,
}

/// How long the last words to a departing client (an `error`, the close frame) may take.
pub(super) const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves one client until it disconnects, floods, stalls or feedgate shuts down. `read` is
/// the socket's read clock (a fresh one when nothing marks it, e.g. in tests over channels).
pub async fn serve<S>(socket: S, ctx: ClientContext, shutdown: CancellationToken, read: ReadClock)
where
    S: Sink<Message, Error = axum::Error> + Stream<Item = Result<Message, axum::Error>> + Send,
{
    let id = ctx.hub.next_client_id();
    let outbox = Arc::new(Outbox::new(ctx.limits.outbox_immediate_bytes));
    if ctx.order_updates {
        ctx.hub.orders().register(id, outbox.clone());
    }
    ctx.status
        .gauges
        .connections
        .fetch_add(1, Ordering::Relaxed);
    // Looked up here and at the end rather than held: a handle from the Prometheus recorder
    // owns a small heap allocation, which an idle connection should not carry.
    metrics::gauge!("feedgate_client_connections").increment(1.0);
    // The upgrade request's own bytes are consumed.
    read.clear();
    let mut conn = ClientConn {
        id,
        read,
        throttle: ctx.default_throttle,
        rate: RateLimiter::new(&ctx.limits, Instant::now()),
        subs: HashMap::new(),
        outbox,
        ctx,
    };
    let (sink, stream) = socket.split();
    let end = conn.run(sink, stream, &shutdown).await;
    if conn.ctx.order_updates {
        conn.ctx.hub.orders().deregister(id);
    }
    if let Err(e) = conn.ctx.hub.disconnect(id).await {
        tracing::debug!(client = id, error = %e, "hub gone while disconnecting a client");
    }
    conn.ctx
        .status
        .gauges
        .connections
        .fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("feedgate_client_connections").decrement(1.0);
    tracing::debug!(client = id, reason = ?end, "client connection ended");
}

/// The task of one client connection (see the module docs).
struct ClientConn {
    id: ClientId,
    ctx: ClientContext,
    outbox: Arc<Outbox>,
    throttle: Duration,
    rate: RateLimiter,
    /// This client's subscriptions: token → mode.
    subs: HashMap<Token, Mode>,
    read: ReadClock,
}

/// The write side's state between loop turns: the drain buffers (reused, so a write batch
/// allocates nothing once they have grown) and when ticks were last written (the throttle).
struct Writer {
    drained: Drained,
    last_tick_flush: Option<Instant>,
    /// Resolved at the first tick batch, so an idle connection holds none.
    metrics: Option<WriteMetrics>,
}

/// Metric handles of the write path, resolved once per connection: each `metrics::…!` call
/// looks its metric up in the recorder's registry, which per write batch is wasted work. Each
/// handle owns a small heap allocation, so they are resolved only once ticks are written.
pub(super) struct WriteMetrics {
    pub(super) tick_latency: metrics::Histogram,
    pub(super) outbox_depth: metrics::Histogram,
    pub(super) messages: metrics::Counter,
}

impl WriteMetrics {
    pub(super) fn resolve() -> Self {
        Self {
            tick_latency: metrics::histogram!("feedgate_tick_latency_seconds"),
            outbox_depth: metrics::histogram!("feedgate_client_outbox_depth"),
            messages: metrics::counter!("feedgate_client_messages_total"),
        }
    }
}

/// The client-facing status as this connection last sent it.
struct StatusWatch {
    rx: watch::Receiver<ClientStatus>,
    sent_key: (&'static str, &'static str, &'static str, bool),
    /// False once the producer is gone (only at shutdown): a closed channel is not polled.
    open: bool,
}

impl ClientConn {
    /// The connection's loop: write what is due, then wait (biased: shutdown first, then
    /// inbound frames) for the next thing to do.
    async fn run<W, R>(&mut self, mut sink: W, mut stream: R, shutdown: &CancellationToken) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let mut status = self.greet();
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + self.ctx.heartbeat_interval,
            self.ctx.heartbeat_interval,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut writer = Writer {
            drained: Drained::default(),
            last_tick_flush: None,
            metrics: None,
        };
        loop {
            if let Some(end) = self.write_due(&mut sink, &mut writer, shutdown).await {
                return end;
            }
            let tick_timer = self.tick_timer(writer.last_tick_flush);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    close(&mut sink, close_code::AWAY, "feedgate is shutting down").await;
                    return End::Shutdown;
                }
                frame = stream.next() => {
                    // Boxed: handling a frame is the largest state of this loop but rarely
                    // live; inline, every connection's task would carry its size while idle.
                    let inbound = Box::pin(self.on_inbound(frame, &mut sink, &mut stream, shutdown));
                    if let Some(end) = inbound.await {
                        return end;
                    }
                }
                wake = wake_at(tick_timer, &self.read, self.ctx.limits.unfinished_message_timeout) => {
                    if wake == Wake::Unfinished {
                        return self.on_unfinished(&mut sink).await;
                    }
                }
                () = self.outbox.notified() => {}
                _ = heartbeat.tick() => {
                    let hb = self.heartbeat(&status.rx.borrow());
                    self.push(hb);
                }
                changed = status.rx.changed(), if status.open => self.on_status_change(&mut status, changed.is_ok()),
            }
        }
    }

    /// Queues the first `connection_status` and starts watching for changes.
    fn greet(&self) -> StatusWatch {
        let mut rx = self.ctx.status.status.clone();
        let st = rx.borrow_and_update().clone();
        self.push(self.connection_status(&st));
        StatusWatch {
            rx,
            sent_key: st.change_key(),
            open: true,
        }
    }

    /// Sends a `connection_status` when a field clients see changed (not on every update).
    fn on_status_change(&self, status: &mut StatusWatch, changed: bool) {
        if !changed {
            // The status producer is gone, which only happens at shutdown; stop polling it
            // rather than spin on a closed channel.
            status.open = false;
            return;
        }
        let st = status.rx.borrow_and_update().clone();
        if st.change_key() != status.sent_key {
            status.sent_key = st.change_key();
            self.push(self.connection_status(&st));
        }
    }

    /// Writes what is due. Replies, status and snapshots go at once; ticks at most once per
    /// throttle interval (leading edge: after a quiet spell the first tick is immediate; during
    /// bursts the newest values go out at the end of each interval). `Some` ends the connection.
    async fn write_due<W>(
        &self,
        sink: &mut W,
        writer: &mut Writer,
        shutdown: &CancellationToken,
    ) -> Option<End>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let now = Instant::now();
        let ticks_due = writer
            .last_tick_flush
            .is_none_or(|t| now >= t + self.throttle);
        if let Err(over) = self.outbox.drain_into(&mut writer.drained, ticks_due) {
            return Some(self.let_slow_consumer_go(sink, over, shutdown).await);
        }
        if writer.drained.is_empty() {
            return None;
        }
        let n_ticks = writer.drained.ticks.len();
        if let Some(end) = self.write_batch(sink, &mut writer.drained, shutdown).await {
            return Some(end);
        }
        if n_ticks > 0 {
            // One sample per write batch: the oldest tick's time from the hub to the socket,
            // and how many instruments were waiting.
            let m = writer.metrics.get_or_insert_with(WriteMetrics::resolve);
            if let Some(since) = writer.drained.since.take() {
                m.tick_latency.record(since.elapsed().as_secs_f64());
            }
            m.outbox_depth.record(n_ticks as f64);
            writer.last_tick_flush = Some(now);
            m.messages.increment(n_ticks as u64);
        }
        None
    }

    /// The outbox overflowed: the client is told why, then disconnected.
    async fn let_slow_consumer_go<W>(
        &self,
        sink: &mut W,
        over: Overflow,
        shutdown: &CancellationToken,
    ) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let msg = format!("{over}; disconnecting. Subscribe to fewer symbols or read faster.");
        let text = error_text(ErrorCode::SlowConsumer, &msg, &None);
        // The client is not reading: this write may never complete.
        if !send_farewell(sink, text, shutdown).await {
            return End::Shutdown;
        }
        close(sink, close_code::POLICY, "slow consumer").await;
        End::SlowConsumer
    }

    /// Writes one drained batch, bounded by the write timeout and cut short by shutdown.
    async fn write_batch<W>(
        &self,
        sink: &mut W,
        drained: &mut Drained,
        shutdown: &CancellationToken,
    ) -> Option<End>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let limits = &self.ctx.limits;
        let write = write_all(sink, drained);
        timed_write(
            write,
            limits.write_timeout,
            limits.max_pending_out_bytes,
            shutdown,
            self.id,
        )
        .await
        .err()
    }

    /// A message not completed within the deadline: the client is told by a close frame
    /// (best effort: it may not read either).
    async fn on_unfinished<W>(&self, sink: &mut W) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        if limits::record(Cause::UnfinishedFrame) {
            tracing::info!(
                client = self.id,
                timeout_s = self.ctx.limits.unfinished_message_timeout.as_secs(),
                "client left a message unfinished; closing (further ones are summarised)"
            );
        }
        close(sink, close_code::POLICY, "message not completed in time").await;
        End::Unfinished
    }

    /// When pending ticks not yet due should wake the loop: the end of the throttle interval.
    fn tick_timer(&self, last_tick_flush: Option<Instant>) -> Option<Instant> {
        match last_tick_flush {
            Some(t) if !self.throttle.is_zero() && self.outbox.has_pending_ticks() => {
                Some(t + self.throttle)
            }
            _ => None,
        }
    }

    /// One event from the socket's read side; `Some` ends the connection.
    async fn on_inbound<W, R>(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
        sink: &mut W,
        stream: &mut R,
        shutdown: &CancellationToken,
    ) -> Option<End>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        match frame {
            None => Some(End::ClientClosed),
            Some(Err(e)) => Some(self.on_read_error(e, sink, shutdown).await),
            Some(Ok(msg)) => {
                self.read.clear();
                let end = self.on_frame(msg).await?;
                if end == End::Flood {
                    close_flooder(sink, stream).await;
                }
                Some(end)
            }
        }
    }

    /// A read error ends the connection. A message over the hard size cap is explained to the
    /// client first (the reader cannot skip it, so the connection cannot go on).
    async fn on_read_error<W>(
        &self,
        e: axum::Error,
        sink: &mut W,
        shutdown: &CancellationToken,
    ) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let size = match read_failed(e, self.id) {
            Ok(size) => size,
            Err(end) => return end,
        };
        let msg = format!(
            "{size} is over the {} byte limit, so the connection is closed; \
             split the request",
            self.ctx.limits.max_message_bytes
        );
        let text = error_text(ErrorCode::FrameTooLarge, &msg, &None);
        if send_farewell(sink, text, shutdown).await {
            close(sink, close_code::SIZE, "message too big").await;
        }
        End::FrameTooLarge
    }

    /// Queues a message for immediate delivery. An overflow is reported on the next drain.
    fn push(&self, msg: Utf8Bytes) {
        let _ = self.outbox.push_immediate(msg);
    }

    fn error(&self, code: ErrorCode, message: &str, id: &RequestId) {
        self.push(error_text(code, message, id));
    }

    /// Handles one inbound frame; `Some` ends the connection. Every frame but a close counts
    /// against the rate limit first.
    async fn on_frame(&mut self, msg: Message) -> Option<End> {
        if matches!(msg, Message::Close(_)) {
            return Some(End::ClientClosed);
        }
        let now = Instant::now();
        match self.rate.admit(now) {
            Admit::Accept => {}
            Admit::Drop { notify } => {
                if limits::record(Cause::RateLimited) {
                    tracing::info!(
                        client = self.id,
                        "client over the message rate; dropping (further ones are summarised)"
                    );
                }
                if notify {
                    let msg = format!(
                        "too many messages; the limit is {}/s (bursts of {}), pings included. This one was dropped.",
                        self.ctx.limits.rate_per_sec, self.ctx.limits.burst
                    );
                    self.error(ErrorCode::RateLimited, &msg, &None);
                }
                return None;
            }
            Admit::Disconnect => {
                if limits::record(Cause::Flood) {
                    tracing::info!(
                        client = self.id,
                        "client flooding messages; disconnecting (further ones are summarised)"
                    );
                }
                return Some(End::Flood);
            }
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                if self.rate.binary_notice(now) {
                    self.error(
                        ErrorCode::UnsupportedFrame,
                        "binary frames are not supported; send JSON text frames",
                        &None,
                    );
                }
                return None;
            }
            // Pings are answered by the WebSocket layer; pongs need nothing.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return None,
        };
        match request::parse(text.as_str()) {
            Ok(req) => self.on_request(req).await,
            Err(e) => {
                self.error(e.code, &e.message, &e.id);
                None
            }
        }
    }

    /// Serves one parsed request; `Some` ends the connection (the hub has stopped).
    async fn on_request(&mut self, req: Request) -> Option<End> {
        match req {
            Request::Ping { id } => {
                self.push(pong_text(&id));
                None
            }
            Request::Options { throttle_ms, id } => {
                self.on_options(throttle_ms, &id);
                None
            }
            Request::Subscribe {
                symbols,
                mode,
                candles,
                id,
            } => self.on_subscribe(&symbols, mode, candles, &id).await,
            Request::Unsubscribe { symbols, id } => self.on_unsubscribe(symbols, &id).await,
            Request::Resume {
                epoch,
                seq,
                mode,
                id,
            } => self.on_resume(epoch, seq, mode, &id).await,
        }
    }

    fn on_options(&mut self, throttle_ms: Option<u64>, id: &RequestId) {
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
            id,
        }));
    }

    async fn on_subscribe(
        &mut self,
        symbols: &[String],
        mode: Mode,
        candles: CandleRequest,
        id: &RequestId,
    ) -> Option<End> {
        if symbols.len() > self.ctx.limits.max_symbols {
            let msg = format!(
                "{} symbols in one request; at most {} per connection",
                symbols.len(),
                self.ctx.limits.max_symbols
            );
            self.error(ErrorCode::TooManySymbols, &msg, id);
            return None;
        }
        let registry = self.ctx.registry.borrow().clone();
        let resolved = self.resolve_subscribe(&registry, symbols, mode);
        // The ack goes into the outbox before the hub queues the snapshots, so the client
        // always sees the ack first.
        self.push_ack("subscribe", &resolved, id);
        if resolved.items.is_empty() {
            return None;
        }
        let outbox = self.outbox.clone();
        let hub = &self.ctx.hub;
        let done = hub
            .subscribe(self.id, outbox, resolved.items, candles)
            .await;
        done.is_err().then_some(End::Shutdown)
    }

    async fn on_unsubscribe(&mut self, symbols: Vec<String>, id: &RequestId) -> Option<End> {
        let registry = self.ctx.registry.borrow().clone();
        let mut resolved = self.resolve_unsubscribe(&registry, symbols);
        // The hub drops the instruments (and their undelivered ticks) before the ack is
        // queued, so nothing of them follows the ack.
        let tokens = std::mem::take(&mut resolved.items);
        if !tokens.is_empty() && self.ctx.hub.unsubscribe(self.id, tokens).await.is_err() {
            return Some(End::Shutdown);
        }
        self.push_ack("unsubscribe", &resolved, id);
        None
    }

    /// Queues the ack of a subscribe or unsubscribe: what it took, what it refused and why,
    /// and how many instruments the client now has.
    fn push_ack<T>(&self, action: &'static str, resolved: &Resolved<T>, id: &RequestId) {
        self.push(to_text(&Ack {
            kind: "ack",
            action,
            count: resolved.accepted.len(),
            symbols: Some(&resolved.accepted),
            rejected: &resolved.rejected,
            throttle_ms: None,
            subscribed: self.subs.len(),
            id,
        }));
    }

    /// Resolves symbols, applies the per-connection limit and records the accepted ones.
    fn resolve_subscribe(
        &mut self,
        registry: &Registry,
        symbols: &[String],
        mode: Mode,
    ) -> Resolved<(Arc<Instrument>, Mode)> {
        let mut out: Resolved<(Arc<Instrument>, Mode)> = Resolved::default();
        for sym in symbols {
            let inst = match registry.resolve(sym) {
                Ok(i) => i.clone(),
                Err(e) => {
                    out.reject(sym.clone(), e.to_string());
                    continue;
                }
            };
            if out.items.iter().any(|(i, _)| i.token == inst.token) {
                continue; // the same instrument twice in one request
            }
            let is_new = !self.subs.contains_key(&inst.token);
            if is_new && self.subs.len() >= self.ctx.limits.max_symbols {
                let reason = format!(
                    "symbol limit reached ({} per connection); unsubscribe some first",
                    self.ctx.limits.max_symbols
                );
                out.reject(sym.clone(), reason);
                continue;
            }
            self.subs.insert(inst.token, mode);
            out.accepted.push(inst.symbol.to_string());
            out.items.push((inst, mode));
        }
        out
    }

    /// Resolves symbols and forgets the subscribed ones; the rest are refused with a reason.
    fn resolve_unsubscribe(
        &mut self,
        registry: &Registry,
        symbols: Vec<String>,
    ) -> Resolved<Token> {
        let mut out = Resolved::default();
        for sym in symbols {
            match registry.resolve(&sym) {
                Ok(inst) if self.subs.remove(&inst.token).is_some() => {
                    out.items.push(inst.token);
                    out.accepted.push(inst.symbol.to_string());
                }
                Ok(_) => out.reject(sym, "not subscribed".into()),
                Err(e) => out.reject(sym, e.to_string()),
            }
        }
        out
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
            epoch: self.ctx.hub.epoch(),
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

/// What a subscribe or unsubscribe resolved to: the instruments to pass to the hub, the
/// canonical symbols accepted, and the refused ones with their reasons.
struct Resolved<T> {
    items: Vec<T>,
    accepted: Vec<String>,
    rejected: Vec<Rejected>,
}

impl<T> Default for Resolved<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            accepted: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

impl<T> Resolved<T> {
    fn reject(&mut self, symbol: String, reason: String) {
        self.rejected.push(Rejected { symbol, reason });
    }
}

/// What woke the connection's timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// Pending ticks are due (the throttle interval ended).
    Tick,
    /// A message has been incomplete for too long.
    Unfinished,
}

/// Sleeps until the tick timer or the unfinished-message deadline, whichever is first. The
/// read clock is looked at on every poll: a read inside this turn's `stream.next()` (polled
/// just before, in the same `select!`) may have started it.
pub(super) async fn wake_at(
    tick: Option<Instant>,
    read: &ReadClock,
    unfinished_after: Duration,
) -> Wake {
    let mut armed: Option<Instant> = None;
    let mut sleep = std::pin::pin!(tokio::time::sleep_until(Instant::now()));
    std::future::poll_fn(|cx| {
        let unfinished = read.pending_since().map(|t| t + unfinished_after);
        let Some(at) = [tick, unfinished].into_iter().flatten().min() else {
            return Poll::Pending;
        };
        if armed != Some(at) {
            armed = Some(at);
            sleep.as_mut().reset(at);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(if unfinished.is_some_and(|u| u <= Instant::now()) {
            Wake::Unfinished
        } else {
            Wake::Tick
        })
    })
    .await
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
pub(super) async fn discard_until_closed<R>(stream: &mut R)
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

/// Closes on a client that floods requests (1008, saying so), then discards what it still
/// sends until it answers the close.
pub(super) async fn close_flooder<W, R>(sink: &mut W, stream: &mut R)
where
    W: Sink<Message, Error = axum::Error> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    close(
        sink,
        close_code::POLICY,
        "message rate limit exceeded; slow down",
    )
    .await;
    discard_until_closed(stream).await;
}

/// Sends a close frame with a code and reason, best effort (the peer may already be gone).
pub(super) async fn close<W>(sink: &mut W, code: u16, reason: &'static str)
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
pub(super) async fn send_farewell<W>(
    sink: &mut W,
    text: Utf8Bytes,
    shutdown: &CancellationToken,
) -> bool
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

#[path = "resume.rs"]
mod resume;

//! One client connection on `/kite`, speaking Kite's ticker protocol (DESIGN.md §11, kite.md):
//! JSON requests `{"a":"subscribe"|"unsubscribe","v":[tokens]}` and
//! `{"a":"mode","v":[mode,[tokens]]}` in, binary frames of Kite packets out.
//!
//! As Kite: a subscribe starts in `quote` mode; unknown tokens are ignored; every tick is sent
//! (a reader that falls behind is conflated to the newest value per instrument by its outbox,
//! so it never holds anyone else); the last known value goes out at once on subscribe; a bad
//! request gets `{"type":"error","data":"…"}` and the connection stays; an idle connection
//! gets a 1-byte heartbeat at least every [`HEARTBEAT_EVERY`] (the Go and JS clients reconnect
//! after 5 s of silence). A `mode` for a token not yet subscribed subscribes it in that mode
//! (pykiteconnect records a mode for such tokens and expects their ticks).
//!
//! The socket limits are the JSON endpoint's ([`ClientLimits`]); the per-connection token cap
//! is its `max_symbols` (Kite's own is 3000), lowered by a key's `max_symbols`.

use crate::clients::conn::{
    ClientContext, Wake, WriteMetrics, close, close_flooder, send_farewell, wake_at,
};
use crate::clients::limits::{Admit, RateLimiter};
use crate::clients::socket::{End, read_failed, timed_write};
use crate::hub::{ClientId, Drained, Outbox, Overflow};
use crate::kite_compat::{FrameBuilder, HEARTBEAT_FRAME};
use crate::model::instruments::Instrument;
use crate::model::read_clock::ReadClock;
use crate::model::tick::{Mode, Token};
use crate::status::limits::{self, Cause};
use axum::extract::ws::{Message, Utf8Bytes, close_code};
use bytes::Bytes;
use feedgate_kite::{Request, TextMessage};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest silence on a connection before a heartbeat byte is sent.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Serves one `/kite` client until it disconnects, floods, stalls or feedgate shuts down.
pub async fn serve_kite<S>(
    socket: S,
    ctx: ClientContext,
    shutdown: CancellationToken,
    read: ReadClock,
) where
    S: Sink<Message, Error = axum::Error> + Stream<Item = Result<Message, axum::Error>> + Send,
{
    let id = ctx.hub.next_client_id();
    let gauges = &ctx.status.gauges;
    gauges.connections.fetch_add(1, Ordering::Relaxed);
    gauges.kite_connections.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("feedgate_client_connections").increment(1.0);
    read.clear();
    let outbox = Arc::new(Outbox::with_immediate_limit(
        ctx.limits.outbox_immediate_bytes,
    ));
    // Kite's `on_order_update`: the broker's order text, unchanged, for keys with the scope.
    if ctx.order_updates {
        ctx.hub.orders().register(id, outbox.clone());
    }
    let mut conn = KiteConn {
        id,
        read,
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
    let gauges = &conn.ctx.status.gauges;
    gauges.connections.fetch_sub(1, Ordering::Relaxed);
    gauges.kite_connections.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("feedgate_client_connections").decrement(1.0);
    tracing::debug!(client = id, reason = ?end, "kite client connection ended");
}

/// The task of one `/kite` connection (see the module docs).
struct KiteConn {
    id: ClientId,
    ctx: ClientContext,
    outbox: Arc<Outbox<Bytes>>,
    rate: RateLimiter,
    /// This connection's subscriptions: token → mode.
    subs: HashMap<Token, Mode>,
    read: ReadClock,
}

/// The write side's reusable buffers.
#[derive(Default)]
struct Writer {
    drained: Drained<Bytes>,
    frames: FrameBuilder,
    out: Vec<Bytes>,
    /// Resolved at the first tick batch, so an idle connection holds none.
    metrics: Option<WriteMetrics>,
}

impl KiteConn {
    async fn run<W, R>(&mut self, mut sink: W, mut stream: R, shutdown: &CancellationToken) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let mut writer = Writer::default();
        let mut last_write = Instant::now();
        loop {
            match self.write_due(&mut sink, &mut writer, shutdown).await {
                Ok(true) => last_write = Instant::now(),
                Ok(false) => {}
                Err(end) => return end,
            }
            let heartbeat_at = last_write + HEARTBEAT_EVERY;
            let unfinished = self.ctx.limits.unfinished_message_timeout;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    close(&mut sink, close_code::AWAY, "feedgate is shutting down").await;
                    return End::Shutdown;
                }
                frame = stream.next() => {
                    let inbound = Box::pin(self.on_inbound(frame, &mut sink, &mut stream, shutdown));
                    if let Some(end) = inbound.await {
                        return end;
                    }
                }
                wake = wake_at(Some(heartbeat_at), &self.read, unfinished) => {
                    if wake == Wake::Unfinished {
                        if limits::record(Cause::UnfinishedFrame) {
                            tracing::info!(client = self.id, "kite client left a message unfinished; closing (further ones are summarised)");
                        }
                        close(&mut sink, close_code::POLICY, "message not completed in time").await;
                        return End::Unfinished;
                    }
                    if let Err(end) = self.write(&mut sink, [Message::Binary(HEARTBEAT_FRAME)], shutdown).await {
                        return end;
                    }
                    last_write = Instant::now();
                }
                () = self.outbox.notified() => {}
            }
        }
    }

    /// Writes everything pending: text messages, then the ticks as frames. `Ok(true)` when
    /// something was written.
    async fn write_due<W>(
        &self,
        sink: &mut W,
        w: &mut Writer,
        shutdown: &CancellationToken,
    ) -> Result<bool, End>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        if let Err(over) = self.outbox.drain_into(&mut w.drained, true) {
            return Err(self.let_slow_consumer_go(sink, over, shutdown).await);
        }
        if w.drained.is_empty() {
            return Ok(false);
        }
        let n_ticks = w.drained.ticks.len();
        w.frames.build(&w.drained.ticks, &mut w.out);
        w.drained.ticks.clear();
        let texts = w.drained.immediate.drain(..).map(Message::Text);
        let frames = w.out.drain(..).map(Message::Binary);
        self.write(sink, texts.chain(frames), shutdown).await?;
        if n_ticks > 0 {
            let m = w.metrics.get_or_insert_with(WriteMetrics::resolve);
            if let Some(since) = w.drained.since.take() {
                m.tick_latency.record(since.elapsed().as_secs_f64());
            }
            m.outbox_depth.record(n_ticks as f64);
            m.messages.increment(n_ticks as u64);
        }
        Ok(true)
    }

    /// Writes messages with one flush, bounded by the write timeout and cut short by shutdown.
    async fn write<W>(
        &self,
        sink: &mut W,
        msgs: impl IntoIterator<Item = Message>,
        shutdown: &CancellationToken,
    ) -> Result<(), End>
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let write = async {
            for m in msgs {
                sink.feed(m).await?;
            }
            sink.flush().await
        };
        let limits = &self.ctx.limits;
        timed_write(
            write,
            limits.write_timeout,
            limits.max_pending_out_bytes,
            shutdown,
            self.id,
        )
        .await
    }

    async fn let_slow_consumer_go<W>(
        &self,
        sink: &mut W,
        over: Overflow,
        shutdown: &CancellationToken,
    ) -> End
    where
        W: Sink<Message, Error = axum::Error> + Unpin,
    {
        let text = error_text(&format!("{over}; disconnecting"));
        if !send_farewell(sink, text, shutdown).await {
            return End::Shutdown;
        }
        close(sink, close_code::POLICY, "slow consumer").await;
        End::SlowConsumer
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

    /// A message over the size cap is explained, then the connection closes (the reader
    /// cannot skip it); any other read error is the socket's end.
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
        let text = error_text(&format!(
            "{size} is over the {} byte limit; the connection is closed. Split the request.",
            self.ctx.limits.max_message_bytes
        ));
        if send_farewell(sink, text, shutdown).await {
            close(sink, close_code::SIZE, "message too big").await;
        }
        End::FrameTooLarge
    }

    /// Handles one inbound frame; `Some` ends the connection.
    async fn on_frame(&mut self, msg: Message) -> Option<End> {
        if matches!(msg, Message::Close(_)) {
            return Some(End::ClientClosed);
        }
        let now = Instant::now();
        match self.rate.admit(now) {
            Admit::Accept => {}
            Admit::Drop { notify } => {
                if notify {
                    let msg = format!(
                        "too many messages; the limit is {}/s (bursts of {}). This one was dropped.",
                        self.ctx.limits.rate_per_sec, self.ctx.limits.burst
                    );
                    self.push_error(&msg);
                }
                return None;
            }
            Admit::Disconnect => {
                if limits::record(Cause::Flood) {
                    tracing::info!(
                        client = self.id,
                        "kite client flooding messages; disconnecting (further ones are summarised)"
                    );
                }
                return Some(End::Flood);
            }
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                if self.rate.binary_notice(now) {
                    self.push_error("binary frames are not requests; send JSON text frames");
                }
                return None;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return None,
        };
        match Request::parse(text.as_str()) {
            Ok(req) => self.on_request(req).await,
            Err(e) => {
                self.push_error(&e.to_string());
                None
            }
        }
    }

    async fn on_request(&mut self, req: Request) -> Option<End> {
        let done = match req {
            Request::Subscribe(tokens) => self.subscribe(&tokens, None).await,
            Request::Mode(mode, tokens) => self.subscribe(&tokens, Some(mode)).await,
            Request::Unsubscribe(tokens) => {
                let gone: Vec<Token> = (tokens.iter())
                    .filter(|t| self.subs.remove(t).is_some())
                    .copied()
                    .collect();
                if gone.is_empty() {
                    return None;
                }
                self.ctx.hub.unsubscribe(self.id, gone).await
            }
        };
        done.is_err().then_some(End::Shutdown)
    }

    /// Subscribes `tokens`: new ones in `mode` (Kite's `quote` for a plain subscribe), known
    /// ones re-moded when a mode is given. Unknown tokens are ignored; tokens past the cap are
    /// refused with an error message.
    async fn subscribe(
        &mut self,
        tokens: &[Token],
        mode: Option<Mode>,
    ) -> Result<(), crate::hub::HubClosed> {
        let registry = self.ctx.registry.borrow().clone();
        let cap = self.ctx.limits.max_symbols;
        let mut items: Vec<(Arc<Instrument>, Mode)> = Vec::new();
        let mut refused = 0usize;
        for token in tokens {
            let Some(inst) = registry.by_token(*token) else {
                continue;
            };
            let want = match (self.subs.get(token), mode) {
                (Some(old), Some(m)) if *old != m => m,
                (Some(_), _) => continue,
                (None, m) if self.subs.len() < cap => m.unwrap_or(Mode::Quote),
                (None, _) => {
                    refused += 1;
                    continue;
                }
            };
            self.subs.insert(*token, want);
            items.push((inst.clone(), want));
        }
        if refused > 0 {
            self.push_error(&format!(
                "token limit reached: at most {cap} tokens per connection; {refused} not subscribed"
            ));
        }
        if items.is_empty() {
            return Ok(());
        }
        let candles = crate::json::request::CandleRequest::Keep;
        self.ctx
            .hub
            .subscribe(self.id, &self.outbox, items, candles)
            .await
    }

    fn push_error(&self, message: &str) {
        let _ = self.outbox.push_immediate(error_text(message));
    }
}

/// Kite's error text frame, which every official client passes to `on_error` without closing.
fn error_text(message: &str) -> Utf8Bytes {
    Utf8Bytes::from(TextMessage::Error(message.to_string()).to_json())
}

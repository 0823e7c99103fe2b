//! The Fyers v3 data socket ("HSM", spec `protocols/fyers.md`) as a [`Wire`]: symbols resolved
//! to topics over REST, a login with the token's `hsm_key` answered before anything is
//! subscribed, topics per mode, snapshot/update merging into per-connection state, acks when
//! the server asks for them, pings, and conversion to normalised ticks ([`super::ticks`]). Its
//! REST partner is [`super::rest`], with which it shares the symbol book and the request budget.
//!
//! Choices (spec §12 and the gateway's contract):
//! - **No `Authorization` header on the upgrade** (the server then ignores the login, §1): the
//!   URL is the configured one, unchanged, and the upgrade carries nothing but the WebSocket
//!   headers. The only credential on the socket is the auth frame's `hsm_key`; the JWT and the
//!   app id never go there, and neither is ever logged.
//! - **Login before subscribing.** The official client's fixed 2 s sleep is a race; here the
//!   auth reply is awaited ([`Wire::handshake_timeout`], 5 s). Not `K`, a type-51 message about
//!   the login, or no answer is a refusal, which the connection loop classifies with a profile
//!   call exactly like Kite's 403.
//! - **Topics per mode**: indices stream `if`; other instruments `sf` for `ltp` and `quote`, and
//!   `sf` + `dp` (five-level depth) for `full`. One channel (11) in full mode: lite mode and
//!   per-channel modes are unverified against the real server (spec §14: whether lite mode sends
//!   snapshots first is unknown, and without a snapshot every lite record would be dropped), so
//!   `ltp` subscriptions use the scrip feed and publish only the price, like Kite's `ltp` mode.
//! - **Resolution**: symbol-token REST calls (≤ 500 symbols each), results kept for the life of
//!   the wire and redone from scratch before every connection attempt, so a reconnect repairs
//!   anything stale; within a connection only new instruments are looked up, gathered for
//!   [`COALESCE`] so a burst of subscriptions costs one call. A failed lookup on a live socket
//!   leaves just the new instruments out until a retry ([`Wire::covers`]). Every call goes
//!   through the request budget shared with the REST adapter ([`ApiLimiter`]). Index names come
//!   from the live mapping, else the official client's built-in table.
//! - **Resubscribe after every reconnect** (the official client does not): the connection loop
//!   replays the whole demand through `diff`.
//! - **Liveness**: the server sends no heartbeats. Besides the protocol's ping every 10 s (it
//!   gets no answer), a WebSocket ping goes out after 1 s without any frame, and its pong keeps
//!   the 3 s liveness watchdog meaningful on a quiet socket; a stalled path answers nothing.

use crate::brokers::fyers::book::SymbolBook;
use crate::brokers::fyers::limiter::ApiLimiter;
use crate::brokers::fyers::master::Entry;
use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::model::demand::Demand;
use crate::model::tick::{Mode, Tick, Token};
use bytes::Bytes;
use feedgate_fyers::hsm::client::SOURCE_PYTHON_SDK;
use feedgate_fyers::hsm::{
    AckCounter, Applied, AuthRequest, Channel, ChannelMask, ClientFrame, FeedMode, ModeRequest,
    ServerFrame, SnapshotStore, StatusKind, TopicKind, TopicName, TopicRequest,
};
use feedgate_fyers::rest::client::MAX_SYMBOL_TOKEN_SYMBOLS;
use feedgate_fyers::rest::{FyersRest, RestError};
use feedgate_fyers::symbol::{FeedKind, IndexNames, ResolvedSymbols, topic_for};
use feedgate_fyers::{AccessToken, FyersSymbol};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Topics per subscribe/unsubscribe frame. The official client sends up to 1500; 200 keeps
/// every frame below the codec's 64 KiB limit even with the longest possible topic names.
pub const TOPICS_PER_FRAME: usize = 200;
/// How long the login may take.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a live socket gathers demand changes before resolving them: a burst of new
/// subscriptions costs one symbol-token call, not one per client.
pub const COALESCE: Duration = Duration::from_millis(200);
/// The protocol's keep-alive ping interval (the official client's).
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Silence after which a WebSocket ping asks the server to prove the socket alive.
pub const PROBE_AFTER: Duration = Duration::from_secs(1);
/// The auth frame's client identification: the official Python client's, the only value known
/// to be accepted by the real server.
const SOURCE: &str = SOURCE_PYTHON_SDK;

/// The topics of one resolved instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Topics {
    /// `sf|…` or, for an index, `if|…`.
    quote: TopicName,
    /// `dp|…` (not for indices).
    depth: Option<TopicName>,
    divisor: u32,
}

/// What one symbol-token lookup asks for, from the symbol book's entries.
#[derive(Debug, Default)]
struct Lookup {
    /// Fyers symbol → the instrument and its divisor.
    wanted: HashMap<String, (Token, u32)>,
    symbols: Vec<FyersSymbol>,
    /// Instruments without a (valid) Fyers symbol in the book.
    unknown: Vec<Token>,
}

impl Lookup {
    fn new(entries: &HashMap<Token, Entry>, missing: &[Token]) -> Self {
        let mut lookup = Self::default();
        for t in missing {
            match entries
                .get(t)
                .and_then(|e| FyersSymbol::new(e.symbol.as_str()).ok().map(|s| (s, e)))
            {
                Some((symbol, entry)) => {
                    lookup
                        .wanted
                        .insert(symbol.as_str().to_string(), (*t, entry.divisor));
                    lookup.symbols.push(symbol);
                }
                None => lookup.unknown.push(*t),
            }
        }
        lookup
    }
}

/// What one connection has learnt; reset on every open.
#[derive(Debug, Clone, Default)]
struct ConnState {
    store: SnapshotStore,
    acks: AckCounter,
    outbound: Vec<Message>,
    next_ping: Option<Instant>,
    last_probe: Option<Instant>,
}

/// The Fyers data socket. Cheap to clone (one per connection task).
#[derive(Debug, Clone)]
pub struct FyersWire {
    url: String,
    rest: FyersRest,
    book: SymbolBook,
    /// The request budget shared with the REST adapter (symbol-token calls count).
    limiter: Arc<ApiLimiter>,
    index_names: Option<Arc<IndexNames>>,
    token: Option<AccessToken>,
    topics: HashMap<Token, Topics>,
    by_topic: HashMap<TopicName, Token>,
    /// Instruments Fyers cannot stream (no symbol, or rejected by symbol-token); retried on the
    /// next connection.
    unresolvable: HashSet<Token>,
    /// The demand the last `prepare` saw (the mode each instrument's ticks are built at).
    demand: Demand,
    /// What was last reported as unstreamable, so a retry that finds the same does not log it
    /// again.
    reported: (Vec<String>, usize),
    conn: ConnState,
}

impl FyersWire {
    pub fn new(ws_url: &str, rest: FyersRest, book: SymbolBook, limiter: Arc<ApiLimiter>) -> Self {
        Self {
            url: ws_url.to_string(),
            rest,
            book,
            limiter,
            index_names: None,
            token: None,
            topics: HashMap::new(),
            by_topic: HashMap::new(),
            unresolvable: HashSet::new(),
            demand: Demand::new(),
            reported: (Vec::new(), 0),
            conn: ConnState::default(),
        }
    }

    /// The index names: the live mapping, fetched once; the built-in table if that fails.
    async fn index_names(&mut self) -> Arc<IndexNames> {
        if let Some(names) = &self.index_names {
            return names.clone();
        }
        let names = match self.rest.index_names().await {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(error = %e, "fyers index-name mapping unavailable; using the built-in table");
                IndexNames::new()
            }
        };
        let names = Arc::new(names);
        self.index_names = Some(names.clone());
        names
    }

    /// Resolves `missing` to topics: the symbol book gives the Fyers symbols, symbol-token the
    /// fyTokens. Whatever cannot be resolved is remembered as such (and logged once here).
    async fn resolve(&mut self, token: &AccessToken, missing: &[Token]) -> Result<(), WireError> {
        let lookup = Lookup::new(&self.book.lookup(missing).await, missing);
        let names = if lookup.symbols.iter().any(FyersSymbol::is_index) {
            self.index_names().await
        } else {
            Arc::new(IndexNames::new())
        };
        let mut rejected: Vec<String> = Vec::new();
        for chunk in lookup.symbols.chunks(MAX_SYMBOL_TOKEN_SYMBOLS) {
            self.limiter.acquire().await;
            let response = self
                .rest
                .symbol_token(token, chunk)
                .await
                .map_err(wire_error)?;
            let resolved = ResolvedSymbols::from_response(&response, FeedKind::Quote, &names);
            self.learn(&resolved, &lookup.wanted, &names);
            rejected.extend(resolved.rejected.into_iter().map(|(s, _)| s));
        }
        // Requested but neither resolved nor rejected (a terse answer) counts as rejected.
        for (symbol, (t, _)) in &lookup.wanted {
            if !self.topics.contains_key(t) {
                self.unresolvable.insert(*t);
                if !rejected.contains(symbol) {
                    rejected.push(symbol.clone());
                }
            }
        }
        self.unresolvable.extend(lookup.unknown.iter().copied());
        self.report_unstreamable(rejected, lookup.unknown.len());
        Ok(())
    }

    /// Records the topics of the instruments symbol-token resolved.
    fn learn(
        &mut self,
        resolved: &ResolvedSymbols,
        wanted: &HashMap<String, (Token, u32)>,
        names: &IndexNames,
    ) {
        for r in &resolved.resolved {
            let Some(&(t, divisor)) = wanted.get(r.symbol.as_str()) else {
                continue;
            };
            let depth = (!r.symbol.is_index())
                .then(|| topic_for(&r.symbol, &r.fy_token, FeedKind::Depth, names).ok())
                .flatten()
                .map(|topic| topic.name());
            let quote = r.topic.name();
            self.by_topic.insert(quote.clone(), t);
            if let Some(d) = &depth {
                self.by_topic.insert(d.clone(), t);
            }
            self.topics.insert(
                t,
                Topics {
                    quote,
                    depth,
                    divisor,
                },
            );
        }
    }

    /// Logs the instruments Fyers cannot stream, unless a retry found just the same.
    fn report_unstreamable(&mut self, mut rejected: Vec<String>, without_symbol: usize) {
        rejected.sort();
        let report = (rejected, without_symbol);
        if (!report.0.is_empty() || report.1 > 0) && report != self.reported {
            tracing::warn!(
                rejected = report.0.len(),
                without_fyers_symbol = report.1,
                examples = ?report.0.iter().take(5).collect::<Vec<_>>(),
                "instruments fyers cannot stream are left out"
            );
        }
        self.reported = report;
    }

    /// Every topic `demand` needs, for the instruments that resolved.
    fn topic_set(&self, demand: &Demand) -> BTreeSet<TopicName> {
        let mut set = BTreeSet::new();
        for (t, mode) in demand {
            if let Some(topics) = self.topics.get(t) {
                set.insert(topics.quote.clone());
                if *mode == Mode::Full
                    && let Some(d) = &topics.depth
                {
                    set.insert(d.clone());
                }
            }
        }
        set
    }

    /// The tick for instrument `token` after one of its topics changed.
    fn tick(&self, token: Token, received_ms: i64) -> Option<Tick> {
        let mode = *self.demand.get(&token)?;
        let topics = self.topics.get(&token)?;
        let quote = self.conn.store.by_topic(&topics.quote)?;
        let depth = topics
            .depth
            .as_ref()
            .filter(|_| mode == Mode::Full)
            .and_then(|d| self.conn.store.by_topic(d));
        super::ticks::build(token, topics.divisor, mode, quote, depth, received_ms)
    }

    fn on_data(
        &mut self,
        frame: &feedgate_fyers::hsm::DataFrame,
        received_ms: i64,
        ticks: &mut Vec<Tick>,
    ) -> Inbound {
        if let Some(ack) = self.conn.acks.on_data(frame.message_number) {
            self.conn.outbound.extend(binary(&ack));
        }
        let mut skipped = 0usize;
        for record in &frame.records {
            let (topic, kind) = match self.conn.store.apply(record) {
                Ok(Applied::Changed(state)) => (state.topic().clone(), state.kind()),
                Ok(Applied::Unchanged) => continue,
                // A record for a topic id without a snapshot: consumed, nothing to merge into.
                Err(_) => {
                    skipped += 1;
                    continue;
                }
            };
            // Late data for a topic already unsubscribed, or one never asked for.
            let Some(&token) = self.by_topic.get(&topic) else {
                skipped += 1;
                continue;
            };
            if kind == TopicKind::Depth && self.demand.get(&token) != Some(&Mode::Full) {
                continue;
            }
            if let Some(t) = self.tick(token, received_ms) {
                ticks.push(t);
            }
        }
        Inbound::Data { skipped }
    }
}

fn wire_error(e: RestError) -> WireError {
    if e.is_auth() {
        WireError::Auth(e.to_string())
    } else {
        WireError::Unavailable(e.to_string())
    }
}

/// A client frame as one binary message; a frame the codec refuses is logged and dropped (only
/// possible for absurd inputs: topic lists are chunked well below the limit).
fn binary(frame: &ClientFrame) -> Option<Message> {
    match frame.to_bytes() {
        Ok(bytes) => Some(Message::Binary(bytes)),
        Err(e) => {
            tracing::warn!(error = %e, kind = frame.msg_type(), "cannot encode a fyers frame; not sent");
            None
        }
    }
}

impl Wire for FyersWire {
    fn url(&self, _access_token: &str) -> String {
        // The token never goes into the URL or a header; see `on_open`.
        self.url.clone()
    }

    async fn prepare(
        &mut self,
        access_token: &SecretString,
        demand: &Demand,
        fresh: bool,
    ) -> Result<(), WireError> {
        let token = AccessToken::parse(access_token.expose_secret()).map_err(|e| {
            WireError::Auth(format!("not a usable fyers access token (APPID:JWT): {e}"))
        })?;
        if fresh {
            self.topics.clear();
            self.by_topic.clear();
            self.unresolvable.clear();
        }
        self.demand = demand.clone();
        let missing: Vec<Token> = demand
            .keys()
            .filter(|t| !self.topics.contains_key(t) && !self.unresolvable.contains(t))
            .copied()
            .collect();
        let result = if missing.is_empty() {
            Ok(())
        } else {
            self.resolve(&token, &missing).await
        };
        self.token = Some(token);
        result
    }

    fn on_open(&mut self, access_token: &str, out: &mut Vec<Message>) {
        self.conn = ConnState::default();
        let parsed = match &self.token {
            Some(t) if t.expose() == access_token.trim() => Some(t.clone()),
            _ => AccessToken::parse(access_token).ok(),
        };
        // An unparsable token sends no login; the missing answer is then a refusal.
        let Some(token) = parsed else {
            return;
        };
        let auth = ClientFrame::Auth(AuthRequest::new(token.hsm_key().clone(), SOURCE));
        let mode = ClientFrame::Mode(ModeRequest {
            channels: ChannelMask::single(Channel::DEFAULT),
            mode: FeedMode::Full,
        });
        out.extend(binary(&auth));
        out.extend(binary(&mode));
    }

    fn handshake_timeout(&self) -> Option<Duration> {
        Some(LOGIN_TIMEOUT)
    }

    fn covers(&self, token: Token) -> bool {
        self.topics.contains_key(&token)
    }

    fn coalesce(&self) -> Duration {
        COALESCE
    }

    fn diff(&self, from: &Demand, to: &Demand, out: &mut Vec<Message>) {
        let before = self.topic_set(from);
        let after = self.topic_set(to);
        let removed: Vec<TopicName> = before.difference(&after).cloned().collect();
        let added: Vec<TopicName> = after.difference(&before).cloned().collect();
        for chunk in removed.chunks(TOPICS_PER_FRAME) {
            out.extend(binary(&ClientFrame::Unsubscribe(TopicRequest {
                topics: chunk.to_vec(),
                channel: Channel::DEFAULT,
            })));
        }
        for chunk in added.chunks(TOPICS_PER_FRAME) {
            out.extend(binary(&ClientFrame::Subscribe(TopicRequest {
                topics: chunk.to_vec(),
                channel: Channel::DEFAULT,
            })));
        }
    }

    fn decode(&mut self, msg: &Message, received_ms: i64, ticks: &mut Vec<Tick>) -> Inbound {
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Pong(_) => return Inbound::Heartbeat,
            Message::Text(_) => {
                return Inbound::Malformed {
                    detail: "text frame on the binary data socket".into(),
                };
            }
            _ => return Inbound::Ignored,
        };
        match ServerFrame::decode(bytes) {
            Ok(ServerFrame::Data(frame)) => self.on_data(&frame, received_ms, ticks),
            Ok(ServerFrame::AuthReply(reply)) if reply.status.is_ok() => {
                self.conn.acks = AckCounter::new(reply.ack_count);
                Inbound::Accepted
            }
            Ok(ServerFrame::AuthReply(reply)) => Inbound::Refused {
                detail: format!(
                    "login refused (status {:?})",
                    String::from_utf8_lossy(reply.status.as_bytes())
                ),
            },
            Ok(ServerFrame::Status(s)) if s.status.is_ok() => Inbound::Ignored,
            Ok(ServerFrame::Status(s)) => Inbound::Notice {
                error: true,
                text: match s.kind {
                    StatusKind::Subscribe => "subscription refused".into(),
                    StatusKind::Unsubscribe => "unsubscription refused".into(),
                    StatusKind::Mode => "mode change refused".into(),
                    other => format!("{other:?} request refused"),
                },
            },
            Ok(ServerFrame::Custom(m)) if m.is_auth_failure() => Inbound::Refused {
                detail: format!("{} (code {})", m.message, m.code.unwrap_or_default()),
            },
            Ok(ServerFrame::Custom(m)) => Inbound::Notice {
                error: true,
                text: format!("{} (code {})", m.message, m.code.unwrap_or_default()),
            },
            Ok(ServerFrame::Unsupported(_)) => Inbound::Ignored,
            Err(e) => Inbound::Malformed {
                detail: e.to_string(),
            },
        }
    }

    fn drain_outbound(&mut self, out: &mut Vec<Message>) {
        out.append(&mut self.conn.outbound);
    }

    fn recording_context(&self) -> Option<Vec<u8>> {
        Some(self.context_bytes())
    }

    fn keepalive(&mut self, now: Instant, silent_for: Duration, out: &mut Vec<Message>) {
        if self.conn.next_ping.is_none_or(|t| now >= t) {
            out.extend(binary(&ClientFrame::Ping));
            self.conn.next_ping = Some(now + PING_INTERVAL);
        }
        if silent_for >= PROBE_AFTER
            && self
                .conn
                .last_probe
                .is_none_or(|t| now.duration_since(t) >= PROBE_AFTER)
        {
            out.push(Message::Ping(Bytes::new()));
            self.conn.last_probe = Some(now);
        }
    }
}

mod recording;
pub use recording::ContextError;

#[cfg(test)]
mod tests;

//! The simulator's observable state (`GET /_sim/state`, [`crate::Sim::state`]): connections and
//! their subscriptions, issued token ids, traffic counters and active faults, with the Fyers
//! side in its own section (`fyers`). Plain serde data.

use feedgate_kite::Mode;
use serde::{Deserialize, Serialize};

pub use crate::auth::TokenInfo;
pub use crate::fyers::tokens::FyersTokenInfo;

/// A snapshot of everything tests and operators may want to assert on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    /// Open ticker connections, oldest first.
    pub connections: Vec<ConnectionState>,
    /// Issued access tokens by id (the token strings are never exposed).
    pub tokens: Vec<TokenInfo>,
    /// Market-data packets written to ticker sockets.
    pub ticks_sent: u64,
    /// Binary market-data messages written (heartbeats excluded).
    pub frames_sent: u64,
    /// 1-byte heartbeats written.
    pub heartbeats_sent: u64,
    /// Market batches a slow connection skipped because it fell behind.
    pub batches_skipped: u64,
    /// Ticker WebSocket upgrade attempts.
    pub upgrades: UpgradeCounts,
    /// Quote endpoint calls (`/quote`, `/quote/ltp`, `/quote/ohlc`), rate-limited ones included.
    pub quote_requests: u64,
    /// Quote calls answered 429 because they came faster than 1 per second per api_key.
    pub quote_rate_limited: u64,
    /// Quote calls answered with quotes (HTTP 200).
    #[serde(default)]
    pub quotes_served: u64,
    /// Kite REST calls answered 429 for any reason: the 1/s quote limit and `rest_429` faults.
    #[serde(default)]
    pub rest_429s: u64,
    /// Order postbacks produced by `POST /_sim/order` (each queued on every open ticker socket).
    #[serde(default)]
    pub order_updates: u64,
    /// Historical candle calls (`/instruments/historical/…`), 429s included.
    #[serde(default)]
    pub history_requests: u64,
    /// Faults in effect and fault history counters.
    pub faults: FaultState,
    /// The Fyers data sockets, tokens and counters.
    #[serde(default)]
    pub fyers: FyersState,
}

/// One open ticker connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    pub id: u64,
    pub api_key: String,
    /// Subscribed tokens with their modes, sorted by token.
    pub subscriptions: Vec<Subscription>,
    /// Subscription slots used against the 3000 cap (duplicate subscribes count again).
    pub slots_used: usize,
    /// Inside a `stall` fault: the socket is open but nothing is sent.
    pub stalled: bool,
    /// Inside a `heartbeat_flood` fault: heartbeats only, no market data.
    #[serde(default)]
    pub flooding: bool,
    pub ticks_sent: u64,
    pub frames_sent: u64,
}

/// One subscribed instrument of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub token: u32,
    pub mode: Mode,
}

/// Ticker upgrade attempts, accepted and refused by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpgradeCounts {
    pub accepted: u64,
    pub refused: RefusedCounts,
}

/// Refused upgrades by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefusedCounts {
    /// 403: unknown api_key, missing, unknown or expired access token.
    pub bad_token: u64,
    /// 429: a 4th concurrent connection for an api_key.
    pub too_many_connections: u64,
    /// 403 during a `reject_ws` fault.
    pub reject_ws: u64,
}

impl RefusedCounts {
    pub fn total(&self) -> u64 {
        self.bad_token + self.too_many_connections + self.reject_ws
    }
}

/// Faults in effect now, and how many times each one-shot fault was applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaultState {
    /// Seconds left of a `reject_ws` fault, if one is active.
    pub reject_ws_remaining_seconds: Option<f64>,
    /// Seconds left of a `rest_429` fault, if one is active.
    #[serde(default)]
    pub rest_429_remaining_seconds: Option<f64>,
    /// Ids of connections inside a `stall`.
    pub stalled_connections: Vec<u64>,
    /// Ids of ticker connections inside a `heartbeat_flood` (Fyers: `fyers.connections[].flooding`).
    #[serde(default)]
    pub flooding_connections: Vec<u64>,
    pub drops: u64,
    pub stalls: u64,
    pub token_expiries: u64,
    pub reject_ws: u64,
    pub malformed_frames_sent: u64,
    /// `heartbeat_flood` faults applied.
    #[serde(default)]
    pub heartbeat_floods: u64,
    /// Heartbeats the ticker connections sent during floods (also in `heartbeats_sent`).
    #[serde(default)]
    pub flood_heartbeats_sent: u64,
    /// `rest_429` faults applied.
    #[serde(default)]
    pub rest_429: u64,
    pub clears: u64,
}

/// The Fyers side: open data sockets, issued Fyers tokens and counters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FyersState {
    /// Open data-socket connections, oldest first.
    pub connections: Vec<FyersConnectionState>,
    /// Issued Fyers access tokens by id (never the token strings).
    pub tokens: Vec<FyersTokenInfo>,
    /// Data-socket upgrade attempts.
    pub upgrades: FyersUpgradeCounts,
    /// Auth frames by outcome.
    pub auth: FyersAuthCounts,
    /// Data frames (type 6) written.
    pub frames_sent: u64,
    /// `S` records written.
    pub snapshots_sent: u64,
    /// `U` records written.
    pub updates_sent: u64,
    /// `L` records written.
    pub lite_sent: u64,
    /// Ping frames received (each answered with a ping frame).
    pub pings_received: u64,
    pub pongs_sent: u64,
    /// Ack frames received.
    pub acks_received: u64,
    /// Connections closed for missing acks (with `fyers_enforce_acks`).
    pub ack_violations: u64,
    /// Client messages that were not HSM frames (undecodable binary, or text).
    pub bad_frames_received: u64,
    /// Market batches a slow connection skipped.
    pub batches_skipped: u64,
    /// Garbage frames sent by the `malformed` fault.
    pub malformed_frames_sent: u64,
    /// `POST /data/symbol-token` calls.
    pub symbol_token_requests: u64,
    /// `GET /data/quotes` calls, rate-limited ones included.
    pub quote_requests: u64,
    /// Quotes calls answered 429 (over 10/s or 200/min).
    pub quote_rate_limited: u64,
    /// Quotes calls answered with quotes (HTTP 200).
    #[serde(default)]
    pub quotes_served: u64,
    /// Fyers REST calls answered 429 for any reason: the quotes rate limit and `rest_429`
    /// faults.
    #[serde(default)]
    pub rest_429s: u64,
    /// Ping frames sent by `heartbeat_flood` faults (not answers to client pings).
    #[serde(default)]
    pub flood_pings_sent: u64,
}

/// Data-socket upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FyersUpgradeCounts {
    pub accepted: u64,
    /// 403 during a `reject_ws` fault.
    pub refused_reject_ws: u64,
}

/// Auth frames by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FyersAuthCounts {
    /// Answered `K`.
    pub ok: u64,
    /// Answered `N` (unknown, expired or invalidated `hsm_key`).
    pub refused: u64,
    /// Ignored because the upgrade carried an `Authorization` header.
    pub ignored: u64,
}

/// One open data socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FyersConnectionState {
    pub id: u64,
    pub authenticated: bool,
    /// The access token it authenticated with (its id).
    pub token_id: Option<u64>,
    /// The upgrade carried an `Authorization` header, so the connection ignores everything.
    pub authorization_header: bool,
    /// The `ack_count` announced in the auth reply.
    pub ack_count: u32,
    /// Highest message number acknowledged.
    pub last_ack: Option<u32>,
    /// Number of the last data frame sent.
    pub message_number: u32,
    /// Inside a `stall` fault.
    pub stalled: bool,
    /// Inside a `heartbeat_flood` fault: ping frames only, no market data.
    #[serde(default)]
    pub flooding: bool,
    pub frames_sent: u64,
    pub records_sent: u64,
    pub acks_received: u64,
    pub pings_received: u64,
    /// Subscribed topics, sorted by topic.
    pub subscriptions: Vec<FyersSubscription>,
}

/// One subscribed topic of a data socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FyersSubscription {
    /// `sf|nse_cm|3045`.
    pub topic: String,
    pub topic_id: u16,
    /// `NSE:SBIN-EQ`.
    pub symbol: String,
    pub channel: u8,
    /// `full` or `lite` (the channel's mode).
    pub mode: FyersMode,
    /// The channel is paused.
    pub paused: bool,
    /// Price decimals of the topic (multiplier is always 1).
    pub precision: u8,
    /// The raw values the client holds now, as the last S/U/L records left them, in field order
    /// (`null` = not available). Compare a client's view with these during a `stall`.
    pub values: Vec<Option<i32>>,
}

/// A channel's data mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FyersMode {
    Full,
    Lite,
}

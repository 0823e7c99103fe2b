//! The simulator's observable state (`GET /_sim/state`, [`crate::Sim::state`]): connections and
//! their subscriptions, issued token ids, traffic counters and active faults. Plain serde data.

use feedgate_kite::Mode;
use serde::{Deserialize, Serialize};

pub use crate::auth::TokenInfo;

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
    /// Faults in effect and fault history counters.
    pub faults: FaultState,
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
    /// Ids of connections inside a `stall`.
    pub stalled_connections: Vec<u64>,
    pub drops: u64,
    pub stalls: u64,
    pub token_expiries: u64,
    pub reject_ws: u64,
    pub malformed_frames_sent: u64,
    pub clears: u64,
}

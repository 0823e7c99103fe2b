//! feedgate's broker simulator: Zerodha Kite Connect's ticker WebSocket, REST endpoints and login
//! page, and Fyers API v3's HSM data socket, REST endpoints, login page and symbol masters, all
//! on one port over one deterministic simulated market, with a fault-injection control API
//! (DESIGN.md §7). Used in-process by tests and `feedgate demo`, and standalone as `feedgate sim`.
//!
//! # Endpoints
//!
//! | path | what |
//! |---|---|
//! | WebSocket on any path but the one below | Kite ticker (`?api_key=…&access_token=…`) |
//! | `/quote`, `/quote/ltp`, `/quote/ohlc`, `/user/profile`, `/session/token`, `/instruments` | Kite REST |
//! | `/connect/login` | Kite login page |
//! | WebSocket `/hsm/v1-5/prod` | Fyers data socket ([`Sim::fyers_ws_url`], `FYERS_WS_URL`) |
//! | `/api/v3/profile`, `/api/v3/validate-authcode`, `/api/v3/validate-refresh-token` | Fyers account and auth REST |
//! | `/api/v3/generate-authcode` | Fyers login page (`GET`) and its form (`POST`) |
//! | `/data/symbol-token`, `/data/quotes` | Fyers data REST |
//! | `/sym_details/{NSE_CM,NSE_FO,NSE_CD,BSE_CM,BSE_FO,BSE_CD,NSE_COM,MCX_COM}.csv` | Fyers symbol masters (headerless, 21 columns) |
//! | `/sym_details/index_hsm_mapping.json` | Fyers index symbol → topic name |
//! | `/_sim/fault`, `/_sim/state`, `/_sim/token[?broker=fyers[&expires_in=S]]`, `/_sim/order` | control API |
//!
//! `FYERS_API_URL` is the simulator's root ([`Sim::fyers_api_url`]): the Fyers REST client
//! appends `/api/v3`, `/data` and `/sym_details/…` itself. Fyers credentials are separate from
//! Kite's: app id `FEEDGATESIM-100`, secret `feedgate-sim-fyers-secret` and redirect URL
//! `http://127.0.0.1:8080/api/auth/callback` by default ([`SimConfig`]); access tokens are
//! `APPID:JWT` with `exp` and `hsm_key` claims ([`Sim::mint_fyers_token`]). Every fault applies
//! to both brokers ([`Fault`]: drop, stall, expire_token, reject_ws, malformed, heartbeat_flood,
//! rest_429, clear); `/_sim/state` has a `fyers` section with the data sockets, the raw values
//! each client holds per topic, token ids and counters.
//!
//! Everything timed (market updates, heartbeats, fault durations, token expiry, rate limits)
//! runs on `tokio::time`, so paused-time tests drive the simulator too; wall-clock timestamps
//! are the real UTC time at start plus tokio's elapsed time.
//!
//! Accepted sockets have `TCP_NODELAY` set (ticks must leave at once). Paused-time tests should
//! disable Nagle on their client sockets too: a delayed ACK costs ~40 ms of *real* time, during
//! which an idle paused runtime auto-advances its clock and timeouts fire spuriously.
//!
//! Known limits: plain `ws://`/`http://` only (no TLS); Kite's u32 volume field saturates if a
//! benchmark runs at 100k ticks/s for many hours (cumulative volume passes 4.29 billion), and
//! Fyers' i32 values sooner (2.1 billion).

/// Issued request and access tokens.
mod auth;
/// The wall clock and Kite's IST timestamp format.
mod clock;
/// Simulator configuration.
pub mod config;
/// The control API router.
mod control;
/// Exact decimal rendering of wire integers.
mod decimal;
/// The simulator's error type.
pub mod error;
/// Fault injection.
pub mod fault;
/// The market feed task.
mod feed;
/// The Fyers front-end (data socket, REST, login page, symbol masters).
mod fyers;
/// The Kite front-end (ticker, REST, login page); [`kite::frame`] encodes a round's ticker
/// frame for tools.
pub mod kite;
/// The broker-independent half of a connection task (faults, select loop, exits).
mod link;
/// The broker-neutral simulated market.
pub mod market;
/// The opt-in send hook for benchmarks.
pub mod observer;
/// Connections, demand and counters.
mod registry;
/// Starting the simulator and the [`Sim`] handle.
mod server;
/// State shared by handlers and tasks.
mod shared;
/// The observable state served at `/_sim/state`.
pub mod state;
/// The instrument universe.
pub mod universe;

pub use config::SimConfig;
pub use control::OrderSent;
pub use error::SimError;
pub use fault::Fault;
pub use observer::SendObserver;
pub use server::Sim;
pub use state::{
    ConnectionState, FaultState, FyersAuthCounts, FyersConnectionState, FyersMode, FyersState,
    FyersSubscription, FyersTokenInfo, FyersUpgradeCounts, RefusedCounts, SimState, Subscription,
    TokenInfo, UpgradeCounts,
};
pub use universe::{Instrument, InstrumentType};

//! feedgate's broker simulator: Zerodha Kite Connect's ticker WebSocket, REST endpoints and login
//! page over a deterministic simulated market, with a fault-injection control API (DESIGN.md §7).
//! Used in-process by tests and `feedgate demo`, and standalone as `feedgate sim`.
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
//! benchmark runs at 100k ticks/s for many hours (cumulative volume passes 4.29 billion).

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
/// The Kite front-end (ticker, REST, login page).
mod kite;
/// The broker-neutral simulated market.
pub mod market;
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
pub use error::SimError;
pub use fault::Fault;
pub use server::Sim;
pub use state::{
    ConnectionState, FaultState, RefusedCounts, SimState, Subscription, TokenInfo, UpgradeCounts,
};
pub use universe::{Instrument, InstrumentType};

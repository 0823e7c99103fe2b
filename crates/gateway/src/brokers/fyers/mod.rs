//! Fyers API v3: the REST adapter ([`rest::FyersBroker`]), the HSM data socket as a
//! [`crate::brokers::Wire`] ([`wire::FyersWire`]) with its topic state → tick conversion, the
//! symbol master and book, and the one request budget every Fyers call goes through.

/// Token → Fyers symbol, shared with the data socket.
pub mod book;
/// One request budget (10/s, 200/min) for every Fyers API call.
pub mod limiter;
/// Symbol master rows → registry specs.
pub mod master;
pub mod rest;
/// Topic state → ticks.
pub mod ticks;
pub mod units;
pub mod wire;

pub use rest::FyersBroker;
pub use wire::FyersWire;

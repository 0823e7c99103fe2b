//! Fyers API v3: the REST adapter ([`rest::FyersBroker`]), the HSM data socket as a
//! [`crate::brokers::Wire`] ([`wire::FyersWire`]) with its topic state → tick conversion, the
//! symbol master and book, and the one request budget every Fyers call goes through.

pub mod book;
pub mod limiter;
pub mod master;
pub mod rest;
pub mod ticks;
pub mod units;
pub mod wire;

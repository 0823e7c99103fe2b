//! An order update from the broker (a postback its socket delivered) as the upstream hands it
//! on: the frame's text exactly as received, which clients get unchanged, with the order id
//! and status for the log; and [`OrderRelay`], what the upstream hands it to (the hub's
//! order fan-out, a layer above it).

use axum::extract::ws::Utf8Bytes;

/// One order update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    /// The broker's text frame as received (Kite: `{"type":"order","data":{…}}`).
    pub text: Utf8Bytes,
    /// The order's id (empty when the postback has none).
    pub order_id: String,
    /// Its status (`OPEN`, `COMPLETE`, …; empty when the postback has none).
    pub status: String,
}

/// Where the upstream delivers each order update, once (duplicates from the broker's other
/// sockets are dropped before). Must not block: it runs on a broker socket's reader.
pub trait OrderRelay: Send + Sync + std::fmt::Debug {
    fn relay(&self, update: &OrderUpdate);
}

/// Relays nothing: for an upstream nobody takes order updates from (tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOrderRelay;

impl OrderRelay for NoOrderRelay {
    fn relay(&self, _update: &OrderUpdate) {}
}

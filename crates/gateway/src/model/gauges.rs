//! Live gauges that change too often for a `watch`: when market data last reached feedgate
//! (written by the upstream connections and the REST fallback), how many clients are
//! connected (written by the client tasks) and how many broker order updates were relayed
//! (written by the upstream). Read by the status monitor, health and heartbeats.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// Shared, cheaply readable gauges that change too often for a `watch`.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Wall-clock Unix ms of the last market-data tick received (0 = never).
    pub last_data_ms: AtomicI64,
    /// Open client WebSocket connections (both protocols).
    pub connections: AtomicUsize,
    /// Of those, connections speaking Kite's ticker protocol (`/kite`).
    pub kite_connections: AtomicUsize,
    /// Order updates from the broker relayed to clients (each once, however many sockets
    /// delivered it).
    pub order_updates: AtomicU64,
}

impl Gauges {
    pub fn last_tick_seconds_ago(&self, now_ms: i64) -> Option<f64> {
        match self.last_data_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(((now_ms - t).max(0) as f64 / 1000.0 * 10.0).round() / 10.0),
        }
    }
}

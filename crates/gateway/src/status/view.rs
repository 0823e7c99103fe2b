//! The gateway's live status as clients see it: what `connection_status` and `heartbeat`
//! carry. One producer (the status monitor, [`crate::status::monitor`]) publishes it through a
//! `watch`; every client task reads it.

use crate::model::gauges::Gauges;
use std::sync::Arc;
use tokio::sync::watch;

/// `connection_status` fields, plus the feed-health part of heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientStatus {
    /// `WebSocket` or `REST API Polling`.
    pub mode: &'static str,
    /// `EXCELLENT`, `DEGRADED` or `POOR`.
    pub quality: &'static str,
    /// A sentence for a person: what is happening and, if needed, what to do.
    pub message: String,
    /// The market phase (`LIVE`, `CLOSED`, …).
    pub market_status: &'static str,
    pub auth_required: bool,
    /// Feed state (`connected`, `connecting`, `stale`, `disconnected`, `error`).
    pub feed_state: &'static str,
    pub is_healthy: bool,
    /// Percentage of the trailing 15 minutes of should-have-data time that was connected and fresh.
    pub connection_quality: f64,
    pub using_rest_fallback: bool,
}

impl ClientStatus {
    /// The fields whose change triggers a new `connection_status` (DESIGN.md §6).
    pub fn change_key(&self) -> (&'static str, &'static str, &'static str, bool) {
        (
            self.mode,
            self.quality,
            self.market_status,
            self.auth_required,
        )
    }

    /// What a gateway that has not connected yet reports.
    pub fn starting() -> Self {
        Self {
            mode: "WebSocket",
            quality: "POOR",
            message: "Connecting to the broker…".into(),
            market_status: "CLOSED",
            auth_required: false,
            feed_state: "connecting",
            is_healthy: false,
            connection_quality: 0.0,
            using_rest_fallback: false,
        }
    }
}

/// The receiving side handed to client tasks and the API.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub status: watch::Receiver<ClientStatus>,
    pub gauges: Arc<Gauges>,
}

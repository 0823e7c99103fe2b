//! The HTTP API and the client WebSocket endpoint (DESIGN.md §5–§6), as one axum router over
//! a cheaply cloneable [`AppState`].

pub mod error;
pub mod quotes;
pub mod status;
pub mod ws;

pub use error::ApiError;

use crate::client::ClientContext;
use crate::clock::SharedClock;
use crate::hub::HubHandle;
use crate::instruments::Registry;
use crate::status::Gauges;
use crate::upstream::UpstreamHandle;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything the handlers need.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: ClientContext,
    upstream: UpstreamHandle,
    feed_live: watch::Receiver<bool>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl AppState {
    pub fn new(
        client: ClientContext,
        upstream: UpstreamHandle,
        feed_live: watch::Receiver<bool>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                upstream,
                feed_live,
                shutdown,
                tracker,
            }),
        }
    }

    pub fn client_context(&self) -> ClientContext {
        self.inner.client.clone()
    }

    pub fn hub(&self) -> &HubHandle {
        &self.inner.client.hub
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.inner.client.registry.borrow().clone()
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.client.clock
    }

    pub fn gauges(&self) -> &Arc<Gauges> {
        &self.inner.client.status.gauges
    }

    pub fn upstream(&self) -> &UpstreamHandle {
        &self.inner.upstream
    }

    pub fn feed_live(&self) -> bool {
        *self.inner.feed_live.borrow()
    }

    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub fn tracker(&self) -> TaskTracker {
        self.inner.tracker.clone()
    }
}

/// The gateway's routes (without the dashboard and health, which are added by their modules).
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/ws/market", get(ws::upgrade))
        .route("/api/websocket/stream", get(ws::upgrade))
        .route("/api/websocket/status", get(status::websocket_status))
        .route("/api/quotes", get(quotes::quotes))
        .with_state(app)
}

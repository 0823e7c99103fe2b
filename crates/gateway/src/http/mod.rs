//! The HTTP API and the client WebSocket endpoint (DESIGN.md §5–§6), as one axum router over
//! a cheaply cloneable [`AppState`].

pub mod auth;
pub mod candles;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod instruments;
pub mod peer;
pub mod quotes;
pub mod status;
pub mod ws;

pub use error::ApiError;

use crate::auth::AuthHandle;
use crate::brokers::BrokerApi;
use crate::clients::ClientContext;
use crate::hub::HubHandle;
use crate::model::clock::SharedClock;
use crate::model::gauges::Gauges;
use crate::model::instruments::Registry;
use crate::model::live::FeedLive;
use crate::status::health::HealthSources;
use crate::store::candle_files::CandleStore;
use crate::upstream::UpstreamHandle;
use axum::Router;
use axum::routing::{get, post};
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
    feed_live: watch::Receiver<FeedLive>,
    auth: AuthHandle,
    broker: Arc<dyn BrokerApi>,
    health: HealthSources,
    candles: CandleStore,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// The parts an [`AppState`] is built from.
#[derive(Debug)]
pub struct AppParts {
    pub client: ClientContext,
    pub upstream: UpstreamHandle,
    pub feed_live: watch::Receiver<FeedLive>,
    pub auth: AuthHandle,
    pub broker: Arc<dyn BrokerApi>,
    pub health: HealthSources,
    pub candles: CandleStore,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

impl AppState {
    pub fn new(p: AppParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: p.client,
                upstream: p.upstream,
                feed_live: p.feed_live,
                auth: p.auth,
                broker: p.broker,
                health: p.health,
                candles: p.candles,
                shutdown: p.shutdown,
                tracker: p.tracker,
            }),
        }
    }

    pub fn auth(&self) -> &AuthHandle {
        &self.inner.auth
    }

    pub fn broker(&self) -> &Arc<dyn BrokerApi> {
        &self.inner.broker
    }

    pub fn health(&self) -> &HealthSources {
        &self.inner.health
    }

    pub fn candle_store(&self) -> &CandleStore {
        &self.inner.candles
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

    pub fn feed_live(&self) -> FeedLive {
        *self.inner.feed_live.borrow()
    }

    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub fn tracker(&self) -> TaskTracker {
        self.inner.tracker.clone()
    }
}

/// The gateway's routes: the API, the client WebSocket, health, metrics and the dashboard.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/ws/market", get(ws::upgrade))
        .route("/api/websocket/stream", get(ws::upgrade))
        .route("/api/websocket/status", get(status::websocket_status))
        .route("/api/quotes", get(quotes::quotes))
        .route("/api/login", get(auth::login))
        .route("/api/auth/callback", get(auth::callback))
        .route("/api/system/health/auth/verify", post(auth::verify))
        .route("/api/system/health", get(health::document))
        .route("/api/system/health/market", get(health::market))
        .route("/api/system/health/auth", get(health::auth))
        .route("/api/system/health/feed", get(health::feed))
        .route("/api/instruments", get(instruments::search))
        .route("/api/candles", get(candles::candles))
        .route("/metrics", get(crate::status::telemetry::render))
        .with_state(app)
        .merge(crate::http::dashboard::router())
}

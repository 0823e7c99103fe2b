//! The HTTP API and the client WebSocket endpoint (DESIGN.md §5–§6), as one axum router over
//! a cheaply cloneable [`AppState`].

pub mod access;
pub mod auth;
pub mod candle_range;
pub mod candles;
pub mod cluster;
pub mod cookies;
pub mod dashboard;
pub mod error;
pub mod guard;
pub mod health;
pub mod instruments;
pub mod kite_rest;
pub mod kite_ws;
pub mod peer;
pub mod quotes;
pub mod session;
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
use crate::model::scope::Scope;
use crate::rest::history::HistoryAccess;
use crate::status::health::HealthSources;
use crate::store::candle_files::CandleStore;
use crate::upstream::UpstreamHandle;
use access::AccessState;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
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
    access: AccessState,
    kite_rest: kite_rest::KiteRest,
    history: HistoryAccess,
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
    pub access: AccessState,
    pub kite_rest: kite_rest::KiteRest,
    /// The broker's historical API for `/api/candles` over days nothing local holds.
    pub history: HistoryAccess,
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
                access: p.access,
                kite_rest: p.kite_rest,
                history: p.history,
                shutdown: p.shutdown,
                tracker: p.tracker,
            }),
        }
    }

    pub fn auth(&self) -> &AuthHandle {
        &self.inner.auth
    }

    pub fn access(&self) -> &AccessState {
        &self.inner.access
    }

    /// The Kite REST reads' kept set and fetcher.
    pub fn kite_rest(&self) -> &kite_rest::KiteRest {
        &self.inner.kite_rest
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

    pub fn history(&self) -> &HistoryAccess {
        &self.inner.history
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

/// The gateway's routes: the API, the client WebSocket, health, metrics and the dashboard,
/// plus `extra` (the simulator's `/_sim` in demo mode, which needs the admin scope). Every
/// request passes the host/origin guard and [`access::identify`]; every answer carries
/// `X-Content-Type-Options: nosniff`.
pub fn router(app: AppState, extra: Option<Router>) -> Router {
    let read = Router::new()
        .route("/api/websocket/status", get(status::websocket_status))
        .route("/api/quotes", get(quotes::quotes))
        .route("/api/system/health/market", get(health::market))
        .route("/api/system/health/auth", get(health::auth))
        .route("/api/system/health/feed", get(health::feed))
        .route("/api/instruments", get(instruments::search))
        .route("/api/candles", get(candles::candles))
        .route_layer(middleware::from_fn(needs_read));
    let admin = Router::new()
        .route("/api/login", get(auth::login))
        .route("/api/system/health/auth/verify", post(auth::verify))
        .route("/metrics", get(crate::status::telemetry::render))
        .route("/api/cluster", get(cluster::cluster))
        .route_layer(middleware::from_fn(needs_admin));
    // The WebSocket admits its callers itself (a browser may sign in with its first message);
    // health answers everyone, with less for fewer scopes.
    let open = Router::new()
        .route("/ws/market", get(ws::upgrade))
        .route("/api/websocket/stream", get(ws::upgrade))
        // Kite's clients append `?api_key=…` to the root they are given, with or without a
        // trailing slash.
        .route("/kite", get(kite_ws::upgrade))
        .route("/kite/", get(kite_ws::upgrade))
        .route("/api/system/health", get(health::document))
        // Admin-only by binding: its state must belong to the admin session that started the
        // login (see `auth`), proven by a cookie the cross-site redirect does carry.
        .route("/api/auth/callback", get(auth::callback))
        .route(
            "/api/session",
            get(session::status)
                .post(session::sign_in)
                .delete(session::sign_out),
        );
    let mut routes = Router::new()
        .merge(read)
        .merge(kite_rest::router())
        .merge(admin)
        .merge(open)
        .with_state(app.clone())
        .merge(crate::http::dashboard::router());
    if let Some(extra) = extra {
        routes = routes.merge(extra.route_layer(middleware::from_fn(needs_admin)));
    }
    routes
        .layer(middleware::from_fn_with_state(
            app.clone(),
            access::identify,
        ))
        .layer(middleware::from_fn_with_state(app, guard::guard))
        .layer(middleware::from_fn(guard::nosniff))
}

async fn needs_read(req: Request, next: Next) -> axum::response::Response {
    access::require(Scope::Read, req, next).await
}

async fn needs_admin(req: Request, next: Next) -> axum::response::Response {
    access::require(Scope::Admin, req, next).await
}

//! [`Sim`]: starting the simulator (one axum app on one listener: the ticker WebSocket on any
//! path, Kite REST, the login page and `/_sim/`), and the handle's accessors.

use crate::auth::TokenStore;
use crate::clock::{WallClock, ist_date};
use crate::config::SimConfig;
use crate::control::OrderSent;
use crate::error::SimError;
use crate::fault::{self, Fault};
use crate::fyers::{self, FyersShared};
use crate::kite;
use crate::kite::postback::{self, OrderError};
use crate::market::{Market, Pace, TICK_PERIOD};
use crate::registry::{Registry, lock};
use crate::shared::{QuoteLimiter, Shared, WindowLimiter};
use crate::state::{ConnectionState, FaultState, SimState};
use crate::universe::{Instrument, build_universe_with_synthetic};
use crate::{control, feed};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

/// Market batches a connection may fall behind before it skips some (≈ 12 s at 20 batches/s).
const BATCH_BACKLOG: usize = 256;

/// A running simulator. Cheap to clone; every clone controls the same simulator.
#[derive(Debug, Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

impl Sim {
    /// Serves the whole simulator on `listener` (spawned tasks) until `shutdown` is cancelled.
    pub async fn start(
        cfg: SimConfig,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Sim, SimError> {
        cfg.validate()?;
        let addr = listener.local_addr().map_err(SimError::LocalAddr)?;
        let shared = Arc::new(new_shared(cfg, addr, shutdown));
        tokio::spawn(feed::run(Arc::clone(&shared)));
        serve(Arc::clone(&shared), listener);
        info!(
            addr = %addr,
            seed = shared.cfg.seed,
            instruments = shared.universe.len(),
            rate = ?shared.cfg.rate,
            speed = shared.cfg.speed,
            "broker simulator started"
        );
        Ok(Sim { shared })
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://HOST:PORT` (the REST root and the login page's host).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// `ws://HOST:PORT` (the ticker root).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.shared.addr)
    }

    /// Mints a valid access token for the configured api_key (same as `POST /_sim/token`).
    pub fn mint_access_token(&self) -> String {
        let (id, token) = lock(&self.shared.tokens).mint_access();
        info!(token_id = id, "access token minted through the library api");
        token.expose_secret().to_owned()
    }

    /// `ws://HOST:PORT/hsm/v1-5/prod`: the Fyers data socket (`FYERS_WS_URL`).
    pub fn fyers_ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.shared.addr,
            crate::fyers::DATA_SOCKET_PATH
        )
    }

    /// `http://HOST:PORT`: the Fyers API root (`FYERS_API_URL`), under which the simulator
    /// serves `/api/v3/…`, `/data/…` and `/sym_details/…`.
    pub fn fyers_api_url(&self) -> String {
        self.base_url()
    }

    /// Mints a Fyers access token valid now, in the documented `APPID:JWT` form (same as
    /// `POST /_sim/token?broker=fyers`). It expires after
    /// [`SimConfig::fyers_token_ttl`](crate::SimConfig::fyers_token_ttl).
    pub fn mint_fyers_token(&self) -> String {
        let shared = &self.shared;
        shared.fyers.mint_app_token(&shared.cfg, &shared.clock)
    }

    /// The control API with paths relative to `/_sim` (`/fault`, `/state`, `/token`), for
    /// nesting under `/_sim` in another server.
    pub fn control_router(&self) -> Router {
        control::router(Arc::clone(&self.shared))
    }

    /// Applies a fault (same as `POST /_sim/fault`).
    pub fn fault(&self, fault: Fault) -> Result<(), SimError> {
        fault::apply(&self.shared, fault)
    }

    /// Sends one Kite order postback with `overrides` on top of the defaults (same as
    /// `POST /_sim/order`): a text frame `{"type":"order","data":…}` queued on every open
    /// ticker socket.
    pub fn order(&self, overrides: &serde_json::Value) -> Result<OrderSent, SimError> {
        let invalid = |e: OrderError| SimError::InvalidOrder(e.to_string());
        let serde_json::Value::Object(overrides) = overrides else {
            return Err(invalid(OrderError::NotAnObject));
        };
        postback::known_fields(overrides).map_err(invalid)?;
        control::post_order(&self.shared, overrides).map_err(invalid)
    }

    /// The universe: every instrument the simulator serves.
    pub fn instruments(&self) -> Vec<Instrument> {
        self.shared.universe.instruments().to_vec()
    }

    /// What `GET /_sim/state` returns.
    pub fn state(&self) -> SimState {
        let shared = &self.shared;
        let now = Instant::now();
        let connections: Vec<_> = shared
            .registry
            .connections()
            .iter()
            .map(|c| c.state(now))
            .collect();
        let c = &shared.registry.counters;
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let remaining = |until: &std::sync::Mutex<Option<Instant>>| {
            lock(until)
                .filter(|until| *until > now)
                .map(|until| until.duration_since(now).as_secs_f64())
        };
        SimState {
            tokens: lock(&shared.tokens).infos(),
            ticks_sent: load(&c.ticks_sent),
            frames_sent: load(&c.frames_sent),
            heartbeats_sent: load(&c.heartbeats_sent),
            batches_skipped: load(&c.batches_skipped),
            upgrades: c.upgrades(),
            quote_requests: load(&c.quote_requests),
            quote_rate_limited: load(&c.quote_rate_limited),
            quotes_served: load(&c.quotes_served),
            rest_429s: load(&c.rest_429s),
            order_updates: load(&c.order_updates),
            history_requests: load(&c.history_requests),
            faults: FaultState {
                reject_ws_remaining_seconds: remaining(&shared.reject_ws_until),
                rest_429_remaining_seconds: remaining(&shared.rest_429_until),
                stalled_connections: ids(&connections, |c| c.stalled),
                flooding_connections: ids(&connections, |c| c.flooding),
                drops: load(&c.drops),
                stalls: load(&c.stalls),
                token_expiries: load(&c.token_expiries),
                reject_ws: load(&c.reject_ws),
                malformed_frames_sent: load(&c.malformed_sent),
                heartbeat_floods: load(&c.heartbeat_floods),
                flood_heartbeats_sent: load(&c.flood_heartbeats_sent),
                rest_429: load(&c.rest_429_faults),
                clears: load(&c.clears),
            },
            connections,
            fyers: shared.fyers.state(shared.clock.now().timestamp(), now),
        }
    }
}

/// The ids of the connections that satisfy `pick`.
fn ids(connections: &[ConnectionState], pick: impl Fn(&ConnectionState) -> bool) -> Vec<u64> {
    connections
        .iter()
        .filter(|c| pick(c))
        .map(|c| c.id)
        .collect()
}

/// The universe, market and empty books of a simulator starting now (or at `cfg.start_at`) on
/// `addr`.
fn new_shared(cfg: SimConfig, addr: SocketAddr, shutdown: CancellationToken) -> Shared {
    let clock = cfg
        .start_at
        .map_or_else(WallClock::start_now, WallClock::starting_at);
    let now = clock.now();
    let universe = Arc::new(build_universe_with_synthetic(
        ist_date(now),
        cfg.extra_instruments,
    ));
    // The market schedules per 50 ms timer tick; a custom batch period keeps the aggregate
    // rate by scaling what one (more or less frequent) timer tick carries.
    let period_scale = cfg.effective_batch_period().as_secs_f64() / TICK_PERIOD.as_secs_f64();
    let pace = Pace {
        rate: cfg.rate.map(|r| r * period_scale),
        speed: cfg.speed,
    };
    let market = Market::new(Arc::clone(&universe), cfg.seed, pace, now);
    let (batches, _) = broadcast::channel(BATCH_BACKLOG);
    let fyers = FyersShared::new(&universe);
    Shared {
        registry: Registry::new(universe.len()),
        addr,
        universe,
        market: Mutex::new(market),
        clock,
        tokens: Mutex::new(TokenStore::default()),
        reject_ws_until: Mutex::new(None),
        rest_429_until: Mutex::new(None),
        quote_limiter: Mutex::new(QuoteLimiter::default()),
        history_limiter: Mutex::new(WindowLimiter::historical()),
        batches,
        shutdown,
        fyers,
        cfg,
    }
}

/// Spawns the HTTP server of [`app`] on `listener`, stopping gracefully on shutdown.
fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let stop = shared.shutdown.clone();
    let app = app(shared);
    // No Nagle: ticks are small frames that must leave at once (latency is what clients
    // measure), and delayed ACKs would otherwise hold a frame back by ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            debug!(error = %err, "cannot disable nagle on an accepted socket");
        }
    });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(err) = served {
            error!(error = %err, "simulator http server failed");
        }
    });
}

/// The whole app: WebSocket upgrades go to the Fyers data socket (its path) or the Kite ticker
/// (any other path); everything else to Kite or Fyers REST, the login pages or `/_sim`.
fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(kite::rest::router())
        .merge(fyers::rest::router())
        .merge(kite::login_router())
        .fallback(kite::rest::not_found)
        .with_state(Arc::clone(&shared))
        .nest("/_sim", control::router(Arc::clone(&shared)))
        .layer(middleware::from_fn_with_state(shared, route_upgrades))
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Sends WebSocket upgrade requests for `/hsm/v1-5/prod` to the Fyers data socket and all
/// others to the Kite ticker, whatever their path (Kite clients differ in the path they use:
/// none, `/`, or a prefix).
async fn route_upgrades(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if !is_websocket_upgrade(req.headers()) {
        return next.run(req).await;
    }
    let (mut parts, _body) = req.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let fyers = parts.uri.path() == fyers::DATA_SOCKET_PATH;
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) if fyers => fyers::socket::upgrade(shared, ws, &parts.headers),
        Ok(ws) => kite::ticker::upgrade(shared, ws, query.as_deref()),
        Err(rejection) => rejection.into_response(),
    }
}

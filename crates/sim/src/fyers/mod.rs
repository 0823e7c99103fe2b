//! The Fyers API v3 front-end of the simulator, on the same port and over the same market as
//! the Kite side: the HSM data socket at `/hsm/v1-5/prod`, the REST endpoints under `/api/v3`
//! and `/data`, the login page, and the public `sym_details` documents (symbol masters and the
//! index-name mapping). Fyers credentials are separate from Kite's (own app id, secret, tokens).

/// The universe in Fyers terms (symbols, fyTokens, topics).
pub(crate) mod catalog;
/// Market batches for the data sockets.
pub(crate) mod feed;
/// JWT construction for issued tokens.
mod jwt;
/// Connections, demand and counters.
pub(crate) mod registry;
/// REST endpoints, login page and symbol masters.
pub(crate) mod rest;
/// The data socket.
pub(crate) mod socket;
/// The Fyers section of `/_sim/state`.
mod state;
/// Issued access tokens, refresh tokens and auth codes.
pub(crate) mod tokens;
/// Market state → data-socket values.
mod values;

use crate::SimConfig;
use crate::clock::WallClock;
use crate::market::Quote;
use crate::registry::lock;
use crate::universe::Universe;
use catalog::FyersCatalog;
use feed::FyersBatch;
use registry::FyersRegistry;
use rest::limiter::QuoteWindow;
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex};
use tokens::{FyersTokens, Issued};
use tokio::sync::broadcast;
use tracing::info;

/// Where the data socket is served (the real one's path).
pub(crate) const DATA_SOCKET_PATH: &str = "/hsm/v1-5/prod";

/// The Fyers side's shared state (one per simulator, inside [`crate::shared::Shared`]).
#[derive(Debug)]
pub(crate) struct FyersShared {
    pub catalog: FyersCatalog,
    pub tokens: Mutex<FyersTokens>,
    pub registry: FyersRegistry,
    pub batches: broadcast::Sender<Arc<FyersBatch>>,
    pub quote_window: Mutex<QuoteWindow>,
}

impl FyersShared {
    pub(crate) fn new(universe: &Universe) -> Self {
        let (batches, _) = broadcast::channel(feed::BATCH_BACKLOG);
        Self {
            catalog: FyersCatalog::build(universe),
            tokens: Mutex::default(),
            registry: FyersRegistry::new(universe.len()),
            batches,
            quote_window: Mutex::default(),
        }
    }

    /// Whether some data socket is open (the feed then copies what Fyers topics want).
    pub(crate) fn listening(&self) -> bool {
        self.batches.receiver_count() > 0
    }

    /// Whether some Fyers topic streams instrument `idx`.
    pub(crate) fn wants(&self, idx: usize) -> bool {
        self.registry.demand.wants(idx)
    }

    /// Hands a market tick's updates to the data sockets.
    pub(crate) fn publish(&self, seq: u64, rounds: &[Vec<(usize, Quote)>]) {
        feed::publish(&self.batches, seq, rounds, |idx| self.wants(idx));
    }

    /// Issues an access token expiring `expires_in` seconds from now (negative: already
    /// expired, for tests of clients' expiry handling).
    pub(crate) fn mint(&self, cfg: &SimConfig, clock: &WallClock, expires_in: i64) -> Issued {
        let now = clock.now().timestamp();
        let issued = lock(&self.tokens).mint(now, now.saturating_add(expires_in), &cfg.user_id);
        info!(
            token_id = issued.id,
            expires_at = issued.expires_at,
            "fyers access token minted"
        );
        issued
    }

    /// [`Self::mint`] with the configured lifetime, as `APPID:JWT`.
    pub(crate) fn mint_app_token(&self, cfg: &SimConfig, clock: &WallClock) -> String {
        let issued = self.mint(cfg, clock, ttl_secs(cfg));
        format!("{}:{}", cfg.fyers_app_id, issued.jwt.expose_secret())
    }
}

/// The configured token lifetime in seconds.
pub(crate) fn ttl_secs(cfg: &SimConfig) -> i64 {
    i64::try_from(cfg.fyers_token_ttl.as_secs()).unwrap_or(i64::MAX)
}

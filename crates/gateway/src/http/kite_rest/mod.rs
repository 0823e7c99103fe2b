//! Kite's REST reads served by feedgate (DESIGN.md §11, issue 15): `GET /quote`,
//! `/quote/ltp`, `/quote/ohlc` and `/instruments[/EXCHANGE]` at the server root, with Kite's
//! envelope, field names and errors, so `KiteConnect(key_id, root="http://HOST:8080")` works
//! unchanged and without the broker's 1 request/s limit.
//!
//! One job per file: [`envelope`] (Kite's answer shapes), [`access`] (refusals in Kite's
//! terms), [`params`] (the `i` parameters), [`values`] (a tick in Kite's quote shapes),
//! [`quote`] (the quote handlers), [`instruments`] (the CSV dump), [`keeper`] (what the reads
//! keep subscribed, until idle) and [`fetch`] (one-off broker quotes, batched).

pub mod access;
pub mod envelope;
pub mod fetch;
pub mod instruments;
pub mod keeper;
pub mod params;
pub mod quote;
pub mod values;

use crate::hub::HubHandle;
use axum::Router;
use axum::middleware;
use axum::routing::get;
use fetch::{FetchIo, FetchRequest};
use keeper::Keeper;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the Kite REST handlers share: the kept set and the way to the fetcher.
#[derive(Debug, Clone)]
pub struct KiteRest {
    pub keeper: Arc<Keeper>,
    pub fetches: mpsc::Sender<FetchRequest>,
}

impl KiteRest {
    /// Spawns the keeper (instruments kept live until `idle` after their last read) and the
    /// fetcher on `tracker`.
    pub fn start(
        hub: HubHandle,
        io: FetchIo,
        idle: Duration,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Self {
        let keeper = Arc::new(Keeper::default());
        let (fetches, requests) = fetch::channel();
        tracker.spawn(keeper::run(keeper.clone(), hub, idle, shutdown.clone()));
        tracker.spawn(fetch::run(io, requests, shutdown.clone()));
        Self { keeper, fetches }
    }
}

/// The routes (the `read` scope, refused in Kite's terms).
pub fn router() -> Router<crate::http::AppState> {
    Router::new()
        .route("/quote", get(quote::full))
        .route("/quote/ltp", get(quote::ltp))
        .route("/quote/ohlc", get(quote::ohlc))
        .route("/instruments", get(instruments::all))
        .route("/instruments/{exchange}", get(instruments::by_exchange))
        .route_layer(middleware::from_fn(access::require_read))
}

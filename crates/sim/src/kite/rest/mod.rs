//! Kite REST endpoints served at the server root (kite.md §8): profile, quotes, session, the
//! instrument dump and historical candles, with Kite's envelopes and HTTP codes for errors, 404 and 405.

/// Kite's JSON envelopes and authorization.
mod envelope;
/// Historical candles.
mod historical;
/// The instrument CSV.
mod instruments;
/// The user profile.
mod profile;
/// The quote endpoints.
mod quote;
/// Session exchange and logout.
mod session;

pub(crate) use envelope::KiteError;

use crate::shared::Shared;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The REST routes (without state applied).
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/user/profile", get(profile::profile))
        .route("/quote", get(quote::full))
        .route("/quote/ltp", get(quote::ltp))
        .route("/quote/ohlc", get(quote::ohlc))
        .route(
            "/session/token",
            post(session::create).delete(session::delete),
        )
        .route("/instruments", get(instruments::all))
        .route("/instruments/{exchange}", get(instruments::by_exchange))
        .route(
            "/instruments/historical/{token}/{interval}",
            get(historical::candles),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> Response {
    KiteError::method_not_allowed().into_response()
}

/// Kite's 404 for unknown routes.
pub(crate) async fn not_found() -> Response {
    KiteError::not_found().into_response()
}

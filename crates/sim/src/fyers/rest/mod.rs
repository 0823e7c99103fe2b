//! Fyers REST at the simulator's root, so `FYERS_API_URL=http://HOST:PORT` works as the root
//! feedgate's client expects (`<root>/api/v3`, `<root>/data`, `<root>/sym_details/…`):
//!
//! | method path | what |
//! |---|---|
//! | `GET /api/v3/profile` | the user profile (`Authorization: APPID:JWT`) |
//! | `GET /api/v3/generate-authcode?client_id=…&redirect_uri=…&response_type=code&state=…` | the login page |
//! | `POST /api/v3/generate-authcode` | the login form's submission: 302 to the redirect URL with `auth_code` and `state` |
//! | `POST /api/v3/validate-authcode` | auth code + `appIdHash` → access and refresh token |
//! | `POST /api/v3/validate-refresh-token` | refresh token + `appIdHash` + PIN → access token |
//! | `POST /data/symbol-token` | symbols → fyTokens (bare JWT or `APPID:JWT`; ≤ 500) |
//! | `GET /data/quotes?symbols=…` | quotes (`APPID:JWT`; ≤ 50; 10/s and 200/min) |
//! | `GET /data/history?symbol=…&resolution=1&date_format=0&range_from=…&range_to=…` | today's 1-minute candles (`APPID:JWT`; the same limit) |
//! | `GET /sym_details/{NSE_CM,NSE_FO,NSE_CD,BSE_CM,…}.csv` | symbol masters (public) |
//! | `GET /sym_details/index_hsm_mapping.json` | index symbol → topic name (public) |
//!
//! Errors use Fyers' envelope `{"s":"error","code":…,"message":…}`: 401/−16 for a bad token,
//! 429 for the rate limit and during a `rest_429` fault (quotes only), 400 for bad input, 404
//! for unknown paths under `/api/v3` and `/data`.

/// The profile and the Fyers 404.
mod account;
/// Quotes and symbol-token.
mod data;
/// The error envelope and authorization.
mod envelope;
/// Historical candles.
mod history;
/// The quotes rate limit.
pub(crate) mod limiter;
/// The login page and token exchanges.
mod login;
/// Symbol masters and the index mapping.
mod masters;

use crate::shared::Shared;
use axum::Router;
use axum::routing::{any, get, post};
use std::sync::Arc;

/// The Fyers REST routes (without state applied).
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v3/profile", get(account::profile))
        .route(
            "/api/v3/generate-authcode",
            get(login::page).post(login::submit),
        )
        .route("/api/v3/validate-authcode", post(login::validate_authcode))
        .route(
            "/api/v3/validate-refresh-token",
            post(login::validate_refresh_token),
        )
        .route("/api/v3/{*rest}", any(account::not_found))
        .route("/data/symbol-token", post(data::symbol_token))
        .route("/data/quotes", get(data::quotes))
        .route("/data/history", get(history::history))
        .route("/data/{*rest}", any(account::not_found))
        .route("/sym_details/{file}", get(masters::file))
}

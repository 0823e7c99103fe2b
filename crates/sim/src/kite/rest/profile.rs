//! `GET /user/profile` (kite.md §8.3) and the user fields shared with the session response,
//! shaped like Zerodha's `profile.json` mock.

use super::envelope::{authorize, success};
use crate::shared::Shared;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The simulated user's profile fields.
pub(crate) fn user_fields(user_id: &str) -> serde_json::Map<String, Value> {
    let value = json!({
        "user_id": user_id,
        "user_type": "individual",
        "email": "sim@feedgate.invalid",
        "user_name": "Feedgate Simulator",
        "user_shortname": "Simulator",
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO", "CDS", "BCD", "BFO", "MCX"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": Value::Null,
        "meta": {"demat_consent": "physical"},
    });
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

pub(crate) async fn profile(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match authorize(&headers, |k, t| shared.credentials_valid(k, t)) {
        Ok(_) => success(Value::Object(user_fields(&shared.cfg.user_id))),
        Err(error) => error.into_response(),
    }
}

//! `GET /api/v3/profile` (spec §10.3): the simulated user's profile, the cheap "is my token
//! alive" probe. Personal fields hold obvious placeholders.

use super::envelope::{AuthForm, FyersError, authorize, ok};
use crate::shared::Shared;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

pub(crate) async fn profile(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match authorize(&shared, &headers, AuthForm::AppToken) {
        Ok(_) => ok(json!({"data": data(&shared.cfg.user_id)})),
        Err(error) => error.into_response(),
    }
}

fn data(user_id: &str) -> serde_json::Value {
    json!({
        "name": "FEEDGATE SIMULATED USER",
        "display_name": "Feedgate Simulator",
        "fy_id": user_id,
        "image": null,
        "email_id": "simulator@feedgate.invalid",
        "PAN": "AAAAA0000A",
        "pin_change_date": "01-01-2025 00:00:00",
        "pwd_change_date": null,
        "mobile_number": "0000000000",
        "totp": false,
        "pwd_to_expire": 90,
        "ddpi_enabled": false,
        "mtf_enabled": false,
    })
}

/// Unknown paths under `/api/v3` and `/data`: Fyers' error envelope, not Kite's.
pub(crate) async fn not_found() -> Response {
    FyersError::not_found().into_response()
}

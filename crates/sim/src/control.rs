//! The control API (`/_sim/fault`, `/_sim/state`, `/_sim/token`), as a router with paths
//! relative to `/_sim` so the gateway's demo server can nest it. Its own small JSON, not Kite's.

use crate::fault::{ACCEPTED_KINDS, Fault, apply};
use crate::shared::Shared;
use crate::{Sim, registry::lock};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
use tracing::info;

/// `/fault`, `/state` and `/token`, state applied.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/fault", post(fault))
        .route("/state", get(state))
        .route("/token", post(token))
        .fallback(not_found)
        .with_state(shared)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(err) => {
            return bad_request(format!(
                "invalid fault request ({err}); accepted: {ACCEPTED_KINDS}"
            ));
        }
    };
    match apply(&shared, fault) {
        Ok(()) => Json(json!({"ok": true, "fault": fault})).into_response(),
        Err(err) => bad_request(format!("{err}; accepted: {ACCEPTED_KINDS}")),
    }
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    Json(Sim::from_shared(shared).state()).into_response()
}

async fn token(State(shared): State<Arc<Shared>>) -> Response {
    let (id, token) = lock(&shared.tokens).mint_access();
    info!(token_id = id, "access token minted through the control api");
    Json(json!({"access_token": token.expose()})).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "unknown control endpoint; use POST /_sim/fault, GET /_sim/state or POST /_sim/token"})),
    )
        .into_response()
}

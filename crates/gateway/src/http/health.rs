//! `GET /api/system/health` (always HTTP 200: the verdict is in the body) and its sections.

use crate::http::AppState;
use crate::status::health::{AuthSection, FeedSection, HealthDocument};
use axum::Json;
use axum::extract::State;
use feedgate_session::MarketStatus;

pub async fn document(State(app): State<AppState>) -> Json<HealthDocument> {
    Json(app.health().document())
}

pub async fn market(State(app): State<AppState>) -> Json<MarketStatus> {
    Json(app.health().market())
}

pub async fn auth(State(app): State<AppState>) -> Json<AuthSection> {
    Json(app.health().auth())
}

pub async fn feed(State(app): State<AppState>) -> Json<FeedSection> {
    Json(app.health().feed())
}

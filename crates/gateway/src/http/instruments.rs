//! `GET /api/instruments?q=SB&limit=10`: symbol search for the dashboard's search box.

use crate::http::{ApiError, AppState};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct Search {
    q: Option<String>,
    limit: Option<usize>,
}

pub async fn search(
    State(app): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Json<Value>, ApiError> {
    let q = s.q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err(ApiError::bad_request("give a search text as ?q=SBIN"));
    }
    let limit = s.limit.unwrap_or(10).clamp(1, 50);
    let registry = app.registry();
    let hits: Vec<Value> = registry
        .search(&q, limit)
        .into_iter()
        .map(|i| json!({"symbol": &*i.symbol, "name": &*i.name, "segment": &*i.segment}))
        .collect();
    Ok(Json(Value::Array(hits)))
}

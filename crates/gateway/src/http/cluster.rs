//! `GET /api/cluster[?ping=1]` (admin): the cluster as this node and Redis see it (see
//! [`crate::cluster::overview`]); a node of role `all` answers `{"role":"all","clustered":false}`.

use crate::cluster::overview;
use crate::http::AppState;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    /// Any value but `0`/`false` asks for a timed PING.
    ping: Option<String>,
}

pub async fn cluster(State(app): State<AppState>, Query(q): Query<ClusterQuery>) -> Json<Value> {
    let Some(handle) = app.health().cluster.as_ref() else {
        return Json(json!({"role": "all", "clustered": false}));
    };
    let ping = q.ping.is_some_and(|v| !matches!(v.as_str(), "0" | "false"));
    let doc = overview::read(handle, ping).await;
    Json(serde_json::to_value(doc).unwrap_or(Value::Null))
}

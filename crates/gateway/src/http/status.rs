//! `GET /api/websocket/status`: client connections, subscribed instruments and the upstream
//! connections' states.

use crate::http::AppState;
use crate::upstream::aggregate_state;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

pub async fn websocket_status(State(app): State<AppState>) -> Json<Value> {
    let shards = app.upstream().shards.borrow().clone();
    let stats = app.hub().stats().clone();
    let gauges = app.gauges();
    let now_ms = app.clock().now_ms();
    let shard_json: Vec<Value> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "shard": i,
                "state": s.state.as_str(),
                "subscribed": s.subscribed,
                "failures": s.failures,
                "reconnects": s.reconnects,
                "stalls": s.stalls,
                "auth_rejected": s.auth_rejected,
                "idle": s.idle,
                "last_error": s.last_error,
                "last_disconnect": s.last_disconnect,
            })
        })
        .collect();
    Json(json!({
        "connections": gauges.connections.load(Ordering::Relaxed),
        "kite_connections": gauges.kite_connections.load(Ordering::Relaxed),
        "subscribed_instruments": stats.instruments_subscribed.load(Ordering::Relaxed),
        "upstream": {
            "state": aggregate_state(&shards).as_str(),
            "connections": shards.iter().filter(|s| s.state == crate::upstream::FeedState::Connected).count(),
            "subscribed": shards.iter().map(|s| s.subscribed).sum::<usize>(),
            "last_tick_seconds_ago": gauges.last_tick_seconds_ago(now_ms),
            "ticks_in": stats.ticks_in.load(Ordering::Relaxed),
            "messages_out": stats.messages_out.load(Ordering::Relaxed),
            "conflated": stats.conflated.load(Ordering::Relaxed),
            "shards": shard_json,
        }
    }))
}

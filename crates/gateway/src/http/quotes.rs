//! `GET /api/quotes?symbols=NSE:SBIN,NSE:INFY`: the latest tick per symbol from the hub's
//! cache, with its age and source. Keyed by the symbols as requested.

use crate::http::{ApiError, AppState};
use crate::json::ticker::{Freshness, write_ticker};
use crate::model::tick::Mode;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Most symbols one request may ask for (Kite's own `/quote` cap).
pub const MAX_SYMBOLS: usize = 500;

#[derive(Debug, Deserialize)]
pub struct QuotesQuery {
    symbols: Option<String>,
}

pub async fn quotes(
    State(app): State<AppState>,
    Query(q): Query<QuotesQuery>,
) -> Result<Json<Value>, ApiError> {
    let raw = q.symbols.unwrap_or_default();
    let symbols: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if symbols.is_empty() {
        return Err(ApiError::bad_request(
            "give symbols as ?symbols=NSE:SBIN,NSE:INFY (comma-separated)",
        ));
    }
    if symbols.len() > MAX_SYMBOLS {
        return Err(ApiError::bad_request(format!(
            "{} symbols requested; at most {MAX_SYMBOLS} per request",
            symbols.len()
        )));
    }
    let registry = app.registry();
    let mut resolved = Vec::new();
    let mut rejected = Vec::new();
    for s in &symbols {
        match registry.resolve(s) {
            Ok(inst) => resolved.push((s.to_string(), inst.clone())),
            Err(e) => rejected.push(json!({"symbol": s, "reason": e.to_string()})),
        }
    }
    let latest = app
        .hub()
        .latest(resolved.iter().map(|(_, i)| i.token).collect())
        .await?;
    let now_ms = app.clock().now_ms();
    let feed_live = app.feed_live();
    let mut data = Map::new();
    let mut no_data = Vec::new();
    for ((requested, inst), tick) in resolved.into_iter().zip(latest) {
        let Some(tick) = tick else {
            no_data.push(Value::from(requested));
            continue;
        };
        let age_ms = (now_ms - tick.received_ms).max(0);
        let freshness = Freshness::of(&tick, feed_live, now_ms);
        let mut buf = String::with_capacity(1024);
        write_ticker(&mut buf, &tick, &inst, Mode::Full, freshness);
        let mut v: Value = serde_json::from_str(&buf).unwrap_or(Value::Null);
        let mut entry = v.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        if let Some(obj) = entry.as_object_mut() {
            obj.insert("age_s".into(), json!(age_ms as f64 / 1000.0));
        }
        data.insert(requested, entry);
    }
    Ok(Json(
        json!({"data": data, "no_data": no_data, "rejected": rejected}),
    ))
}

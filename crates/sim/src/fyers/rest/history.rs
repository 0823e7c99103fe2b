//! `GET /data/history?symbol=…&resolution=1&date_format=0|1&range_from=…&range_to=…` (Fyers'
//! candles, what `fyers_apiv3`'s `history()` calls): today's 1-minute candles from the simulated
//! market, the same minutes the Kite endpoint serves, as `{"s":"ok","candles":[[epoch, open,
//! high, low, close, volume], …]}` with decimal prices. `date_format=0` takes epoch seconds,
//! `1` takes `yyyy-mm-dd` (IST, `range_to` its whole day); both ends inclusive. Counted against
//! the app's API limit like quotes, and refused during a `rest_429` fault.

use super::envelope::{AuthForm, FyersError, authorize, ok};
use crate::decimal;
use crate::fyers::registry::add;
use crate::registry::lock;
use crate::shared::Shared;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

/// IST's offset from UTC, seconds.
const IST_OFFSET_S: i64 = 19_800;

pub(crate) async fn history(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match respond(&shared, &headers, query.as_deref()) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn respond(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, FyersError> {
    authorize(shared, headers, AuthForm::AppToken)?;
    let now = Instant::now();
    if shared.rest_429_active(now) || !lock(&shared.fyers.quote_window).allow(now) {
        add(&shared.fyers.registry.counters.rest_429s, 1);
        return Err(FyersError::rate_limited());
    }
    add(&shared.registry.counters.history_requests, 1);
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if param("resolution") != "1" {
        return Err(FyersError::input(
            "the simulator serves resolution 1 (1-minute candles)",
        ));
    }
    let dates = param("date_format") == "1";
    let from = bound(param("range_from"), dates, false)?;
    let to = bound(param("range_to"), dates, true)?;
    let fy = shared
        .fyers
        .catalog
        .by_symbol(param("symbol"))
        .ok_or_else(|| FyersError::input("Invalid symbol"))?;
    let divisor = shared.universe.get(fy.idx).map_or(1, |i| i.divisor);
    let bars = {
        let mut market = lock(&shared.market);
        market.follow(shared.clock.now());
        market.minutes(fy.idx, from, to).unwrap_or_default()
    };
    let p = |raw| decimal::to_f64(raw, divisor);
    let candles: Vec<Value> = bars
        .iter()
        .map(|b| json!([b.t, p(b.open), p(b.high), p(b.low), p(b.close), b.volume]))
        .collect();
    Ok(ok(json!({"candles": candles})))
}

/// Epoch seconds, or with `dates` an IST `yyyy-mm-dd` (its start, or its end for `end`).
fn bound(text: &str, dates: bool, end: bool) -> Result<i64, FyersError> {
    let bad = || FyersError::input(format!("invalid range: {text:?}"));
    if !dates {
        return text.trim().parse().map_err(|_| bad());
    }
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| bad())?;
    let start = day
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp()
        - IST_OFFSET_S;
    Ok(if end { start + 86_399 } else { start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_epochs_or_ist_days() {
        assert_eq!(bound("1795405500", false, false).unwrap(), 1_795_405_500);
        assert_eq!(bound("2026-11-23", true, false).unwrap(), 1_795_372_200);
        assert_eq!(
            bound("2026-11-23", true, true).unwrap(),
            1_795_372_200 + 86_399
        );
        assert!(bound("2026-11-23", false, false).is_err());
        assert!(bound("23-11-2026", true, false).is_err());
    }
}

//! `GET /instruments/historical/{instrument_token}/{interval}?from=…&to=…` (Kite's historical
//! candles): `minute` candles of today from the simulated market, the same minutes a client
//! subscribed all along would have built from the ticks; 3 requests per second per api_key
//! (429 above, and during a `rest_429` fault). `from`/`to` are IST (`yyyy-mm-dd hh:mm:ss` or
//! `yyyy-mm-dd`), both inclusive; each candle is `[time, open, high, low, close, volume]` with
//! the time as `yyyy-mm-ddThh:mm:ss+0530`, as Kite sends it.

use super::envelope::{KiteError, authorize, success};
use crate::decimal;
use crate::market::MinuteBar;
use crate::registry::{bump, lock};
use crate::shared::Shared;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Asia::Kolkata;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::debug;

pub(crate) async fn candles(
    State(shared): State<Arc<Shared>>,
    Path((token, interval)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match respond(&shared, &headers, &token, &interval, query.as_deref()) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn respond(
    shared: &Shared,
    headers: &HeaderMap,
    token: &str,
    interval: &str,
    query: Option<&str>,
) -> Result<Response, KiteError> {
    let api_key = authorize(headers, |k, t| shared.credentials_valid(k, t))?;
    admit(shared, &api_key)?;
    if interval != "minute" {
        return Err(KiteError::input(format!(
            "invalid interval: {interval} (the simulator serves minute candles)"
        )));
    }
    let (mut from, mut to) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*name {
            "from" => from = Some(parse_time(&value, false)?),
            "to" => to = Some(parse_time(&value, true)?),
            _ => {}
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(KiteError::input("missing from or to"));
    };
    let idx = token
        .parse::<u32>()
        .ok()
        .and_then(|t| shared.universe.index_of_token(t))
        .ok_or_else(|| KiteError::input("invalid token"))?;
    let divisor = shared.universe.get(idx).map_or(1, |i| i.divisor);
    let bars = {
        let mut market = lock(&shared.market);
        market.follow(shared.clock.now());
        market.minutes(idx, from, to).unwrap_or_default()
    };
    let rows: Vec<Value> = bars.iter().map(|b| row(b, divisor)).collect();
    debug!(token, candles = rows.len(), "historical candles");
    Ok(success(json!({"candles": rows})))
}

/// Counts an authorized historical call and lets it through, or answers 429.
fn admit(shared: &Shared, api_key: &str) -> Result<(), KiteError> {
    let counters = &shared.registry.counters;
    bump(&counters.history_requests);
    let now = Instant::now();
    if shared.rest_429_active(now) || !lock(&shared.history_limiter).allow(api_key, now) {
        bump(&counters.rest_429s);
        debug!(api_key = %api_key, "historical request refused (429)");
        return Err(KiteError::rate_limited());
    }
    Ok(())
}

/// An IST `yyyy-mm-dd hh:mm:ss` (or a bare date: its start, or its end for `to`) as Unix
/// seconds.
fn parse_time(value: &str, end_of_day: bool) -> Result<i64, KiteError> {
    let value = value.trim();
    let local = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
            if end_of_day {
                day.and_hms_opt(23, 59, 59)
            } else {
                day.and_hms_opt(0, 0, 0)
            }
        })
        .ok_or_else(|| KiteError::input(format!("invalid date: {value}")))?;
    Kolkata
        .from_local_datetime(&local)
        .single()
        .map(|t| t.timestamp())
        .ok_or_else(|| KiteError::input(format!("invalid date: {value}")))
}

/// One candle as Kite's array row.
fn row(bar: &MinuteBar, divisor: i64) -> Value {
    let time = DateTime::from_timestamp(bar.t, 0)
        .unwrap_or_default()
        .with_timezone(&Kolkata)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string();
    let p = |raw| decimal::to_f64(raw, divisor);
    json!([
        time,
        p(bar.open),
        p(bar.high),
        p(bar.low),
        p(bar.close),
        bar.volume
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_kites_arrays_with_ist_times() {
        let bar = MinuteBar {
            t: 1_795_405_500, // 2026-11-23 09:15 IST
            open: 59_870,
            high: 60_085,
            low: 58_500,
            close: 59_050,
            volume: 1_234,
        };
        assert_eq!(
            row(&bar, 100),
            json!([
                "2026-11-23T09:15:00+0530",
                598.7,
                600.85,
                585.0,
                590.5,
                1_234
            ])
        );
    }

    #[test]
    fn times_are_ist_and_dates_cover_the_day() {
        assert_eq!(
            parse_time("2026-11-23 09:15:00", false).unwrap(),
            1_795_405_500
        );
        assert_eq!(
            parse_time("2026-11-23", false).unwrap(),
            1_795_405_500 - 33_300
        );
        assert_eq!(
            parse_time("2026-11-23", true).unwrap(),
            1_795_405_500 - 33_300 + 86_399
        );
        assert!(parse_time("23/11/2026", false).is_err());
    }
}

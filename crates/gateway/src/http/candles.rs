//! `GET /api/candles?symbol=NSE:SBIN&interval=1m[&date=YYYY-MM-DD]`: session candles as a JSON
//! array, newest last (with `from`/`to`, a span of days: [`candle_range`]). Today's (and, until the next new day, yesterday's) come from the hub;
//! earlier days (or any day with nothing in memory, e.g. after a restart) from the close-of-day
//! backup files: the asked date's, or without one the most recent of the newest
//! [`RECENT_DAYS`](crate::store::candle_files::RECENT_DAYS) files holding the symbol.

use crate::http::candle_range::{self, Span};
use crate::http::{ApiError, AppState};
use crate::json::candle::write_candle_array;
use crate::json::request::CandleInterval;
use crate::model::candle::{aggregate, date_day, day_date, ist_day};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct CandleQuery {
    symbol: Option<String>,
    interval: Option<String>,
    date: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub async fn candles(
    State(app): State<AppState>,
    Query(q): Query<CandleQuery>,
) -> Result<Response, ApiError> {
    let symbol = q
        .symbol
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("give a symbol, e.g. ?symbol=NSE:SBIN&interval=1m"))?;
    let (interval, date) = parse_interval_and_date(&q)?;
    let registry = app.registry();
    let inst = registry
        .resolve(&symbol)
        .map_err(|e| ApiError::bad_request(format!("{symbol}: {e}")))?
        .clone();
    let now_secs = app.clock().now_ms().div_euclid(1000);
    if q.from.is_some() || q.to.is_some() {
        if date.is_some() {
            return Err(ApiError::bad_request("give either date or from/to"));
        }
        let span = Span::parse(q.from.as_deref(), q.to.as_deref(), now_secs)
            .map_err(ApiError::bad_request)?;
        return candle_range::respond(&app, &inst, span, interval.minutes()).await;
    }
    let today = day_date(ist_day(now_secs)).unwrap_or_default();
    let store = app.candle_store();

    let mut day = date.unwrap_or(today);
    let mut minutes = Vec::new();
    // The hub holds today's minutes and, until the next new day, yesterday's: only the asked
    // day's count (before the first tick of a new day its series is still the old day's).
    if let Some((_, m)) = app.hub().candles(inst.token).await? {
        let want = date_day(day);
        minutes = m.into_iter().filter(|c| ist_day(c.t) == want).collect();
    }
    if minutes.is_empty() {
        let (token, divisor) = (inst.token, inst.divisor);
        let store2 = store.clone();
        let found = tokio::task::spawn_blocking(move || match date {
            Some(d) => Some((d, store2.read(d, token, divisor))),
            // No date asked and nothing today: the most recent session on disk (of the last
            // few files: a symbol nobody recorded must not read all of history per request).
            None => store2.latest(token, divisor),
        })
        .await
        .map_err(|_| ApiError::unavailable("candle lookup failed"))?;
        if let Some((d, c)) = found {
            day = d;
            minutes = c;
        }
    }
    let candles = aggregate(&minutes, interval.minutes());
    let mut body = Vec::with_capacity(candles.len() * 120 + 2);
    write_candle_array(&mut body, &candles, inst.divisor);
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&day.to_string()) {
        resp.headers_mut().insert("x-candles-date", v);
    }
    Ok(resp)
}

/// The `interval` (default 1m) and `date` parameters.
fn parse_interval_and_date(
    q: &CandleQuery,
) -> Result<(CandleInterval, Option<NaiveDate>), ApiError> {
    let interval = match q.interval.as_deref() {
        None => CandleInterval::M1,
        Some(i) => CandleInterval::parse(i).ok_or_else(|| {
            ApiError::bad_request(format!("unknown interval {i:?}; use 1m, 5m or 15m"))
        })?,
    };
    let date = match q.date.as_deref() {
        None => None,
        Some(d) => Some(
            d.parse::<NaiveDate>()
                .map_err(|_| ApiError::bad_request(format!("date {d:?} is not YYYY-MM-DD")))?,
        ),
    };
    Ok((interval, date))
}

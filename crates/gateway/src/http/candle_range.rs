//! `GET /api/candles?symbol=&interval=&from=&to=`: candles over a span of IST days, newest
//! last. Each day comes from the first source that has it: the hub (today, and yesterday until
//! the next new day), the close-of-day candle files, then the broker's historical API — at most
//! [`MAX_BROKER_DAYS`] days per request, one call at a time, within the historical rate limit.
//! `from`/`to` are `YYYY-MM-DD` (IST, the whole day) or RFC 3339 instants; `to` defaults to
//! now and `from` to the start of `to`'s day; at most [`MAX_DAYS`] days.
//!
//! The answer is always the candles known. Headers say what it covers: `x-candles-from` and
//! `x-candles-to` (the IST days), and `x-candles-partial: true` when a day nothing local held
//! could not be had from the broker (no usable token, the broker failing, or over the
//! per-request budget) — a chart may then show a gap that is not a market gap.

use crate::http::{ApiError, AppState};
use crate::json::candle::write_candle_array;
use crate::model::candle::{Candle, aggregate, bucket, date_day, day_date, ist_day};
use crate::model::instruments::Instrument;
use crate::model::ist::IST_OFFSET_SECS;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate};
use std::sync::Arc;

/// Most IST days one request may span.
pub const MAX_DAYS: i64 = 31;
/// Most days one request fetches from the broker (the rest are reported partial).
pub const MAX_BROKER_DAYS: usize = 5;

/// A request's bounds, Unix seconds, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub to: i64,
}

impl Span {
    /// Parses `from`/`to` against `now` (see the module docs).
    pub fn parse(from: Option<&str>, to: Option<&str>, now: i64) -> Result<Self, String> {
        let to = match to {
            Some(t) => bound(t, true)?.min(now),
            None => now,
        };
        let from = match from {
            Some(f) => bound(f, false)?,
            None => ist_day(to) * 86_400 - IST_OFFSET_SECS,
        };
        if from > to {
            return Err("from is after to (or in the future)".into());
        }
        if ist_day(to) - ist_day(from) >= MAX_DAYS {
            return Err(format!("at most {MAX_DAYS} days per request"));
        }
        Ok(Self { from, to })
    }

    /// The IST days it covers, oldest first.
    pub fn days(self) -> impl Iterator<Item = i64> {
        ist_day(self.from)..=ist_day(self.to)
    }
}

/// `YYYY-MM-DD` (its first or last second, IST) or an RFC 3339 instant, as Unix seconds.
fn bound(text: &str, end: bool) -> Result<i64, String> {
    if let Ok(d) = text.parse::<NaiveDate>() {
        let start = date_day(d) * 86_400 - IST_OFFSET_SECS;
        return Ok(if end { start + 86_399 } else { start });
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

/// The answer for `inst` over `span`, aggregated to `minutes`.
pub async fn respond(
    app: &AppState,
    inst: &Arc<Instrument>,
    span: Span,
    minutes: u32,
) -> Result<Response, ApiError> {
    let hub = app.hub().candles(inst.token).await?.map(|(_, m)| m);
    let mut all: Vec<Candle> = Vec::new();
    let mut partial = false;
    let mut broker_days = 0;
    for day in span.days() {
        let mut got = of_day(hub.as_deref().unwrap_or_default(), day);
        if got.is_empty() {
            got = from_files(app, inst, day).await?;
        }
        if got.is_empty() {
            if broker_days == MAX_BROKER_DAYS {
                partial = true;
                continue;
            }
            broker_days += 1;
            let (start, end) = (
                day * 86_400 - IST_OFFSET_SECS,
                (day + 1) * 86_400 - IST_OFFSET_SECS - 1,
            );
            match app.history().minutes(inst, start, end.min(span.to)).await {
                Ok(m) => got = m,
                Err(e) => {
                    tracing::debug!(symbol = %inst.symbol, error = %e, "candles: no broker history for a day");
                    partial = true;
                }
            }
        }
        all.extend(got);
    }
    all.retain(|c| c.t >= bucket(span.from, 1) && c.t <= span.to);
    all.sort_by_key(|c| c.t);
    all.dedup_by_key(|c| c.t);
    Ok(render(
        &aggregate(&all, minutes),
        inst.divisor,
        span,
        partial,
    ))
}

fn of_day(minutes: &[Candle], day: i64) -> Vec<Candle> {
    minutes
        .iter()
        .filter(|c| ist_day(c.t) == day)
        .copied()
        .collect()
}

async fn from_files(
    app: &AppState,
    inst: &Arc<Instrument>,
    day: i64,
) -> Result<Vec<Candle>, ApiError> {
    let Some(date) = day_date(day) else {
        return Ok(Vec::new());
    };
    let store = app.candle_store().clone();
    let (token, divisor) = (inst.token, inst.divisor);
    tokio::task::spawn_blocking(move || store.read(date, token, divisor))
        .await
        .map_err(|_| ApiError::unavailable("candle lookup failed"))
}

fn render(candles: &[Candle], divisor: u32, span: Span, partial: bool) -> Response {
    let mut body = Vec::with_capacity(candles.len() * 120 + 2);
    write_candle_array(&mut body, candles, divisor);
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    for (name, day) in [("x-candles-from", span.from), ("x-candles-to", span.to)] {
        if let Some(v) =
            day_date(ist_day(day)).and_then(|d| HeaderValue::from_str(&d.to_string()).ok())
        {
            h.insert(name, v);
        }
    }
    if partial {
        h.insert("x-candles-partial", HeaderValue::from_static("true"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 11:00 IST.
    const NOW: i64 = 1_795_411_800;
    /// 2026-11-23 00:00 IST.
    const DAY: i64 = 1_795_372_200;

    #[test]
    fn bounds_are_ist_days_or_instants_capped_at_now() {
        let s = |f: Option<&str>, t: Option<&str>| Span::parse(f, t, NOW);
        assert_eq!(s(None, None), Ok(Span { from: DAY, to: NOW }));
        assert_eq!(
            s(Some("2026-11-20"), None),
            Ok(Span {
                from: DAY - 3 * 86_400,
                to: NOW
            })
        );
        assert_eq!(
            s(Some("2026-11-20"), Some("2026-11-20")),
            Ok(Span {
                from: DAY - 3 * 86_400,
                to: DAY - 2 * 86_400 - 1
            })
        );
        assert_eq!(
            s(
                Some("2026-11-23T09:15:00+05:30"),
                Some("2026-11-23T10:00:00+05:30")
            ),
            Ok(Span {
                from: DAY + 33_300,
                to: DAY + 36_000
            })
        );
        let days: Vec<i64> = s(Some("2026-11-20"), None).unwrap().days().collect();
        assert_eq!(days, (ist_day(DAY) - 3..=ist_day(DAY)).collect::<Vec<_>>());
        assert!(s(Some("2026-11-24"), None).is_err(), "from in the future");
        assert!(s(Some("2026-10-01"), None).is_err(), "over 31 days");
        assert!(s(Some("20/11/2026"), None).is_err());
    }
}

//! `GET /quote`, `/quote/ltp`, `/quote/ohlc` (kite.md §8.4): repeated `i=EXCHANGE:SYMBOL`
//! parameters, a map keyed by the exact requested strings, unknown instruments left out, one
//! request per second per api_key, and 429 to every authorized call during a `rest_429` fault.

use super::envelope::{KiteError, authorize, success};
use crate::clock::{kite_timestamp, kite_timestamp_secs};
use crate::decimal;
use crate::market::{Level, Quote};
use crate::registry::{bump, lock};
use crate::shared::Shared;
use crate::universe::Instrument;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::debug;

/// Which quote endpoint: what each value holds and how many instruments one call may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuoteKind {
    Full,
    Ltp,
    Ohlc,
}

impl QuoteKind {
    fn max_instruments(self) -> usize {
        match self {
            Self::Full => 500,
            Self::Ltp | Self::Ohlc => 1_000,
        }
    }
}

pub(crate) async fn full(s: State<Arc<Shared>>, h: HeaderMap, q: RawQuery) -> Response {
    handle(s, h, q, QuoteKind::Full)
}

pub(crate) async fn ltp(s: State<Arc<Shared>>, h: HeaderMap, q: RawQuery) -> Response {
    handle(s, h, q, QuoteKind::Ltp)
}

pub(crate) async fn ohlc(s: State<Arc<Shared>>, h: HeaderMap, q: RawQuery) -> Response {
    handle(s, h, q, QuoteKind::Ohlc)
}

fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    kind: QuoteKind,
) -> Response {
    match respond(&shared, &headers, query.as_deref(), kind) {
        Ok(response) => response,
        Err(error) => axum::response::IntoResponse::into_response(error),
    }
}

fn respond(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    kind: QuoteKind,
) -> Result<Response, KiteError> {
    let api_key = authorize(headers, |k, t| shared.credentials_valid(k, t))?;
    admit(shared, &api_key)?;
    let requested: Vec<String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(name, _)| name == "i")
        .map(|(_, value)| value.into_owned())
        .collect();
    if requested.len() > kind.max_instruments() {
        return Err(KiteError::input(format!(
            "Too many instruments requested. Max permitted is {}.",
            kind.max_instruments()
        )));
    }
    let now = shared.clock.now();
    let universe = &shared.universe;
    let mut data = Map::new();
    let mut market = lock(&shared.market);
    market.follow(now);
    for key in requested {
        let Some(idx) = universe.index_of_symbol(&key) else {
            continue;
        };
        let (Some(inst), Some(quote)) = (universe.get(idx), market.quote(idx)) else {
            continue;
        };
        let value = match kind {
            QuoteKind::Full => full_quote(inst, quote, &kite_timestamp(now)),
            QuoteKind::Ltp => json!({
                "instrument_token": inst.token,
                "last_price": price(inst, quote.last_price),
            }),
            QuoteKind::Ohlc => json!({
                "instrument_token": inst.token,
                "last_price": price(inst, quote.last_price),
                "ohlc": ohlc_json(inst, quote),
            }),
        };
        data.insert(key, value);
    }
    drop(market);
    bump(&shared.registry.counters.quotes_served);
    Ok(success(Value::Object(data)))
}

/// Counts an authorized quote call and lets it through, or answers 429 (a `rest_429` fault,
/// or over the 1/s limit). A fault's 429 does not use up the client's rate-limit slot.
fn admit(shared: &Shared, api_key: &str) -> Result<(), KiteError> {
    let counters = &shared.registry.counters;
    bump(&counters.quote_requests);
    let now = Instant::now();
    if shared.rest_429_active(now) {
        bump(&counters.rest_429s);
        debug!(api_key = %api_key, "quote request refused: rest_429 fault active");
        return Err(KiteError::rate_limited());
    }
    if !lock(&shared.quote_limiter).allow(api_key, now) {
        bump(&counters.quote_rate_limited);
        bump(&counters.rest_429s);
        debug!(api_key = %api_key, "quote request over the rate limit");
        return Err(KiteError::rate_limited());
    }
    Ok(())
}

fn price(inst: &Instrument, raw: i64) -> f64 {
    decimal::to_f64(raw, inst.divisor)
}

fn ohlc_json(inst: &Instrument, q: &Quote) -> Value {
    json!({
        "open": price(inst, q.open),
        "high": price(inst, q.high),
        "low": price(inst, q.low),
        "close": price(inst, q.close),
    })
}

fn depth_json(inst: &Instrument, levels: &[Level]) -> Value {
    levels
        .iter()
        .map(|l| {
            json!({
                "price": price(inst, l.price),
                "quantity": l.quantity,
                "orders": l.orders,
            })
        })
        .collect()
}

/// The `/quote` value, with every field of Zerodha's `quote.json` mock. Indices have no
/// trades: zero quantities and an all-zero book, as on the real API.
fn full_quote(inst: &Instrument, q: &Quote, timestamp: &str) -> Value {
    json!({
        "instrument_token": inst.token,
        "timestamp": timestamp,
        "last_trade_time": kite_timestamp_secs(q.last_trade_time),
        "last_price": price(inst, q.last_price),
        "last_quantity": q.last_quantity,
        "buy_quantity": q.buy_quantity,
        "sell_quantity": q.sell_quantity,
        "volume": q.volume,
        "average_price": price(inst, q.average_price),
        "oi": q.oi,
        "oi_day_high": q.oi_day_high,
        "oi_day_low": q.oi_day_low,
        "net_change": price(inst, q.last_price - q.close),
        "lower_circuit_limit": price(inst, q.lower_circuit),
        "upper_circuit_limit": price(inst, q.upper_circuit),
        "ohlc": ohlc_json(inst, q),
        "depth": {
            "buy": depth_json(inst, &q.bids),
            "sell": depth_json(inst, &q.asks),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    #[test]
    fn full_quote_has_every_mock_field() {
        // The keys of `NSE:INFY` in Zerodha's kiteconnect-mocks `quote.json`.
        let mock_keys = [
            "instrument_token",
            "timestamp",
            "last_trade_time",
            "last_price",
            "last_quantity",
            "buy_quantity",
            "sell_quantity",
            "volume",
            "average_price",
            "oi",
            "oi_day_high",
            "oi_day_low",
            "net_change",
            "lower_circuit_limit",
            "upper_circuit_limit",
            "ohlc",
            "depth",
        ];
        let u = build_universe("2025-11-10".parse().unwrap());
        let inst = u.get(u.index_of_symbol("NSE:INFY").unwrap()).unwrap();
        let quote = Quote {
            last_price: 141_295,
            ..Quote::default()
        };
        let value = full_quote(inst, &quote, "2021-06-08 15:45:56");
        for key in mock_keys {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert_eq!(value["last_price"], json!(1412.95));
        assert_eq!(value["depth"]["buy"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn currency_prices_use_their_divisor() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let cds = u
            .get(u.index_of_symbol("CDS:USDINR25NOVFUT").unwrap())
            .unwrap();
        let bcd = u
            .get(u.index_of_symbol("BCD:USDINR25NOVFUT").unwrap())
            .unwrap();
        assert_eq!(price(cds, 885_025_000), 88.5025);
        assert_eq!(price(bcd, 885_025), 88.5025);
    }
}

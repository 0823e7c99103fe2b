//! The data API: `POST /data/symbol-token` (symbol → fyToken, at most 500 per call, spec
//! §2.1) and `GET /data/quotes?symbols=…` (at most 50, spec §10.2: decimal prices, `tt` as an
//! epoch-seconds string, a `d` entry per requested symbol, unknown ones with `s:"error"`), with
//! 429 over the rate limit and to every authorized quotes call during a `rest_429` fault.

use super::envelope::{AuthForm, FyersError, authorize, ok};
use crate::decimal;
use crate::fyers::registry::add;
use crate::registry::lock;
use crate::shared::Shared;
use crate::universe::Instrument;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use feedgate_fyers::rest::SymbolTokenRequest;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::debug;

/// Most symbols per symbol-token call.
pub(crate) const MAX_SYMBOL_TOKEN: usize = 500;
/// Most symbols per quotes call.
pub(crate) const MAX_QUOTES: usize = 50;

pub(crate) async fn symbol_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match resolve(&shared, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn resolve(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Response, FyersError> {
    authorize(shared, headers, AuthForm::JwtOrAppToken)?;
    add(&shared.fyers.registry.counters.symbol_token_requests, 1);
    let request: SymbolTokenRequest = serde_json::from_slice(body).map_err(|_| {
        FyersError::input(r#"Invalid request body; expected {"symbols": ["NSE:SBIN-EQ", …]}"#)
    })?;
    if request.symbols.is_empty() || request.symbols.len() > MAX_SYMBOL_TOKEN {
        return Err(FyersError::input(format!(
            "Please provide 1 to {MAX_SYMBOL_TOKEN} symbols, got {}",
            request.symbols.len()
        )));
    }
    let catalog = &shared.fyers.catalog;
    let mut valid = Map::new();
    let mut invalid = Vec::new();
    for symbol in request.symbols {
        match catalog.by_symbol(&symbol) {
            Some(inst) => {
                valid.insert(symbol, Value::String(inst.fy_token.clone()));
            }
            None => invalid.push(Value::String(symbol)),
        }
    }
    debug!(
        valid = valid.len(),
        invalid = invalid.len(),
        "fyers symbol-token"
    );
    Ok(ok(json!({"validSymbol": valid, "invalidSymbol": invalid})))
}

pub(crate) async fn quotes(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match quote(&shared, &headers, query.as_deref()) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn quote(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, FyersError> {
    authorize(shared, headers, AuthForm::AppToken)?;
    admit(shared)?;
    let list = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(name, _)| name == "symbols")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let symbols: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if symbols.is_empty() || symbols.len() > MAX_QUOTES {
        return Err(FyersError::input(format!(
            "Please provide 1 to {MAX_QUOTES} comma-separated symbols, got {}",
            symbols.len()
        )));
    }
    let catalog = &shared.fyers.catalog;
    let universe = &shared.universe;
    let mut market = lock(&shared.market);
    market.follow(shared.clock.now());
    let entries: Vec<Value> = symbols
        .iter()
        .map(|symbol| {
            let found = catalog
                .by_symbol(symbol)
                .and_then(|fy| Some((fy, universe.get(fy.idx)?, market.quote(fy.idx)?)));
            match found {
                Some((fy, inst, q)) => json!({
                    "n": symbol,
                    "s": "ok",
                    "v": values(symbol, fy, inst, q),
                }),
                None => json!({
                    "n": symbol,
                    "s": "error",
                    "v": {"errmsg": "Invalid symbol"},
                }),
            }
        })
        .collect();
    drop(market);
    add(&shared.fyers.registry.counters.quotes_served, 1);
    Ok(ok(json!({"d": entries})))
}

/// Counts an authorized quotes call and lets it through, or answers 429 (a `rest_429` fault,
/// or over the rate limit). A fault's 429 does not use up the app's rate-limit budget.
fn admit(shared: &Shared) -> Result<(), FyersError> {
    let counters = &shared.fyers.registry.counters;
    add(&counters.quote_requests, 1);
    let now = Instant::now();
    if shared.rest_429_active(now) {
        add(&counters.rest_429s, 1);
        debug!("fyers quotes request refused: rest_429 fault active");
        return Err(FyersError::rate_limited());
    }
    if !lock(&shared.fyers.quote_window).allow(now) {
        add(&counters.quote_rate_limited, 1);
        add(&counters.rest_429s, 1);
        debug!("fyers quotes request over the rate limit");
        return Err(FyersError::rate_limited());
    }
    Ok(())
}

/// One quote's `v` object (spec §10.2's sample keys).
fn values(
    symbol: &str,
    fy: &crate::fyers::catalog::FyersInstrument,
    inst: &Instrument,
    q: &crate::market::Quote,
) -> Value {
    let price = |raw: i64| decimal::to_f64(raw, inst.divisor);
    let (bid, ask) = if inst.is_index() {
        (0, 0)
    } else {
        (q.bids[0].price, q.asks[0].price)
    };
    json!({
        "ask": price(ask),
        "bid": price(bid),
        "ch": price(q.last_price - q.close),
        "chp": percent(q.last_price - q.close, q.close),
        "description": symbol,
        "exchange": fy.exchange(),
        "fyToken": fy.fy_token,
        "high_price": price(q.high),
        "low_price": price(q.low),
        "lp": price(q.last_price),
        "open_price": price(q.open),
        "original_name": symbol,
        "prev_close_price": price(q.close),
        "atp": price(q.average_price),
        "short_name": fy.ticker(),
        "spread": price(ask - bid),
        "symbol": symbol,
        "tt": q.last_trade_time.to_string(),
        "volume": q.volume,
    })
}

/// `change / close × 100` rounded half away from zero to 2 places, as a JSON number.
fn percent(change: i64, close: i64) -> f64 {
    if close == 0 {
        return 0.0;
    }
    let scaled = i128::from(change) * 10_000;
    let close = i128::from(close);
    let half = close.abs() / 2;
    let rounded = if (scaled < 0) == (close < 0) {
        (scaled.abs() + half) / close.abs()
    } else {
        -((scaled.abs() + half) / close.abs())
    };
    decimal::to_f64(i64::try_from(rounded).unwrap_or(0), 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_half_away_from_zero() {
        assert_eq!(percent(355, 80_900), 0.44);
        assert_eq!(percent(-795, 59_845), -1.33);
        assert_eq!(percent(1, 200), 0.5);
        assert_eq!(percent(-1, 200), -0.5);
        assert_eq!(percent(5, 0), 0.0);
    }
}

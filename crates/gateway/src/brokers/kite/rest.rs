//! Kite Connect as a [`BrokerApi`]: the REST client from `feedgate-kite`, quotes turned into
//! integer ticks, the instrument dump into registry specs, and the login URL with a state. Its
//! partner on the ticker socket is [`super::wire`]; the token expiry rule is [`super::expiry`].

use crate::brokers::depth;
use crate::brokers::{BrokerApi, BrokerError, SessionGrant, UserProfile};
use crate::model::candle::Candle;
use crate::model::instruments::{Instrument, InstrumentSpec};
use crate::model::tick::{Full, Level, Quote, Source, Tick};
use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Asia::Kolkata;
use feedgate_kite::{
    AccessToken, ApiSecret, HistoricalCandle, InstrumentRow, KiteError, KiteRest,
    Quote as KiteQuote, QuoteDepthLevel, RequestToken, Segment, price_to_raw,
};
use secrecy::{ExposeSecret, SecretString};

use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Kite's REST API.
#[derive(Debug, Clone)]
pub struct KiteBroker {
    rest: Arc<KiteRest>,
    api_key: String,
    api_secret: SecretString,
    login_url: String,
}

impl KiteBroker {
    /// `api_url` is `KITE_API_URL`, `login_url` is `KITE_LOGIN_URL`.
    pub fn new(
        api_url: &str,
        login_url: &str,
        api_key: &str,
        api_secret: SecretString,
    ) -> Result<Self, BrokerError> {
        let base = url::Url::parse(api_url)
            .map_err(|e| BrokerError::Invalid(format!("KITE_API_URL is not a URL: {e}")))?;
        let rest = KiteRest::new(base, api_key.to_string())
            .map_err(|e| BrokerError::Invalid(format!("cannot set up the Kite client: {e}")))?;
        Ok(Self {
            rest: Arc::new(rest),
            api_key: api_key.to_string(),
            api_secret,
            login_url: login_url.trim_end_matches('/').to_string(),
        })
    }
}

fn map_err(e: KiteError) -> BrokerError {
    if e.is_auth() {
        BrokerError::Auth(e.to_string())
    } else if let KiteError::RateLimited { retry_after } = e {
        BrokerError::RateLimited { retry_after }
    } else if e.is_retryable() {
        BrokerError::Unavailable(e.to_string())
    } else {
        BrokerError::Invalid(e.to_string())
    }
}

fn access(token: &SecretString) -> AccessToken {
    AccessToken::new(token.expose_secret())
}

impl BrokerApi for KiteBroker {
    fn name(&self) -> &'static str {
        "kite"
    }

    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
        let rest = self.rest.clone();
        Box::pin(async move {
            let p = rest.profile(&access(&token)).await.map_err(map_err)?;
            Ok(UserProfile {
                user_id: p.user_id,
                user_name: p.user_name,
            })
        })
    }

    fn quotes(
        &self,
        token: SecretString,
        instruments: Vec<Arc<Instrument>>,
        received_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
        let rest = self.rest.clone();
        Box::pin(async move {
            let keys: Vec<String> = instruments.iter().map(|i| i.symbol.to_string()).collect();
            let quotes = rest.quote(&access(&token), &keys).await.map_err(map_err)?;
            Ok(instruments
                .iter()
                .filter_map(|inst| {
                    quotes
                        .get(&*inst.symbol)
                        .map(|q| tick_from_quote(q, inst, received_ms))
                })
                .collect())
        })
    }

    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
        let rest = self.rest.clone();
        Box::pin(async move {
            let rows = rest.instruments().await.map_err(map_err)?;
            Ok(rows.iter().map(spec_from_row).collect())
        })
    }

    fn login_url(&self, state: &str) -> String {
        // Kite echoes `redirect_params` back to the redirect URL (kite.md §8.2).
        let params = format!("state={state}");
        format!(
            "{}?v=3&api_key={}&redirect_params={}",
            self.login_url,
            encode(&self.api_key),
            encode(&params)
        )
    }

    fn exchange(
        &self,
        request_token: String,
    ) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
        let rest = self.rest.clone();
        let secret = ApiSecret::new(self.api_secret.expose_secret());
        Box::pin(async move {
            let s = rest
                .generate_session(&RequestToken::new(request_token), &secret)
                .await
                .map_err(map_err)?;
            Ok(SessionGrant {
                token: SecretString::from(s.access_token.expose()),
                user_id: s.user_id,
                user_name: s.user_name,
            })
        })
    }

    fn historical_minutes(
        &self,
        token: SecretString,
        instrument: Arc<Instrument>,
        from: i64,
        to: i64,
    ) -> BoxFuture<'static, Result<Vec<Candle>, BrokerError>> {
        let rest = self.rest.clone();
        Box::pin(async move {
            let (Some(from), Some(to)) = (ist_wall(from), ist_wall(to)) else {
                return Err(BrokerError::Invalid(format!(
                    "historical range {from}..{to} is out of range"
                )));
            };
            let rows = rest
                .historical(&access(&token), instrument.token, "minute", &from, &to)
                .await
                .map_err(map_err)?;
            Ok(rows
                .iter()
                .map(|c| candle_from_row(c, instrument.divisor))
                .collect())
        })
    }

    fn historical_interval(&self) -> Duration {
        // Kite allows 3 historical requests per second: one every 350 ms keeps a margin.
        Duration::from_millis(350)
    }

    fn quote_batch(&self) -> usize {
        500
    }

    fn quote_interval(&self) -> Duration {
        // Kite allows 1 quote request per second; a little margin keeps clock jitter on either
        // side from ever producing a 429.
        Duration::from_millis(1100)
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A Kite quote (decimal prices) as an integer tick with `src: rest`.
pub fn tick_from_quote(q: &KiteQuote, inst: &Instrument, received_ms: i64) -> Tick {
    let div = inst.divisor;
    let p = |v: f64| price_to_raw(v, div);
    let ts = |t: Option<NaiveDateTime>| {
        t.and_then(|t| Kolkata.from_local_datetime(&t).single())
            .map(|d| d.timestamp())
            .filter(|s| *s > 0)
    };
    let tradable = !inst.is_index;
    let level = |s: &QuoteDepthLevel| Level {
        price: p(s.price),
        quantity: s.quantity,
        orders: u32::try_from(s.orders).unwrap_or(u32::MAX),
    };
    let has_depth = !q.depth.buy.is_empty() || !q.depth.sell.is_empty();
    let depth = depth::from_levels(
        q.depth.buy.iter().map(level),
        q.depth.sell.iter().map(level),
    );
    Tick {
        token: q.instrument_token,
        divisor: div,
        ltp: p(q.last_price),
        quote: Some(Quote {
            open: p(q.ohlc.open),
            high: p(q.ohlc.high),
            low: p(q.ohlc.low),
            close: p(q.ohlc.close),
            volume: tradable.then_some(q.volume),
            last_qty: tradable.then_some(q.last_quantity),
            avg_price: tradable.then_some(p(q.average_price)),
            buy_qty: tradable.then_some(q.buy_quantity),
            sell_qty: tradable.then_some(q.sell_quantity),
        }),
        full: Some(Full {
            exchange_ts: ts(q.timestamp),
            last_trade_ts: ts(q.last_trade_time),
            oi: Some(q.oi),
            oi_day_high: Some(q.oi_day_high),
            oi_day_low: Some(q.oi_day_low),
            depth: has_depth.then_some(depth),
        }),
        received_ms,
        src: Source::Rest,
    }
}

/// Unix seconds as the IST wall time Kite's `from`/`to` parameters take.
fn ist_wall(secs: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&Kolkata).naive_local())
}

/// A Kite candle row (decimal prices) in wire units.
pub fn candle_from_row(c: &HistoricalCandle, divisor: u32) -> Candle {
    let p = |v: f64| price_to_raw(v, divisor);
    Candle {
        t: c.time.timestamp(),
        open: p(c.open),
        high: p(c.high),
        low: p(c.low),
        close: p(c.close),
        volume: c.volume,
    }
}

/// One row of the instrument dump as a registry spec.
pub fn spec_from_row(r: &InstrumentRow) -> InstrumentSpec {
    let segment = Segment::of_token(r.instrument_token);
    InstrumentSpec {
        token: r.instrument_token,
        exchange: r.exchange.clone(),
        tradingsymbol: r.tradingsymbol.clone(),
        name: r.name.clone(),
        segment: r.segment.clone(),
        instrument_type: r.instrument_type.clone(),
        tick_size: r.tick_size,
        lot_size: r.lot_size,
        divisor: segment.price_divisor(),
        is_index: segment.is_index() || r.segment.eq_ignore_ascii_case("INDICES"),
        expiry: r.expiry,
        strike: r.strike,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candles_and_ranges_convert_to_wire_units_and_ist() {
        let row = HistoricalCandle {
            time: chrono::DateTime::parse_from_str(
                "2026-11-23T09:15:00+0530",
                "%Y-%m-%dT%H:%M:%S%z",
            )
            .unwrap(),
            open: 598.7,
            high: 600.85,
            low: 585.0,
            close: 590.5,
            volume: 1234,
            oi: None,
        };
        let c = candle_from_row(&row, 100);
        assert_eq!(
            (c.t, c.open, c.high, c.low, c.close, c.volume),
            (1_795_405_500, 59_870, 60_085, 58_500, 59_050, 1234)
        );
        assert_eq!(
            ist_wall(1_795_405_500).unwrap().to_string(),
            "2026-11-23 09:15:00"
        );
    }

    #[test]
    fn rest_errors_keep_their_class_and_the_retry_after_hint() {
        let rate = |s: Option<u64>| KiteError::RateLimited {
            retry_after: s.map(Duration::from_secs),
        };
        assert_eq!(
            map_err(rate(Some(3))),
            BrokerError::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            map_err(rate(None)),
            BrokerError::RateLimited { retry_after: None }
        );
        assert!(matches!(
            map_err(KiteError::Timeout),
            BrokerError::Unavailable(_)
        ));
    }
}

//! Fyers API v3 as a [`BrokerApi`]: the profile as the token check, `/data/quotes` as REST
//! ticks, the symbol master as registry specs with Kite's canonical symbols
//! ([`super::master`]), the `generate-authcode` → `validate-authcode` login, and the JWT's
//! `exp` as the expiry hint. Its partner on the data socket is [`super::wire`]; the two share
//! the symbol book ([`super::book`]) and the request budget ([`super::limiter`]).
//!
//! The access token is `APPID:JWT` everywhere feedgate keeps it (token file,
//! `FYERS_ACCESS_TOKEN`, the upstream); REST calls send `APPID:JWT`, the symbol-token call the
//! bare JWT, and the data socket only the JWT's `hsm_key` claim. None of them is ever logged:
//! errors from `feedgate-fyers` carry no token or body.

use super::book::{BookSource, SymbolBook};
use super::limiter::ApiLimiter;
use crate::brokers::depth;
use crate::brokers::fyers::units::decimal_units;
use crate::brokers::fyers::wire::FyersWire;
use crate::brokers::{BrokerApi, BrokerError, SessionGrant, UserProfile};
use crate::model::candle::Candle;
use crate::model::instruments::{Instrument, InstrumentSpec};
use crate::model::tick::{Full, Level, Quote, Source, Tick};
use chrono::{DateTime, Utc};
use feedgate_fyers::rest::models::{HistoryCandle, QuoteValues};
use feedgate_fyers::rest::{
    AuthcodeParams, FyersEndpoints, FyersRest, ResponseStatus, RestError, generate_authcode_url,
};
use feedgate_fyers::{AccessToken, Decimal, FyersSymbol};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Symbols per quotes call (the SDK's documented maximum).
pub const QUOTE_BATCH: usize = 50;
/// Spacing of quote calls. Fyers allows 10 requests/s and 200/min per app; 350 ms keeps quote
/// polling at ≤ 172/min, leaving room for the symbol-token and profile calls. Every call, these
/// included, also goes through the shared [`ApiLimiter`], which enforces the limits themselves.
pub const QUOTE_INTERVAL: Duration = Duration::from_millis(350);
/// REST timeouts (per call; the symbol master has its own, longer one).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as whom to talk to Fyers.
#[derive(Debug, Clone)]
pub struct FyersSettings<'a> {
    /// `FYERS_APP_ID`, with its `-100` suffix.
    pub app_id: &'a str,
    /// `FYERS_SECRET_ID`.
    pub secret: SecretString,
    /// `FYERS_API_URL` (`…/api/v3`).
    pub api_url: &'a str,
    /// `FYERS_DATA_API_URL` (`…/data`).
    pub data_api_url: &'a str,
    /// `FYERS_SYMBOLS_URL` (`…/sym_details`: master CSVs and the index-name mapping).
    pub symbols_url: &'a str,
    /// `FYERS_LOGIN_URL` (`…/generate-authcode`).
    pub login_url: &'a str,
    /// Where Fyers sends the browser after login: `<public url>/api/auth/callback`, exactly as
    /// registered with the app.
    pub redirect_url: String,
    /// Where the symbol book is persisted (the data directory); `None`: memory only.
    pub data_dir: Option<&'a Path>,
}

/// The Fyers REST API.
#[derive(Debug, Clone)]
pub struct FyersBroker {
    rest: FyersRest,
    book: SymbolBook,
    /// Shared with the data socket's symbol-token calls.
    limiter: Arc<ApiLimiter>,
    app_id: String,
    secret: SecretString,
    login_url: Url,
    redirect_url: String,
}

fn parse_url(key: &str, text: &str) -> Result<Url, BrokerError> {
    Url::parse(text).map_err(|e| BrokerError::Invalid(format!("{key} is not a URL: {e}")))
}

impl FyersBroker {
    pub fn new(s: FyersSettings<'_>) -> Result<Self, BrokerError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("feedgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BrokerError::Invalid(format!("cannot set up the Fyers client: {e}")))?;
        let symbols = s.symbols_url.trim_end_matches('/');
        let endpoints = FyersEndpoints {
            api: parse_url("FYERS_API_URL", s.api_url.trim_end_matches('/'))?,
            data: parse_url("FYERS_DATA_API_URL", s.data_api_url.trim_end_matches('/'))?,
            index_mapping: parse_url(
                "FYERS_SYMBOLS_URL",
                &format!("{symbols}/index_hsm_mapping.json"),
            )?,
        };
        let book = SymbolBook::new(BookSource {
            http: http.clone(),
            base_url: symbols.to_string(),
            path: s.data_dir.map(|d| d.join("fyers-symbols.json")),
        });
        Ok(Self {
            rest: FyersRest::with_client(http, endpoints, s.app_id),
            book,
            limiter: Arc::new(ApiLimiter::default()),
            app_id: s.app_id.to_string(),
            secret: s.secret,
            login_url: parse_url("FYERS_LOGIN_URL", s.login_url)?,
            redirect_url: s.redirect_url,
        })
    }

    /// The data-socket side, sharing this adapter's REST client, symbol book and request
    /// budget.
    pub fn wire(&self, ws_url: &str) -> FyersWire {
        FyersWire::new(
            ws_url,
            self.rest.clone(),
            self.book.clone(),
            self.limiter.clone(),
        )
    }
}

/// Parses the gateway's token; one that is not `APPID:JWT` can never work, so it is an auth
/// failure (the error never contains the token).
pub fn access_token(token: &SecretString) -> Result<AccessToken, BrokerError> {
    AccessToken::parse(token.expose_secret()).map_err(|e| BrokerError::Auth(e.to_string()))
}

/// Typed REST errors → the gateway's classes.
pub fn map_err(e: RestError) -> BrokerError {
    let rate_limited = e
        .api()
        .is_some_and(|a| a.http_status == 429 || a.code == Some(-429));
    if e.is_auth() {
        BrokerError::Auth(e.to_string())
    } else if rate_limited {
        BrokerError::RateLimited { retry_after: None }
    } else if e.is_retryable() {
        BrokerError::Unavailable(e.to_string())
    } else {
        BrokerError::Invalid(e.to_string())
    }
}

impl BrokerApi for FyersBroker {
    fn name(&self) -> &'static str {
        "fyers"
    }

    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
        let rest = self.rest.clone();
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let token = access_token(&token)?;
            limiter.acquire().await;
            let p = rest.profile(&token).await.map_err(map_err)?;
            Ok(UserProfile {
                user_id: p.fy_id.unwrap_or_default(),
                user_name: p.name.or(p.display_name).unwrap_or_default(),
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
        let book = self.book.clone();
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let token = access_token(&token)?;
            let tokens: Vec<u32> = instruments.iter().map(|i| i.token).collect();
            let entries = book.lookup(&tokens).await;
            let mut by_symbol: HashMap<String, &Arc<Instrument>> = HashMap::new();
            let mut symbols = Vec::new();
            for inst in &instruments {
                let Some(symbol) = entries
                    .get(&inst.token)
                    .and_then(|e| FyersSymbol::new(e.symbol.as_str()).ok())
                else {
                    continue;
                };
                by_symbol.insert(symbol.as_str().to_string(), inst);
                symbols.push(symbol);
            }
            let mut ticks = Vec::new();
            for chunk in symbols.chunks(QUOTE_BATCH) {
                limiter.acquire().await;
                let entries = rest.quotes(&token, chunk).await.map_err(map_err)?;
                for q in entries.iter().filter(|q| q.s != ResponseStatus::Error) {
                    if let Some(inst) = by_symbol.get(&q.n)
                        && let Some(t) = tick_from_quote(&q.v, inst, received_ms)
                    {
                        ticks.push(t);
                    }
                }
            }
            Ok(ticks)
        })
    }

    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
        let book = self.book.clone();
        Box::pin(async move {
            let rows = book.download().await?;
            Ok(rows.into_iter().map(|r| r.spec).collect())
        })
    }

    fn login_url(&self, state: &str) -> String {
        generate_authcode_url(
            &self.login_url,
            &AuthcodeParams {
                client_id: &self.app_id,
                redirect_uri: &self.redirect_url,
                state,
                scope: None,
                nonce: None,
            },
        )
        .to_string()
    }

    fn exchange(&self, auth_code: String) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
        let rest = self.rest.clone();
        let limiter = self.limiter.clone();
        let secret = self.secret.clone();
        let app_id = self.app_id.clone();
        Box::pin(async move {
            let code = SecretString::from(auth_code);
            limiter.acquire().await;
            let pair = rest
                .validate_authcode(&secret, &code)
                .await
                .map_err(map_err)?;
            let jwt = pair.access_token.expose_secret();
            // The exchange returns the bare JWT; feedgate keeps the documented `APPID:JWT`.
            let full = if jwt.contains(':') {
                jwt.to_string()
            } else {
                format!("{app_id}:{jwt}")
            };
            let token = SecretString::from(full);
            let parsed = access_token(&token)?;
            // The user's id and name: a failed lookup does not undo a login that worked (the
            // code is single-use); the auth task fills them in on its next check.
            limiter.acquire().await;
            let (user_id, user_name) = match rest.profile(&parsed).await {
                Ok(p) => (
                    p.fy_id.unwrap_or_default(),
                    p.name.or(p.display_name).unwrap_or_default(),
                ),
                Err(e) if e.is_auth() => return Err(map_err(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "profile lookup after the fyers login failed");
                    (String::new(), String::new())
                }
            };
            Ok(SessionGrant {
                token,
                user_id,
                user_name,
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
        let book = self.book.clone();
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let token = access_token(&token)?;
            let entries = book.lookup(&[instrument.token]).await;
            let symbol = entries
                .get(&instrument.token)
                .and_then(|e| FyersSymbol::new(e.symbol.as_str()).ok())
                .ok_or_else(|| {
                    BrokerError::Invalid(format!("no Fyers symbol for {}", instrument.symbol))
                })?;
            limiter.acquire().await;
            let rows = rest
                .history_minutes(&token, &symbol, from, to)
                .await
                .map_err(map_err)?;
            Ok(rows
                .iter()
                .filter_map(|r| candle_from_row(r, instrument.divisor))
                .collect())
        })
    }

    fn quote_batch(&self) -> usize {
        QUOTE_BATCH
    }

    fn quote_interval(&self) -> Duration {
        QUOTE_INTERVAL
    }

    /// The JWT's own `exp`: Fyers documents no fixed daily expiry time.
    fn expiry_hint(
        &self,
        token: &SecretString,
        _issued_at: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let token = AccessToken::parse(token.expose_secret()).ok()?;
        DateTime::from_timestamp(token.expires_at(), 0)
    }
}

/// One `/data/history` row in wire units (`None`: a price not on the instrument's grid of
/// units, or a negative or fractional volume).
pub fn candle_from_row(r: &HistoryCandle, divisor: u32) -> Option<Candle> {
    let p = |d: Decimal| decimal_units(d, divisor);
    let volume = r.5.to_f64();
    let volume =
        (volume >= 0.0 && volume.fract() == 0.0 && volume < 1.8e19).then_some(volume as u64)?;
    Some(Candle {
        t: r.0,
        open: p(r.1)?,
        high: p(r.2)?,
        low: p(r.3)?,
        close: p(r.4)?,
        volume,
    })
}

/// One `/data/quotes` entry as a tick with `src: rest`. Fyers' quote has no depth beyond the
/// best bid/ask, no open interest and no buy/sell totals; those stay absent. `tt` (epoch
/// seconds) is the exchange time.
pub fn tick_from_quote(v: &QuoteValues, inst: &Instrument, received_ms: i64) -> Option<Tick> {
    let div = inst.divisor;
    let p = |d: Option<Decimal>| d.and_then(|d| decimal_units(d, div));
    let ltp = p(v.lp)?;
    let tradable = !inst.is_index;
    let volume = v.volume.and_then(|n| u64::try_from(n).ok());
    let tt = v.tt.filter(|t| *t > 0);
    let (bid, ask) = (p(v.bid), p(v.ask));
    let depth = (tradable && (bid.is_some() || ask.is_some())).then(|| {
        let at = |price: Option<i64>| Level {
            price: price.unwrap_or(0),
            ..Level::default()
        };
        depth::top_of_book(at(bid), at(ask))
    });
    Some(Tick {
        token: inst.token,
        divisor: div,
        ltp,
        quote: Some(Quote {
            open: p(v.open_price).unwrap_or(0),
            high: p(v.high_price).unwrap_or(0),
            low: p(v.low_price).unwrap_or(0),
            close: p(v.prev_close_price).unwrap_or(0),
            volume: volume.filter(|_| tradable),
            last_qty: None,
            avg_price: p(v.atp).filter(|_| tradable),
            buy_qty: None,
            sell_qty: None,
        }),
        full: Some(Full {
            exchange_ts: tt,
            last_trade_ts: tt.filter(|_| tradable),
            oi: None,
            oi_day_high: None,
            oi_day_low: None,
            depth,
        }),
        received_ms,
        src: Source::Rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::Registry;

    fn sbin() -> Arc<Instrument> {
        let reg = Registry::new([InstrumentSpec::nse_equity(
            779_521,
            "SBIN",
            "STATE BANK OF INDIA",
        )]);
        reg.by_token(779_521).unwrap().clone()
    }

    #[test]
    fn a_quote_becomes_a_rest_tick() {
        let v: QuoteValues = serde_json::from_str(
            r#"{"ask":590.55,"bid":590.5,"ch":-7.95,"chp":-1.33,"high_price":600.85,"low_price":585,
                "lp":590.5,"open_price":598.7,"prev_close_price":598.45,"atp":591.07,
                "tt":"1691020800","volume":27774877}"#,
        )
        .unwrap();
        let t = tick_from_quote(&v, &sbin(), 7).unwrap();
        assert_eq!(
            (t.token, t.divisor, t.ltp, t.src),
            (779_521, 100, 59_050, Source::Rest)
        );
        let q = t.quote.unwrap();
        assert_eq!(
            (q.open, q.high, q.low, q.close),
            (59_870, 60_085, 58_500, 59_845)
        );
        assert_eq!((q.volume, q.avg_price), (Some(27_774_877), Some(59_107)));
        let f = t.full.unwrap();
        assert_eq!(f.exchange_ts, Some(1_691_020_800));
        let depth = f.depth.unwrap();
        assert_eq!((depth.buy[0].price, depth.sell[0].price), (59_050, 59_055));
        let empty: QuoteValues = serde_json::from_str(r#"{"bid":1}"#).unwrap();
        assert!(
            tick_from_quote(&empty, &sbin(), 7).is_none(),
            "no price, no tick"
        );
    }

    #[test]
    fn login_url_and_expiry_hint() {
        let broker = FyersBroker::new(FyersSettings {
            app_id: "TESTAPP-100",
            secret: SecretString::from("SECRET123"),
            api_url: "http://127.0.0.1:9/api/v3",
            data_api_url: "http://127.0.0.1:9/data",
            symbols_url: "http://127.0.0.1:9/sym_details/",
            login_url: "http://127.0.0.1:9/api/v3/generate-authcode",
            redirect_url: "http://127.0.0.1:8080/api/auth/callback".into(),
            data_dir: None,
        })
        .unwrap();
        assert_eq!(
            broker.login_url("xyz"),
            "http://127.0.0.1:9/api/v3/generate-authcode?client_id=TESTAPP-100&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fapi%2Fauth%2Fcallback&response_type=code&state=xyz"
        );
        assert_eq!(broker.name(), "fyers");
        assert_eq!(broker.quote_batch(), 50);
        // {"exp":1700000000,"hsm_key":"k"}
        let token = SecretString::from(
            "TESTAPP-100:eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDAsImhzbV9rZXkiOiJrIn0.",
        );
        assert_eq!(
            broker.expiry_hint(&token, None),
            DateTime::from_timestamp(1_700_000_000, 0)
        );
        assert_eq!(
            broker.expiry_hint(&SecretString::from("garbage"), None),
            None
        );
        assert!(matches!(
            access_token(&SecretString::from("garbage")),
            Err(BrokerError::Auth(_))
        ));
    }
}

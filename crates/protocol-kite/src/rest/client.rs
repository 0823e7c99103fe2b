//! The async Kite REST client: the endpoints the gateway needs (profile, quotes, login,
//! logout, instruments, historical candles), with Kite's headers, per-request timeouts, bounded response bodies and
//! typed errors. The only module of this crate that performs I/O.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::rest::checksum::checksum;
use crate::rest::envelope::ErrorType;
use crate::rest::error::{KiteError, scrub};
use crate::rest::historical::{HistoricalCandle, RawHistorical, decode_candles};
use crate::rest::instruments::{InstrumentRow, parse_instruments_body};
use crate::rest::models::{LtpQuote, OhlcQuote, Profile, Quote, Session};
use crate::rest::secret::{AccessToken, ApiSecret, RequestToken};

/// Production REST base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.kite.trade";
/// Per-request timeout of API calls (pykiteconnect's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(7);
/// Timeout of the instrument dump download, which is megabytes, not bytes.
pub const DEFAULT_INSTRUMENTS_TIMEOUT: Duration = Duration::from_secs(60);
/// Most instruments `/quote` accepts per call.
pub const MAX_QUOTE_INSTRUMENTS: usize = 500;
/// Most instruments `/quote/ltp` and `/quote/ohlc` accept per call.
pub const MAX_LTP_OHLC_INSTRUMENTS: usize = 1000;

/// Cap on a JSON response body (1000 OHLC quotes are about 200 KB).
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;
/// Cap on the instrument dump as transferred (the full dump is about 10 MB uncompressed).
const MAX_CSV_BODY: usize = 128 * 1024 * 1024;
/// Most instruments remembered as having had a malformed quote reported.
const MAX_REPORTED: usize = 1024;

/// Async client for the Kite REST API.
///
/// Routes are joined *onto* the base URL, keeping any path prefix: with base
/// `http://host/kite` the profile is fetched from `http://host/kite/user/profile`. (pykiteconnect
/// drops the prefix; a prefix-free base such as Kite's own behaves the same in both.)
#[derive(Debug, Clone)]
pub struct KiteRest {
    http: Client,
    /// Always ends with `/`, so relative joins append to its path.
    base: Url,
    api_key: String,
    timeout: Duration,
    instruments_timeout: Duration,
    /// Shared by clones: the REST fallback fetches the same quotes every few seconds.
    reported: Arc<Reported>,
}

impl KiteRest {
    /// A client with its own connection pool.
    pub fn new(base_url: Url, api_key: String) -> Result<Self, KiteError> {
        let http = Client::builder()
            .connect_timeout(DEFAULT_TIMEOUT)
            .user_agent(concat!("feedgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KiteError::Setup(e.without_url().to_string()))?;
        Self::with_client(http, base_url, api_key)
    }

    /// A client sharing an existing `reqwest::Client` (its pool, TLS and proxy settings).
    /// Timeouts are applied per request, so they hold whatever the client was built with.
    pub fn with_client(http: Client, base_url: Url, api_key: String) -> Result<Self, KiteError> {
        if base_url.cannot_be_a_base() || !matches!(base_url.scheme(), "http" | "https") {
            return Err(KiteError::Setup(format!(
                "base url must be http(s), got scheme {:?}",
                base_url.scheme()
            )));
        }
        let mut base = base_url;
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base,
            api_key,
            timeout: DEFAULT_TIMEOUT,
            instruments_timeout: DEFAULT_INSTRUMENTS_TIMEOUT,
            reported: Arc::default(),
        })
    }

    /// Overrides the API call timeout and the instrument download timeout.
    pub fn with_timeouts(mut self, api: Duration, instruments: Duration) -> Self {
        self.timeout = api;
        self.instruments_timeout = instruments;
        self
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The base URL routes are joined onto (with a trailing `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /user/profile`. Also the cheapest way to ask whether a token is still valid.
    pub async fn profile(&self, token: &AccessToken) -> Result<Profile, KiteError> {
        let request = self.request(Method::GET, "user/profile")?;
        let request = self.authorize(request, token)?;
        self.json(request, &[token.expose()]).await
    }

    /// `GET /quote` for at most 500 `EXCHANGE:TRADINGSYMBOL` keys, keyed by the requested
    /// strings. Instruments without data are absent.
    pub async fn quote(
        &self,
        token: &AccessToken,
        instruments: &[String],
    ) -> Result<HashMap<String, Quote>, KiteError> {
        self.quotes("quote", token, instruments, MAX_QUOTE_INSTRUMENTS)
            .await
    }

    /// `GET /quote/ltp` for at most 1000 instruments.
    pub async fn ltp(
        &self,
        token: &AccessToken,
        instruments: &[String],
    ) -> Result<HashMap<String, LtpQuote>, KiteError> {
        self.quotes("quote/ltp", token, instruments, MAX_LTP_OHLC_INSTRUMENTS)
            .await
    }

    /// `GET /quote/ohlc` for at most 1000 instruments.
    pub async fn ohlc(
        &self,
        token: &AccessToken,
        instruments: &[String],
    ) -> Result<HashMap<String, OhlcQuote>, KiteError> {
        self.quotes("quote/ohlc", token, instruments, MAX_LTP_OHLC_INSTRUMENTS)
            .await
    }

    /// `POST /session/token`: exchanges a request token from the login redirect for a session.
    pub async fn generate_session(
        &self,
        request_token: &RequestToken,
        api_secret: &ApiSecret,
    ) -> Result<Session, KiteError> {
        let checksum = checksum(&self.api_key, request_token, api_secret);
        let form = [
            ("api_key", self.api_key.as_str()),
            ("request_token", request_token.expose()),
            ("checksum", checksum.as_str()),
        ];
        let request = self.request(Method::POST, "session/token")?.form(&form);
        let secrets = [request_token.expose(), api_secret.expose(), &checksum];
        self.json(request, &secrets).await
    }

    /// `DELETE /session/token`: logs the access token out. Kite answers `true`.
    pub async fn invalidate_token(&self, token: &AccessToken) -> Result<bool, KiteError> {
        let query = [
            ("api_key", self.api_key.as_str()),
            ("access_token", token.expose()),
        ];
        let request = self.request(Method::DELETE, "session/token")?.query(&query);
        let request = self.authorize(request, token)?;
        self.json(request, &[token.expose()]).await
    }

    /// `GET /instruments/historical/{instrument_token}/{interval}?from=…&to=…`: candles from
    /// `from` to `to` (IST wall times, `yyyy-mm-dd hh:mm:ss`, both inclusive), oldest first.
    /// `interval` is Kite's name (`minute`, `5minute`, `day`, …).
    pub async fn historical(
        &self,
        token: &AccessToken,
        instrument_token: u32,
        interval: &str,
        from: &chrono::NaiveDateTime,
        to: &chrono::NaiveDateTime,
    ) -> Result<Vec<HistoricalCandle>, KiteError> {
        let route = format!("instruments/historical/{instrument_token}/{interval}");
        let query = [
            ("from", crate::rest::time::format(from)),
            ("to", crate::rest::time::format(to)),
        ];
        let request = self.request(Method::GET, &route)?.query(&query);
        let request = self.authorize(request, token)?;
        let raw: RawHistorical = self.json(request, &[token.expose()]).await?;
        decode_candles(raw).map_err(|e| unexpected(200, &e.to_string()))
    }

    /// `GET /instruments`: the full instrument dump (CSV; gzip handled either way). Kite does
    /// not authenticate this route.
    pub async fn instruments(&self) -> Result<Vec<InstrumentRow>, KiteError> {
        let request = self
            .request(Method::GET, "instruments")?
            .timeout(self.instruments_timeout);
        let response = request.send().await.map_err(KiteError::transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let body = read_body(response, MAX_CSV_BODY).await?;
        if status >= 300 {
            return Err(error_from_body(status, &body, retry_after, &[]));
        }
        Ok(parse_instruments_body(&body)?)
    }

    fn request(&self, method: Method, route: &str) -> Result<RequestBuilder, KiteError> {
        let url = self
            .base
            .join(route)
            .map_err(|e| KiteError::Setup(format!("cannot join route {route}: {e}")))?;
        Ok(self
            .http
            .request(method, url)
            .header("X-Kite-Version", "3")
            .timeout(self.timeout))
    }

    fn authorize(
        &self,
        request: RequestBuilder,
        token: &AccessToken,
    ) -> Result<RequestBuilder, KiteError> {
        let value = format!("token {}:{}", self.api_key, token.expose());
        let mut value = HeaderValue::from_str(&value).map_err(|_| KiteError::InvalidCredential)?;
        // keeps the header out of reqwest's and hyper's debug output
        value.set_sensitive(true);
        Ok(request.header(AUTHORIZATION, value))
    }

    async fn quotes<T: DeserializeOwned>(
        &self,
        route: &str,
        token: &AccessToken,
        instruments: &[String],
        max: usize,
    ) -> Result<HashMap<String, T>, KiteError> {
        if instruments.len() > max {
            return Err(KiteError::TooManyInstruments {
                count: instruments.len(),
                max,
            });
        }
        if instruments.is_empty() {
            return Ok(HashMap::new());
        }
        let query: Vec<(&str, &str)> = instruments.iter().map(|i| ("i", i.as_str())).collect();
        let request = self.request(Method::GET, route)?.query(&query);
        let request = self.authorize(request, token)?;
        let raw: HashMap<String, Value> = self.json(request, &[token.expose()]).await?;
        decode_quote_map(raw, &self.reported)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        secrets: &[&str],
    ) -> Result<T, KiteError> {
        let response = request.send().await.map_err(KiteError::transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let body = read_body(response, MAX_JSON_BODY).await?;
        decode_envelope(status, &body, retry_after, secrets)
    }
}

/// The envelope fields every Kite JSON body may have.
#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_type: Option<String>,
}

/// Decodes a JSON response. Like pykiteconnect, a body with `status == "error"` or a non-empty
/// `error_type` is an error whatever the HTTP status; like gokiteconnect, so is any status of
/// 300 or more.
fn decode_envelope<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> Result<T, KiteError> {
    let envelope = serde_json::from_slice::<RawEnvelope>(body).ok();
    let is_error_body = envelope.as_ref().is_some_and(|e| {
        e.status.as_deref() == Some("error")
            || e.error_type.as_deref().is_some_and(|t| !t.is_empty())
    });
    if status >= 300 || is_error_body {
        return Err(error_from_envelope(status, envelope, retry_after, secrets));
    }
    let Some(envelope) = envelope else {
        return Err(unexpected(status, "body is not a json object"));
    };
    let Some(data) = envelope.data else {
        return Err(unexpected(status, "success body without data"));
    };
    T::deserialize(data).map_err(|e| unexpected(status, &format!("data has the wrong shape: {e}")))
}

fn error_from_body(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> KiteError {
    let envelope = serde_json::from_slice::<RawEnvelope>(body).ok();
    error_from_envelope(status, envelope, retry_after, secrets)
}

fn error_from_envelope(
    status: u16,
    envelope: Option<RawEnvelope>,
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> KiteError {
    let parsed = envelope.and_then(|e| {
        let error_type = e.error_type.filter(|t| !t.is_empty());
        if error_type.is_none() && e.status.as_deref() != Some("error") {
            return None;
        }
        let error_type =
            error_type.map_or(ErrorType::GeneralException, |t| ErrorType::from_name(&t));
        let message = scrub(e.message.as_deref().unwrap_or_default(), secrets);
        Some((error_type, message))
    });
    let error = KiteError::classify(status, parsed, retry_after);
    tracing::debug!(status, error = %error, "kite rest call failed");
    error
}

fn unexpected(status: u16, reason: &str) -> KiteError {
    KiteError::UnexpectedBody {
        status,
        reason: scrub(reason, &[]),
    }
}

/// Instruments whose malformed quotes were already reported at `warn` (at most
/// [`MAX_REPORTED`]; beyond that, problems are logged at `debug` only).
#[derive(Debug, Default)]
struct Reported(Mutex<HashSet<String>>);

impl Reported {
    /// Whether this is the first report for `instrument`; remembers it.
    fn first_time(&self, instrument: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_REPORTED || seen.contains(instrument) {
            return false;
        }
        seen.insert(instrument.to_owned());
        true
    }
}

/// Decodes each instrument of a quote map on its own, so one odd entry does not cost the
/// others; only if every entry is malformed is the response rejected. Each malformed instrument
/// is a warning the first time only; every call with skipped entries is one `debug` line.
fn decode_quote_map<T: DeserializeOwned>(
    raw: HashMap<String, Value>,
    reported: &Reported,
) -> Result<HashMap<String, T>, KiteError> {
    let total = raw.len();
    let mut quotes = HashMap::with_capacity(total);
    let mut first_error = None;
    let mut skipped = 0usize;
    for (key, value) in raw {
        match T::deserialize(value) {
            Ok(quote) => {
                quotes.insert(key, quote);
            }
            Err(error) => {
                if reported.first_time(&key) {
                    tracing::warn!(instrument = %key, %error, "skipping malformed quote (said once per instrument)");
                }
                skipped += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = &first_error {
        tracing::debug!(skipped, total, first = %error, "skipped malformed quotes");
    }
    match first_error {
        Some(error) if quotes.is_empty() && total > 0 => Err(unexpected(
            200,
            &format!("no quote could be decoded: {error}"),
        )),
        _ => Ok(quotes),
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let seconds = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads a body of at most `max` bytes, failing as soon as it grows beyond.
async fn read_body(mut response: Response, max: usize) -> Result<Vec<u8>, KiteError> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(unexpected(status, &format!("body larger than {max} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(KiteError::transport)? {
        if body.len() + chunk.len() > max {
            return Err(unexpected(status, &format!("body larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;

//! The async Fyers REST client: profile (token probe), quotes (REST fallback), symbol-token
//! (topic resolution), the index-name mapping, and the `validate-authcode` exchange. The only
//! I/O in this crate. Base URLs are configurable so tests and the simulator can stand in for
//! Fyers; the token is passed per call because the gateway re-reads it before reconnecting.
//!
//! Headers follow the official client (spec §10.1, §2.1): `Authorization: <app_id>:<jwt>` and
//! `version: 3` on account and data calls; the bare JWT on symbol-token; no `Authorization` on
//! `validate-authcode` and the public index mapping. Authorization values are marked sensitive
//! so HTTP-level logging redacts them. Bodies are capped at 4 MiB.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::validate_authcode_request;
use super::error::{ApiError, RestError, TransportKind, describe_json_error};
use super::models::{
    Envelope, HistoryCandle, HistoryResponse, Profile, ProfileResponse, QuoteEntry, QuotesResponse,
    ResponseStatus, SymbolTokenRequest, SymbolTokenResponse, ValidateAuthcodeResponse,
};
use crate::symbol::{FyersSymbol, IndexNames};
use crate::token::AccessToken;
use secrecy::{ExposeSecret, SecretString};

/// The real API root (`FYERS_API_URL` default).
pub const DEFAULT_API_ROOT: &str = "https://api-t1.fyers.in";
/// The real index-name mapping document.
pub const INDEX_MAPPING_URL: &str = "https://public.fyers.in/sym_details/index_hsm_mapping.json";
/// Most symbols per quotes call (SDK docstring).
pub const MAX_QUOTE_SYMBOLS: usize = 50;
/// Most symbols per symbol-token call (the SDK chunks at this size).
pub const MAX_SYMBOL_TOKEN_SYMBOLS: usize = 500;
/// Largest response body read.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Whole-request timeout of [`FyersRest::new`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout of [`FyersRest::new`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the Fyers REST API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FyersEndpoints {
    /// Account and auth base, `…/api/v3`.
    pub api: Url,
    /// Market-data base, `…/data`.
    pub data: Url,
    /// The index-name mapping document.
    pub index_mapping: Url,
}

impl FyersEndpoints {
    /// The real endpoints.
    pub fn production() -> Result<Self, RestError> {
        let mut endpoints = Self::from_api_root(DEFAULT_API_ROOT)?;
        endpoints.index_mapping = parse_url(INDEX_MAPPING_URL)?;
        Ok(endpoints)
    }

    /// Endpoints under one root (what `FYERS_API_URL` holds): `<root>/api/v3`, `<root>/data`,
    /// and `<root>/sym_details/index_hsm_mapping.json` (so a simulator can serve all three). A
    /// root that already ends in `/api/v3` is accepted too.
    pub fn from_api_root(root: &str) -> Result<Self, RestError> {
        let trimmed = root.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/v3").unwrap_or(trimmed);
        let root = parse_url(trimmed)?;
        Ok(Self {
            api: join(&root, &["api", "v3"])?,
            data: join(&root, &["data"])?,
            index_mapping: join(&root, &["sym_details", "index_hsm_mapping.json"])?,
        })
    }
}

fn parse_url(text: &str) -> Result<Url, RestError> {
    let url = Url::parse(text)
        .map_err(|err| RestError::InvalidRequest(format!("url {text:?}: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(RestError::InvalidRequest(format!(
            "url {text:?} is not an http(s) base url"
        )));
    }
    Ok(url)
}

/// `base` with path segments appended.
fn join(base: &Url, segments: &[&str]) -> Result<Url, RestError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| RestError::InvalidRequest(format!("url {base} cannot take a path")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Access and refresh token from `validate-authcode`.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token's JWT (prefix with the app id to make `APPID:JWT`).
    pub access_token: SecretString,
    /// The refresh token, when returned.
    pub refresh_token: Option<SecretString>,
}

/// The Fyers REST client; cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct FyersRest {
    http: Client,
    endpoints: FyersEndpoints,
    app_id: String,
}

impl FyersRest {
    /// A client with the default timeouts. `app_id` includes its `-100` suffix.
    pub fn new(endpoints: FyersEndpoints, app_id: impl Into<String>) -> Result<Self, RestError> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("feedgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| {
                RestError::InvalidRequest(format!(
                    "http client: {}",
                    feedgate_market::transport::describe(&err, None)
                ))
            })?;
        Ok(Self::with_client(http, endpoints, app_id))
    }

    /// A client using the given `reqwest::Client` (custom timeouts, proxies, tests).
    pub fn with_client(http: Client, endpoints: FyersEndpoints, app_id: impl Into<String>) -> Self {
        Self {
            http,
            endpoints,
            app_id: app_id.into(),
        }
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &FyersEndpoints {
        &self.endpoints
    }

    /// The app id used in `Authorization` and the auth-code exchange.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// `GET /api/v3/profile`: the cheap "is this token alive" probe.
    pub async fn profile(&self, token: &AccessToken) -> Result<Profile, RestError> {
        const ENDPOINT: &str = "profile";
        let url = join(&self.endpoints.api, &["profile"])?;
        let request =
            self.authorized(self.http.get(url), &token.rest_authorization(&self.app_id))?;
        let response: ProfileResponse = self.call(ENDPOINT, request).await?;
        response.data.ok_or_else(|| missing(ENDPOINT, "data"))
    }

    /// `GET /data/quotes?symbols=…` for at most [`MAX_QUOTE_SYMBOLS`] symbols.
    pub async fn quotes(
        &self,
        token: &AccessToken,
        symbols: &[FyersSymbol],
    ) -> Result<Vec<QuoteEntry>, RestError> {
        check_count("quotes", symbols.len(), MAX_QUOTE_SYMBOLS)?;
        let url = join(&self.endpoints.data, &["quotes"])?;
        let list = symbols
            .iter()
            .map(FyersSymbol::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let request = self.http.get(url).query(&[("symbols", list)]);
        let request = self.authorized(request, &token.rest_authorization(&self.app_id))?;
        let response: QuotesResponse = self.call("quotes", request).await?;
        Ok(response.d)
    }

    /// `GET /data/history` at 1-minute resolution from `from` to `to` (epoch seconds, both
    /// inclusive), oldest first.
    pub async fn history_minutes(
        &self,
        token: &AccessToken,
        symbol: &FyersSymbol,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryCandle>, RestError> {
        let url = join(&self.endpoints.data, &["history"])?;
        let query = [
            ("symbol", symbol.as_str().to_string()),
            ("resolution", "1".into()),
            ("date_format", "0".into()),
            ("range_from", from.to_string()),
            ("range_to", to.to_string()),
            ("cont_flag", "1".into()),
        ];
        let request = self.http.get(url).query(&query);
        let request = self.authorized(request, &token.rest_authorization(&self.app_id))?;
        let response: HistoryResponse = self.call("history", request).await?;
        Ok(response.candles)
    }

    /// `POST /data/symbol-token` for at most [`MAX_SYMBOL_TOKEN_SYMBOLS`] symbols.
    pub async fn symbol_token(
        &self,
        token: &AccessToken,
        symbols: &[FyersSymbol],
    ) -> Result<SymbolTokenResponse, RestError> {
        check_count("symbol-token", symbols.len(), MAX_SYMBOL_TOKEN_SYMBOLS)?;
        let url = join(&self.endpoints.data, &["symbol-token"])?;
        let body = SymbolTokenRequest {
            symbols: symbols.iter().map(|s| s.as_str().to_owned()).collect(),
        };
        // The official client sends the bare JWT here, unlike every other call.
        let request = self.authorized(self.http.post(url).json(&body), token.jwt())?;
        self.call("symbol-token", request).await
    }

    /// `GET` the index-name mapping (public, no auth).
    pub async fn index_names(&self) -> Result<IndexNames, RestError> {
        const ENDPOINT: &str = "index mapping";
        let response = send(
            ENDPOINT,
            self.http.get(self.endpoints.index_mapping.clone()),
        )
        .await?;
        let status = response.status().as_u16();
        let body = read_body(ENDPOINT, response).await?;
        if !(200..300).contains(&status) {
            return Err(ApiError::new(
                status,
                None,
                format!("http {status} fetching the index mapping"),
            )
            .into());
        }
        IndexNames::from_json(&body).map_err(|err| RestError::Decode {
            endpoint: ENDPOINT,
            http_status: status,
            detail: describe_json_error(&err),
        })
    }

    /// `POST /api/v3/validate-authcode`: exchanges the login redirect's auth code for tokens.
    pub async fn validate_authcode(
        &self,
        secret: &SecretString,
        auth_code: &SecretString,
    ) -> Result<TokenPair, RestError> {
        const ENDPOINT: &str = "validate-authcode";
        let url = join(&self.endpoints.api, &["validate-authcode"])?;
        let body = validate_authcode_request(&self.app_id, secret, auth_code.clone());
        let request = self.http.post(url).json(&body).header("version", "3");
        let response: ValidateAuthcodeResponse = self.call(ENDPOINT, request).await?;
        Ok(TokenPair {
            access_token: response
                .access_token
                .ok_or_else(|| missing(ENDPOINT, "access_token"))?,
            refresh_token: response.refresh_token,
        })
    }

    fn authorized(
        &self,
        request: RequestBuilder,
        value: &SecretString,
    ) -> Result<RequestBuilder, RestError> {
        let mut header = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
            RestError::InvalidRequest(
                "the access token contains characters not allowed in an http header".into(),
            )
        })?;
        header.set_sensitive(true);
        Ok(request
            .header(AUTHORIZATION, header)
            .header("version", "3")
            .header(reqwest::header::CONTENT_TYPE, "application/json"))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: RequestBuilder,
    ) -> Result<T, RestError> {
        let response = send(endpoint, request).await?;
        let status = response.status().as_u16();
        let body = read_body(endpoint, response).await?;
        let result = parse_response(endpoint, status, &body);
        match &result {
            Ok(_) => tracing::debug!(endpoint, status, "fyers rest call succeeded"),
            Err(err) => tracing::debug!(endpoint, status, error = %err, "fyers rest call failed"),
        }
        result
    }
}

fn check_count(endpoint: &str, count: usize, max: usize) -> Result<(), RestError> {
    if count == 0 || count > max {
        return Err(RestError::InvalidRequest(format!(
            "{endpoint} takes 1 to {max} symbols per call, got {count}"
        )));
    }
    Ok(())
}

fn missing(endpoint: &'static str, field: &str) -> RestError {
    RestError::Decode {
        endpoint,
        http_status: 200,
        detail: format!("the response has no `{field}`"),
    }
}

async fn send(endpoint: &'static str, request: RequestBuilder) -> Result<Response, RestError> {
    request.send().await.map_err(|err| transport(endpoint, err))
}

fn transport(endpoint: &'static str, err: reqwest::Error) -> RestError {
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    // Only the host is kept: the URL may carry credentials.
    let host = err.url().and_then(|u| u.host_str().map(str::to_string));
    RestError::Transport {
        endpoint,
        kind,
        detail: feedgate_market::transport::describe(&err.without_url(), host.as_deref()),
    }
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] before buffering it.
async fn read_body(endpoint: &'static str, mut response: Response) -> Result<Vec<u8>, RestError> {
    let too_large = RestError::BodyTooLarge {
        endpoint,
        limit: MAX_BODY_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport(endpoint, err))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps status + body to the model or a typed error (`s:"error"` is an error at any status).
pub(crate) fn parse_response<T: DeserializeOwned>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, RestError> {
    let success = (200..300).contains(&status);
    match serde_json::from_slice::<Envelope>(body) {
        Err(_) if !success => Err(ApiError::new(
            status,
            None,
            format!("http {status} without a json error body"),
        )
        .into()),
        Err(err) => Err(RestError::Decode {
            endpoint,
            http_status: status,
            detail: describe_json_error(&err),
        }),
        Ok(envelope) if !success || envelope.s == ResponseStatus::Error => {
            Err(ApiError::new(status, envelope.code, envelope.message.unwrap_or_default()).into())
        }
        Ok(_) => serde_json::from_slice(body).map_err(|err| RestError::Decode {
            endpoint,
            http_status: status,
            detail: describe_json_error(&err),
        }),
    }
}

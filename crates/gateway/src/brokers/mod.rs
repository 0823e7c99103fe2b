//! What the gateway needs from a broker, independent of the broker: its REST API
//! ([`BrokerApi`]: token validation, quotes as normalised ticks, the instrument list, the login
//! exchange, historical minute candles; [`TokenCheck`] is the token validation alone, for the connection loop) and its
//! streaming protocol ([`Wire`]). Each broker implements both in its own folder, REST and
//! socket side by side: Kite in [`kite`], Fyers in [`fyers`]; [`depth`] is the order-book
//! assembly both brokers' tick conversions share.

pub mod depth;
pub mod fyers;
pub mod kite;
pub mod recorded;
pub mod wire;

pub use wire::{Inbound, Wire, WireError};

use crate::model::candle::Candle;
use crate::model::instruments::{Instrument, InstrumentSpec};
use crate::model::tick::Tick;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// The answer of a token check against the broker's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenVerdict {
    Valid,
    /// The broker says the token is invalid or expired.
    Rejected,
    /// The check itself failed (network, 5xx): no conclusion.
    Unknown(String),
}

/// Validates an access token (Kite: `GET /user/profile`). Used to classify a refused upgrade
/// and as the pre-flight check before reconnecting after a failure.
pub trait TokenCheck: Send + Sync + std::fmt::Debug {
    fn check(&self, token: SecretString) -> BoxFuture<'static, TokenVerdict>;
}

/// The account behind a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub user_id: String,
    pub user_name: String,
}

/// A token obtained by the login flow.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    pub token: SecretString,
    pub user_id: String,
    pub user_name: String,
}

/// Broker REST failures, classified for decisions (never matched on strings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker rejected the credentials (Kite: 403 `TokenException`).
    #[error("the broker rejected the credentials: {0}")]
    Auth(String),
    /// Too many requests (HTTP 429); `retry_after` is the broker's `Retry-After`, if it sent
    /// one (honoured by `RateGate::rate_limited`).
    #[error("rate limited by the broker")]
    RateLimited { retry_after: Option<Duration> },
    /// Network failure, timeout or 5xx: try again later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The request or the response was not what it should be.
    #[error("{0}")]
    Invalid(String),
}

impl BrokerError {
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth(_))
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }
}

/// A broker's REST API.
pub trait BrokerApi: Send + Sync + std::fmt::Debug + 'static {
    /// `kite` or `fyers`.
    fn name(&self) -> &'static str;

    /// Validates a token by fetching the profile.
    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>>;

    /// Current quotes for up to [`BrokerApi::quote_batch`] instruments, as ticks with
    /// `src: rest`. Instruments the broker has no data for are absent.
    fn quotes(
        &self,
        token: SecretString,
        instruments: Vec<Arc<Instrument>>,
        received_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>>;

    /// The instrument list (Kite's daily dump).
    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>>;

    /// The broker's login page URL, carrying `state` so the callback can be verified.
    fn login_url(&self, state: &str) -> String;

    /// Exchanges the login redirect's request token for an access token.
    fn exchange(
        &self,
        request_token: String,
    ) -> BoxFuture<'static, Result<SessionGrant, BrokerError>>;

    /// Instruments per quote request (Kite: 500).
    fn quote_batch(&self) -> usize;

    /// Minimum spacing of quote requests (Kite: 1 request/s).
    fn quote_interval(&self) -> Duration;

    /// The 1-minute candles of `instrument` starting from `from` to `to` (Unix seconds, both
    /// inclusive), oldest first, prices in the instrument's wire units (Kite:
    /// `/instruments/historical/{token}/minute`). A broker without a historical API answers
    /// `Invalid` (the backfill then leaves the chart to live ticks).
    fn historical_minutes(
        &self,
        token: SecretString,
        instrument: Arc<Instrument>,
        from: i64,
        to: i64,
    ) -> BoxFuture<'static, Result<Vec<Candle>, BrokerError>> {
        let _ = (token, instrument, from, to);
        let name = self.name();
        Box::pin(async move {
            Err(BrokerError::Invalid(format!(
                "{name} has no historical candle API"
            )))
        })
    }

    /// Minimum spacing of historical candle requests (Kite: 3 requests/s).
    fn historical_interval(&self) -> Duration {
        Duration::from_millis(350)
    }

    /// When the broker says a token obtained at `issued_at` stops working: a hint for when to
    /// re-validate, never proof. The default is Kite Connect's documented rule (06:00 IST the
    /// next morning); brokers whose tokens carry their own expiry (Fyers' JWT `exp`) override it.
    fn expiry_hint(
        &self,
        token: &SecretString,
        issued_at: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let _ = token;
        issued_at.map(crate::brokers::kite::expiry::kite_expiry_hint)
    }
}

/// A [`TokenCheck`] backed by the broker's profile endpoint.
#[derive(Debug, Clone)]
pub struct ProfileCheck(pub Arc<dyn BrokerApi>);

impl TokenCheck for ProfileCheck {
    fn check(&self, token: SecretString) -> BoxFuture<'static, TokenVerdict> {
        let fut = self.0.profile(token);
        Box::pin(async move {
            match fut.await {
                Ok(_) => TokenVerdict::Valid,
                Err(e) if e.is_auth() => TokenVerdict::Rejected,
                Err(e) => TokenVerdict::Unknown(e.to_string()),
            }
        })
    }
}

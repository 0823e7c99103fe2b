//! Fyers REST API v3 (spec §10): models for the bodies feedgate sends and receives, the login
//! flow's URL and hash, typed errors, and the async client.

/// Login URL and `appIdHash`.
pub mod auth;
/// The async REST client and its endpoints (feature `client`).
#[cfg(feature = "client")]
pub mod client;
/// Typed REST errors with `is_auth` / `is_retryable`.
pub mod error;
mod lenient;
/// Request and response bodies.
pub mod models;

pub use auth::{AuthcodeParams, app_id_hash, generate_authcode_url};
#[cfg(feature = "client")]
pub use client::{FyersEndpoints, FyersRest, TokenPair};
pub use error::{ApiError, RestError, TransportKind};
pub use models::{
    AuthCallbackQuery, Envelope, HistoryCandle, HistoryResponse, Profile, ProfileResponse,
    QuoteEntry, QuoteValues, QuotesResponse, ResponseStatus, SymbolTokenRequest,
    SymbolTokenResponse, ValidateAuthcodeRequest, ValidateAuthcodeResponse,
};

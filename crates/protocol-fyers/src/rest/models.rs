//! Fyers REST bodies used by feedgate (spec §10, §2.1): the common `s`/`code`/`message`
//! envelope, profile, quotes, symbol-token, and the `validate-authcode` exchange. Each model
//! both deserialises (gateway) and serialises (simulator). Shapes tagged [T]/[U] in the spec are
//! read tolerantly ([`super::lenient`]); prices are exact [`Decimal`]s, never `f64`. Credentials
//! are [`SecretString`]s (redacted from `Debug`, no `Serialize` of their own: each field that
//! puts one on the wire names [`expose`]) and personal data is left out of `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient;
use crate::price::Decimal;

/// The `s` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseStatus {
    /// `"ok"`.
    Ok,
    /// `"error"`.
    Error,
    /// Anything else, or absent.
    #[default]
    #[serde(other)]
    Other,
}

/// The fields every response carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// `ok` or `error`.
    #[serde(default)]
    pub s: ResponseStatus,
    /// 200 on success; a negative Fyers code on errors (e.g. −16: could not authenticate).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<i64>,
    /// Human-readable text.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
}

impl Envelope {
    /// `{"s":"ok","code":200,"message":""}`.
    pub fn ok() -> Self {
        Self {
            s: ResponseStatus::Ok,
            code: Some(200),
            message: Some(String::new()),
        }
    }

    /// `{"s":"error","code":code,"message":message}` (what the simulator sends on errors).
    pub fn error(code: i64, message: impl Into<String>) -> Self {
        Self {
            s: ResponseStatus::Error,
            code: Some(code),
            message: Some(message.into()),
        }
    }
}

/// `GET /api/v3/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProfileResponse {
    /// Status fields.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Profile>,
}

/// The user profile (field list from several client libraries, spec §10.3).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// Client id, e.g. `XY12345`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fy_id: Option<String>,
    /// Full name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Display name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub display_name: Option<String>,
    /// E-mail (personal data; not in `Debug`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email_id: Option<String>,
    /// Mobile number (personal data; not in `Debug`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mobile_number: Option<String>,
    /// PAN (personal data; not in `Debug`).
    #[serde(rename = "PAN", default, deserialize_with = "lenient::opt_string")]
    pub pan: Option<String>,
    /// Avatar URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image: Option<String>,
    /// Last PIN change.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pin_change_date: Option<String>,
    /// Last password change.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pwd_change_date: Option<String>,
    /// Days until the password expires.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub pwd_to_expire: Option<i64>,
    /// TOTP enabled.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub totp: Option<bool>,
    /// DDPI enabled.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub ddpi_enabled: Option<bool>,
    /// MTF enabled.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub mtf_enabled: Option<bool>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("fy_id", &self.fy_id)
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

/// `GET /data/history?…`: candles as `[epoch seconds, open, high, low, close, volume]` rows
/// (decimal prices), oldest first. `s` is `no_data` when there are none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HistoryResponse {
    /// Status fields.
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub candles: Vec<HistoryCandle>,
}

/// One history row: start (epoch seconds), open, high, low, close, volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCandle(
    pub i64,
    pub Decimal,
    pub Decimal,
    pub Decimal,
    pub Decimal,
    pub Decimal,
);

/// `GET /data/quotes?symbols=…`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotesResponse {
    /// Status fields.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// One entry per requested symbol.
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub d: Vec<QuoteEntry>,
}

/// One symbol's quote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuoteEntry {
    /// The symbol (`NSE:SBIN-EQ`).
    #[serde(default)]
    pub n: String,
    /// Per-symbol status.
    #[serde(default)]
    pub s: ResponseStatus,
    /// The values (empty when the symbol failed; an error text lands in `errmsg`).
    #[serde(default, deserialize_with = "quote_values")]
    pub v: QuoteValues,
}

/// Quote values; prices already scaled (decimal rupees), `tt` epoch seconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuoteValues {
    /// Last price.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub lp: Option<Decimal>,
    /// Change from previous close.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub ch: Option<Decimal>,
    /// Change in percent.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub chp: Option<Decimal>,
    /// Best bid.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub bid: Option<Decimal>,
    /// Best ask.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub ask: Option<Decimal>,
    /// Ask − bid.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub spread: Option<Decimal>,
    /// Day open.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_price: Option<Decimal>,
    /// Day high.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub high_price: Option<Decimal>,
    /// Day low.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub low_price: Option<Decimal>,
    /// Previous close.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_close_price: Option<Decimal>,
    /// Average traded price.
    #[serde(
        default,
        deserialize_with = "lenient::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub atp: Option<Decimal>,
    /// Volume traded today.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume: Option<i64>,
    /// Last trade time, epoch seconds (a string on the wire).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub tt: Option<i64>,
    /// fyToken.
    #[serde(
        rename = "fyToken",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fy_token: Option<String>,
    /// Exchange (`NSE`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub exchange: Option<String>,
    /// Symbol.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub symbol: Option<String>,
    /// Short name (`SBIN-EQ`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub short_name: Option<String>,
    /// Description.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Original name.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_name: Option<String>,
    /// Per-symbol error text, when the entry failed.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub errmsg: Option<String>,
}

/// `v` is an object on success; when it is a bare string, keep it as the error text.
fn quote_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<QuoteValues, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        value @ serde_json::Value::Object(_) => {
            QuoteValues::deserialize(value).map_err(serde::de::Error::custom)?
        }
        serde_json::Value::String(text) => QuoteValues {
            errmsg: Some(text),
            ..QuoteValues::default()
        },
        _ => QuoteValues::default(),
    })
}

/// `POST /data/symbol-token` body: at most 500 symbols.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SymbolTokenRequest {
    /// Symbols such as `NSE:SBIN-EQ`.
    pub symbols: Vec<String>,
}

/// `POST /data/symbol-token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SymbolTokenResponse {
    /// Status fields.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// Symbol → fyToken.
    #[serde(
        rename = "validSymbol",
        default,
        deserialize_with = "lenient::null_default"
    )]
    pub valid_symbol: BTreeMap<String, String>,
    /// Symbols Fyers does not know.
    #[serde(
        rename = "invalidSymbol",
        default,
        deserialize_with = "lenient::null_default"
    )]
    pub invalid_symbol: Vec<String>,
}

/// The `grant_type` of the auth-code exchange.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";

/// `POST /api/v3/validate-authcode` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateAuthcodeRequest {
    /// Always [`GRANT_AUTHORIZATION_CODE`].
    pub grant_type: String,
    /// Hex SHA-256 of `client_id:secret` (credential-equivalent, so a [`SecretString`]).
    #[serde(rename = "appIdHash", serialize_with = "expose::secret")]
    pub app_id_hash: SecretString,
    /// The `auth_code` from the login redirect.
    #[serde(serialize_with = "expose::secret")]
    pub code: SecretString,
}

/// `POST /api/v3/validate-authcode` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ValidateAuthcodeResponse {
    /// Status fields.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The access token (a JWT; combine with the app id as `APPID:JWT`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose::optional"
    )]
    pub access_token: Option<SecretString>,
    /// The refresh token (about 15 days, needs the PIN to use).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose::optional"
    )]
    pub refresh_token: Option<SecretString>,
}

/// Query parameters of the login redirect (spec §10.4 step 1; reported shape
/// `?s=ok&code=200&auth_code=…&state=…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthCallbackQuery {
    /// `ok` on success.
    #[serde(default)]
    pub s: Option<String>,
    /// Status code as text.
    #[serde(default)]
    pub code: Option<String>,
    /// The auth code to exchange.
    #[serde(default, serialize_with = "expose::optional")]
    pub auth_code: Option<SecretString>,
    /// The `state` sent with the login URL (check it).
    #[serde(default)]
    pub state: Option<String>,
    /// Error text, if any.
    #[serde(default)]
    pub message: Option<String>,
}

/// The one way a credential gets into a serialised body: named by each field that carries one
/// (`serialize_with`), since [`SecretString`] itself has no `Serialize`. Never use these on
/// anything that is logged.
mod expose {
    use super::{ExposeSecret, SecretString, Serializer};

    pub(super) fn secret<S: Serializer>(
        secret: &SecretString,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose_secret())
    }

    pub(super) fn optional<S: Serializer>(
        secret: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_some(secret.expose_secret()),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
#[path = "models_tests.rs"]
mod tests;

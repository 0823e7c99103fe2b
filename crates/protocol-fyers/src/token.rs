//! The Fyers access token (spec §1.1): `APPID:JWT` (documented) or a bare JWT. Parsing reads
//! two claims from the JWT payload, exactly as the official client does, without checking the
//! signature: `exp` (expiry, epoch seconds) and `hsm_key` (the data socket's only credential).
//! `iat` is read when present, for token-age reporting.
//!
//! The token, the JWT and the `hsm_key` are secrets: [`AccessToken`]'s `Debug` shows only the
//! app id and the times, and [`TokenError`] never quotes any part of the token (serde's error
//! text can quote JSON values, so only its category and position are kept).
//!
//! Choices: the app-id prefix is split at the first `:` when it comes before the first `.`
//! (JWT segments never contain `:`); the JWT must have exactly three `.`-separated segments (the
//! signature may be empty, as for test tokens); the payload may be base64url or standard base64,
//! padded or not (the official decoder accepts all of these); a fractional `exp` is floored;
//! an empty `hsm_key` is rejected early, since it could never authenticate.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD_INDIFFERENT, URL_SAFE_NO_PAD_INDIFFERENT};
use serde_json::Value;

use secrecy::{ExposeSecret, SecretString};

/// Longest token accepted (real ones are about 1 KiB); bounds work on hostile input.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A parsed access token.
#[derive(Clone)]
pub struct AccessToken {
    raw: SecretString,
    app_id: Option<String>,
    jwt: SecretString,
    expires_at: i64,
    issued_at: Option<i64>,
    hsm_key: SecretString,
}

/// Why a string is not a usable access token. Never contains any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing was given.
    #[error("the fyers access token is empty")]
    Empty,
    /// Longer than any real token.
    #[error("the fyers access token is {len} bytes, longer than any real token")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// `APPID:` with nothing before the colon.
    #[error("the fyers access token has an empty app id before ':'")]
    EmptyAppId,
    /// Not three `.`-separated segments.
    #[error("the fyers access token is not a JWT (expected APPID:header.payload.signature)")]
    NotAJwt,
    /// The payload segment is not base64.
    #[error("the fyers access token's JWT payload is not base64")]
    PayloadEncoding,
    /// The payload is not a JSON object.
    #[error(
        "the fyers access token's JWT payload is not JSON ({category} error at column {column})"
    )]
    PayloadJson {
        /// serde_json's error category.
        category: &'static str,
        /// Column of the error.
        column: usize,
    },
    /// A required claim is absent or of the wrong type.
    #[error("the fyers access token lacks a valid `{0}` claim")]
    Claim(&'static str),
}

impl AccessToken {
    /// Parses `APPID:JWT` or a bare JWT (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong { len: text.len() });
        }
        let first_dot = text.find('.').unwrap_or(text.len());
        let (app_id, jwt) = match text.find(':') {
            Some(colon) if colon < first_dot => {
                let (app_id, rest) = text.split_at(colon);
                if app_id.is_empty() {
                    return Err(TokenError::EmptyAppId);
                }
                (Some(app_id.to_owned()), rest.get(1..).unwrap_or(""))
            }
            _ => (None, text),
        };
        let mut segments = jwt.split('.');
        let (Some(header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(TokenError::NotAJwt);
        };
        if header.is_empty() || payload.is_empty() {
            return Err(TokenError::NotAJwt);
        }
        let claims = decode_payload(payload)?;
        let expires_at = number_claim(&claims, "exp").ok_or(TokenError::Claim("exp"))?;
        let issued_at = number_claim(&claims, "iat");
        let hsm_key = match claims.get("hsm_key") {
            Some(Value::String(key)) if !key.is_empty() => SecretString::from(key.as_str()),
            _ => return Err(TokenError::Claim("hsm_key")),
        };
        Ok(Self {
            raw: SecretString::from(text),
            app_id,
            jwt: SecretString::from(jwt),
            expires_at,
            issued_at,
            hsm_key,
        })
    }

    /// The `APPID` prefix, when the token had one (e.g. `TESTAPP-100`).
    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    /// The token exactly as given (trimmed): what to persist.
    pub fn expose(&self) -> &str {
        self.raw.expose_secret()
    }

    /// The JWT without the app-id prefix (the symbol-token call's `Authorization`).
    pub fn jwt(&self) -> &SecretString {
        &self.jwt
    }

    /// The `hsm_key` claim: the data socket's credential.
    pub fn hsm_key(&self) -> &SecretString {
        &self.hsm_key
    }

    /// The `exp` claim, epoch seconds.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The `iat` claim, epoch seconds, if present.
    pub fn issued_at(&self) -> Option<i64> {
        self.issued_at
    }

    /// Expired at `now` (epoch seconds)? As in the official client, a token is still usable in
    /// the second it expires (`exp − now < 0` means expired).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at < now
    }

    /// Seconds until expiry at `now` (negative once expired).
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.expires_at.saturating_sub(now)
    }

    /// The REST `Authorization` value `<app_id>:<jwt>` (spec §10.1).
    pub fn rest_authorization(&self, app_id: &str) -> SecretString {
        SecretString::from(format!("{app_id}:{}", self.jwt.expose_secret()))
    }
}

/// Every other field is read from the raw token, so equal raw tokens are equal tokens. Not an
/// authentication check, so not constant-time.
impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("app_id", &self.app_id)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

fn decode_payload(payload: &str) -> Result<serde_json::Map<String, Value>, TokenError> {
    let payload = payload.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(payload)
        .or_else(|_| STANDARD_NO_PAD_INDIFFERENT.decode(payload))
        .map_err(|_| TokenError::PayloadEncoding)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(_) => Err(TokenError::PayloadJson {
            category: "not an object",
            column: 0,
        }),
        Err(err) => Err(TokenError::PayloadJson {
            category: match err.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "eof",
            },
            column: err.column(),
        }),
    }
}

/// An integer claim; floats are floored, anything else is absent.
fn number_claim(claims: &serde_json::Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value.as_i64().or_else(|| {
        let float = value.as_f64()?.floor();
        // `as` saturates; the range check rejects values that would be clamped.
        (float.is_finite() && float.abs() < 9.0e18).then_some(float as i64)
    })
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;

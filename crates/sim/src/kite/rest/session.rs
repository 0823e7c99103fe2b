//! `POST /session/token` (exchange a request token for an access token, checksum checked) and
//! `DELETE /session/token` (logout), kite.md §8.2.

use super::envelope::{KiteError, success};
use super::profile::user_fields;
use crate::auth::{RedeemError, checksum, constant_time_eq};
use crate::clock::kite_timestamp;
use crate::registry::lock;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::info;

fn pairs(raw: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        map.entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    map
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, KiteError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KiteError::input(format!("Missing or empty `{name}`.")))
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(crate) async fn create(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match exchange(&shared, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn exchange(shared: &Shared, body: &[u8]) -> Result<Response, KiteError> {
    let form = pairs(body);
    let api_key = required(&form, "api_key")?;
    let request_token = required(&form, "request_token")?;
    let sum = required(&form, "checksum")?;
    if api_key != shared.cfg.api_key {
        info!("session exchange refused: unknown api_key");
        return Err(KiteError::token("Invalid `api_key`."));
    }
    let expected = checksum(api_key, request_token, &shared.cfg.api_secret);
    // Checked before the token is consumed, so a client with a wrong secret cannot burn it.
    if !constant_time_eq(&expected, &sum.to_ascii_lowercase()) {
        info!("session exchange refused: checksum mismatch");
        return Err(KiteError::token("Invalid `checksum`."));
    }
    let mut tokens = lock(&shared.tokens);
    if let Err(reason) = tokens.redeem_request(request_token, Instant::now()) {
        let why = match reason {
            RedeemError::Unknown => "unknown or already used",
            RedeemError::Expired => "expired",
        };
        info!(reason = why, "session exchange refused: bad request token");
        return Err(KiteError::token("Token is invalid or has expired."));
    }
    let (id, access_token) = tokens.mint_access();
    drop(tokens);
    info!(token_id = id, "access token issued by session exchange");
    let mut data = user_fields(&shared.cfg.user_id);
    data.insert("api_key".into(), json!(api_key));
    data.insert("access_token".into(), json!(access_token.expose_secret()));
    data.insert("public_token".into(), json!(random_string(32)));
    data.insert("enctoken".into(), json!(random_string(64)));
    data.insert("refresh_token".into(), json!(""));
    data.insert("silo".into(), json!(""));
    data.insert(
        "login_time".into(),
        json!(kite_timestamp(shared.clock.now())),
    );
    Ok(success(Value::Object(data)))
}

/// Logout: invalidates `access_token` (query parameters, as pykiteconnect sends them).
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let form = pairs(query.unwrap_or_default().as_bytes());
    let result = (|| {
        let api_key = required(&form, "api_key")?;
        let access_token = required(&form, "access_token")?;
        if api_key != shared.cfg.api_key {
            return Err(KiteError::token("Invalid `api_key`."));
        }
        if lock(&shared.tokens).revoke(access_token) {
            info!("access token revoked by logout");
        }
        Ok(success(Value::Bool(true)))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_keep_the_first_value_and_decode() {
        let form = pairs(b"api_key=k&request_token=a%2Bb&checksum=c&api_key=other");
        assert_eq!(required(&form, "api_key").unwrap(), "k");
        assert_eq!(required(&form, "request_token").unwrap(), "a+b");
        assert!(required(&form, "missing").is_err());
        let empty = pairs(b"checksum=");
        assert_eq!(
            required(&empty, "checksum").unwrap_err().status,
            axum::http::StatusCode::BAD_REQUEST
        );
    }
}

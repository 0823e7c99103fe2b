//! Fyers' JSON envelopes and REST authorization: `{"s":"error","code":…,"message":…}` with a
//! matching HTTP status (the official client returns the body as is; feedgate's client reads
//! both), and the `Authorization` forms the official client sends (spec §10.1, §2.1):
//! `APPID:JWT` on account and data calls, the bare JWT on symbol-token.

use crate::fyers::tokens::{Accepted, Rejected};
use crate::registry::lock;
use crate::shared::Shared;
use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::debug;

/// A Fyers API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FyersError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl FyersError {
    pub(crate) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401, −16: a missing, unknown, expired or invalidated token (spec §10.1).
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            -16,
            "Could not authenticate the user",
        )
    }

    /// 400 with Fyers' generic "invalid input" code.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, -50, message)
    }

    /// 429: over the API rate limit.
    pub(crate) fn rate_limited() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 429, "request limit reached")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, -404, "Not found")
    }
}

impl IntoResponse for FyersError {
    fn into_response(self) -> Response {
        let body = json!({"s": "error", "code": self.code, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

/// HTTP 200 with `{"s":"ok","code":200,"message":""}` plus `extra`'s fields.
pub(crate) fn ok(extra: Value) -> Response {
    let mut body = json!({"s": "ok", "code": 200, "message": ""});
    if let (Value::Object(map), Value::Object(extra)) = (&mut body, extra) {
        map.extend(extra);
    }
    Json(body).into_response()
}

/// Which `Authorization` forms an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthForm {
    /// `APPID:JWT` only (profile, quotes).
    AppToken,
    /// The bare JWT, or `APPID:JWT` (symbol-token; third parties send the latter).
    JwtOrAppToken,
}

/// Checks the request's token; the app id, when present, must be the simulator's.
pub(crate) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    form: AuthForm,
) -> Result<Accepted, FyersError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(FyersError::unauthenticated)?;
    let first_dot = value.find('.').unwrap_or(value.len());
    let (app_id, jwt) = match value.find(':') {
        Some(colon) if colon < first_dot => (Some(&value[..colon]), &value[colon + 1..]),
        _ => (None, value),
    };
    match (app_id, form) {
        (Some(app), _) if app != shared.cfg.fyers_app_id => {
            debug!("fyers rest call refused: unknown app id");
            return Err(FyersError::unauthenticated());
        }
        (None, AuthForm::AppToken) => {
            debug!("fyers rest call refused: authorization without the app id");
            return Err(FyersError::unauthenticated());
        }
        _ => {}
    }
    let now = shared.clock.now().timestamp();
    lock(&shared.fyers.tokens)
        .check_jwt(jwt, now)
        .map_err(|reason: Rejected| {
            debug!(reason = ?reason, "fyers rest call refused: bad token");
            FyersError::unauthenticated()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_body_and_status_match() {
        let response = FyersError::unauthenticated().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"s":"error","code":-16,"message":"Could not authenticate the user"})
        );
    }

    #[tokio::test]
    async fn ok_merges_fields() {
        let response = ok(json!({"d": [1]}));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"s":"ok","code":200,"message":"","d":[1]}));
    }
}

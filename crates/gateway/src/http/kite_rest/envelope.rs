//! Kite's REST envelopes as feedgate answers them: `{"status":"success","data":…}` and
//! `{"status":"error","message":…,"error_type":…,"data":null}`, always with the HTTP status Kite
//! pairs with the error type (pykiteconnect decides by `error_type`, gokiteconnect by status).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use feedgate_kite::{ErrorEnvelope, ErrorType};

/// A Kite-shaped refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KiteFail {
    pub error_type: ErrorType,
    pub message: String,
    /// Overrides the type's usual status (429 for the wrong-key back-off).
    status: Option<StatusCode>,
    retry_after_s: Option<u64>,
}

/// Kite's own text for a refused credential; the same whether the key id exists or not.
pub const BAD_CREDENTIALS: &str = "Incorrect `api_key` or `access_token`.";

impl KiteFail {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
            status: None,
            retry_after_s: None,
        }
    }

    /// 400 `InputException`.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InputException, message)
    }

    /// 403 `TokenException`: pykiteconnect's session-expiry hook fires on exactly this.
    pub fn token() -> Self {
        Self::new(ErrorType::TokenException, BAD_CREDENTIALS)
    }

    /// 503 `NetworkException`: the broker (Kite's "OMS") could not be reached in time.
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorType::NetworkException, message)
    }

    /// 429 `NetworkException`, with `Retry-After`: what Kite itself sends when rate limited
    /// ("Too many requests"), so code that already retries Kite's 429s handles ours.
    pub fn rate_limited(message: impl Into<String>, retry_after_s: u64) -> Self {
        Self {
            status: Some(StatusCode::TOO_MANY_REQUESTS),
            retry_after_s: Some(retry_after_s),
            ..Self::new(ErrorType::NetworkException, message)
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.error_type.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }
}

impl IntoResponse for KiteFail {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.retry_after_s;
        let body = ErrorEnvelope::new(self.error_type, self.message);
        let mut r = (status, axum::Json(body)).into_response();
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<crate::hub::HubClosed> for KiteFail {
    fn from(_: crate::hub::HubClosed) -> Self {
        Self::network("feedgate is shutting down")
    }
}

/// A success answer whose `data` is already JSON text (prices are written as exact decimals,
/// so the body is built as text rather than through `f64`s).
pub fn success(data_json: &str) -> Response {
    let mut body = String::with_capacity(data_json.len() + 32);
    body.push_str(r#"{"status":"success","data":"#);
    body.push_str(data_json);
    body.push('}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, serde_json::Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_carry_kites_shape_and_status() {
        let cases = [
            (KiteFail::input("bad"), 400, "InputException"),
            (KiteFail::token(), 403, "TokenException"),
            (
                KiteFail::new(ErrorType::PermissionException, "no"),
                403,
                "PermissionException",
            ),
            (KiteFail::network("down"), 503, "NetworkException"),
            (KiteFail::rate_limited("slow", 3), 429, "NetworkException"),
        ];
        for (fail, status, kind) in cases {
            let msg = fail.message.clone();
            let (got, v) = body(fail.into_response()).await;
            assert_eq!(got.as_u16(), status, "{kind}");
            assert_eq!(
                v,
                serde_json::json!({"status": "error", "message": msg, "error_type": kind, "data": null})
            );
        }
        let r = KiteFail::rate_limited("slow", 3).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }

    #[tokio::test]
    async fn success_wraps_the_data() {
        let r = success(r#"{"NSE:INFY":{"last_price":1.5}}"#);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let (status, v) = body(r).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["data"]["NSE:INFY"]["last_price"], 1.5);
        assert_eq!(v["status"], "success");
    }
}

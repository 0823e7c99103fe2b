//! Kite's JSON envelopes: `{"status":"success","data":…}` and the error body
//! `{"status":"error","message":…,"error_type":…,"data":null}`, always paired with the matching
//! HTTP status (the Python client looks at the body, the Go client at the status).

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A Kite API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KiteError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
}

impl KiteError {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    /// 403: the text every client shows for a bad or expired session.
    pub(crate) fn bad_credentials() -> Self {
        Self::token("Incorrect `api_key` or `access_token`.")
    }

    pub(crate) fn token(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "TokenException", message)
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InputException", message)
    }

    pub(crate) fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "NetworkException",
            "Too many requests",
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "GeneralException", "Route not found")
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "GeneralException",
            "Method not allowed",
        )
    }
}

impl IntoResponse for KiteError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": "error",
            "message": self.message,
            "error_type": self.error_type,
            "data": Value::Null,
        });
        (self.status, Json(body)).into_response()
    }
}

/// HTTP 200 with `{"status":"success","data":data}`.
pub(crate) fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// The api_key of a valid `Authorization: token api_key:access_token` header.
pub(crate) fn authorize(
    headers: &HeaderMap,
    valid: impl Fn(&str, &str) -> bool,
) -> Result<String, KiteError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(KiteError::bad_credentials)?;
    let (scheme, credentials) = value
        .trim()
        .split_once(' ')
        .ok_or_else(KiteError::bad_credentials)?;
    if !scheme.eq_ignore_ascii_case("token") {
        return Err(KiteError::bad_credentials());
    }
    let (api_key, access_token) = credentials
        .trim()
        .split_once(':')
        .ok_or_else(KiteError::bad_credentials)?;
    if valid(api_key, access_token) {
        Ok(api_key.to_owned())
    } else {
        Err(KiteError::bad_credentials())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn authorization_header_forms() {
        let valid = |k: &str, t: &str| k == "key" && t == "tok";
        let cases = [
            (Some("token key:tok"), true),
            (Some("Token key:tok"), true),
            (Some("token key:bad"), false),
            (Some("bearer key:tok"), false),
            (Some("token keytok"), false),
            (Some("tokenkey:tok"), false),
            (None, false),
        ];
        for (value, ok) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            }
            let result = authorize(&headers, valid);
            assert_eq!(result.is_ok(), ok, "{value:?}");
            if let Err(e) = result {
                assert_eq!(e, KiteError::bad_credentials());
            }
        }
    }

    #[tokio::test]
    async fn error_body_and_status_match() {
        let response = KiteError::bad_credentials().into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"status":"error","message":"Incorrect `api_key` or `access_token`.",
                   "error_type":"TokenException","data":null})
        );
    }
}

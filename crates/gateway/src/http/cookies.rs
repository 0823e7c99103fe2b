//! The cookies feedgate sets: the dashboard's session cookie and the broker login's binding
//! cookie; reading them from a request and writing `Set-Cookie` values.

use crate::http::AppState;
use axum::http::{HeaderMap, HeaderValue, header};

/// The session cookie's name.
pub const COOKIE: &str = "feedgate_session";
/// The login-binding cookie's name (see [`crate::access::sessions`]).
pub const LOGIN_COOKIE: &str = "feedgate_login";

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session id a request carries.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// A `Set-Cookie` value: `HttpOnly` always, `Secure` when browsers reach feedgate over https.
pub fn set_cookie(app: &AppState, name: &str, value: &str, attrs: &str) -> Option<HeaderValue> {
    let secure = if app.access().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!("{name}={value}; HttpOnly{secure}; {attrs}")).ok()
}

//! The login flow and on-demand token verification:
//! `GET /api/login` → the broker's login page (with a one-time `state`),
//! `GET /api/auth/callback` → exchange the request token (Kite: `status=success&request_token=…`;
//! Fyers: `s=ok&auth_code=…`), store the access token, reconnect, back to `/` (the broker's check
//! of the new token follows the redirect; the dashboard shows it `refreshing` until then);
//! `POST /api/system/health/auth/verify` → check the token now (the answer of a check made less
//! than [`VERIFY_CACHE`](crate::auth::task::VERIFY_CACHE) ago is reused, so a flood costs one
//! broker call).
//!
//! A forged, missing or reused state, a failed exchange or a non-success status answers with
//! an error page that says what to do, and changes nothing.

use crate::auth::VerifyResult;
use crate::brokers::BrokerError;
use crate::http::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

pub async fn login(State(app): State<AppState>) -> Response {
    let state = app.auth().logins.issue();
    let url = app.broker().login_url(&state);
    found(&url)
}

/// `302 Found` (DESIGN.md §5; axum's `Redirect::to` would answer 303), never cached: the
/// login redirect carries a one-time state.
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(loc) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, loc),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "The broker login URL is not a valid header value; check KITE_LOGIN_URL or FYERS_LOGIN_URL.",
        ),
    }
}

/// The redirect's query: Kite's or Fyers' fields (the other broker's are simply absent).
#[derive(Debug, Deserialize)]
pub struct Callback {
    /// Kite: `success`.
    status: Option<String>,
    /// Kite's one-time request token.
    request_token: Option<String>,
    /// Fyers: `ok`.
    s: Option<String>,
    /// Fyers' one-time auth code.
    auth_code: Option<String>,
    state: Option<String>,
}

impl Callback {
    fn succeeded(&self) -> bool {
        self.status.as_deref() == Some("success") || self.s.as_deref() == Some("ok")
    }
}

pub async fn callback(State(app): State<AppState>, Query(q): Query<Callback>) -> Response {
    if let Err(e) = app.auth().logins.consume(q.state.as_deref()) {
        tracing::warn!(reason = %e, "login callback rejected: bad state");
        return error_page(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            &e.to_string(),
        );
    }
    if !q.succeeded() {
        tracing::warn!(status = ?q.status.as_ref().or(q.s.as_ref()), "login callback without success status");
        return error_page(
            StatusCode::BAD_REQUEST,
            "The broker did not complete the login",
            "The login was cancelled or failed at the broker.",
        );
    }
    let code = q.request_token.or(q.auth_code);
    let Some(request_token) = code.filter(|t| !t.trim().is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The broker did not send a request token",
            "The redirect from the broker had no request_token (Kite) or auth_code (Fyers).",
        );
    };
    let grant = match app.broker().exchange(request_token).await {
        Ok(g) => g,
        Err(e) => return exchange_failed(&app, &e),
    };
    if let Err(e) = app.auth().store_grant(grant).await {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Login could not be saved",
            &e.to_string(),
        );
    }
    found("/")
}

/// The broker would not turn the login code into a token: says whether to check the app secret
/// (a refusal) or try again (the broker was unreachable).
fn exchange_failed(app: &AppState, e: &BrokerError) -> Response {
    tracing::warn!(error = %e, "request token exchange failed");
    let detail = if e.is_auth() {
        let secret = match app.broker().name() {
            "fyers" => "FYERS_SECRET_ID",
            _ => "ZERODHA_API_SECRET",
        };
        format!(
            "The broker refused the login code (it is single-use and short-lived) or the app secret is wrong. Check {secret}."
        )
    } else {
        format!("Could not reach the broker to finish the login: {e}.")
    };
    error_page(
        StatusCode::BAD_GATEWAY,
        "Login could not be completed",
        &detail,
    )
}

pub async fn verify(State(app): State<AppState>) -> Json<VerifyResult> {
    Json(app.auth().verify().await)
}

/// A small self-contained HTML page. Only fixed text and our own messages go in (escaped), never
/// request parameters.
fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>feedgate: {t}</title>\
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}\
a.button{{display:inline-block;background:#0b57d0;color:#fff;padding:.5rem 1rem;border-radius:.4rem;text-decoration:none}}</style>\
</head><body><main><h1>{t}</h1><p>{d}</p>\
<p><a class=\"button\" href=\"/api/login\">Log in again</a> &nbsp; <a href=\"/\">Back to the dashboard</a></p>\
</main></body></html>",
        t = escape(title),
        d = escape(detail)
    );
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

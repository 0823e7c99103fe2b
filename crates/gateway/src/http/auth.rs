//! The login flow and on-demand token verification:
//! `GET /api/login` → the broker's login page (with a one-time `state`),
//! `GET /api/auth/callback` → exchange the request token (Kite: `status=success&request_token=…`;
//! Fyers: `s=ok&auth_code=…`), store the access token, reconnect, back to `/` (the broker's check
//! of the new token follows the redirect; the dashboard shows it `refreshing` until then);
//! `POST /api/system/health/auth/verify` → check the token now (the answer of a check made less
//! than [`VERIFY_CACHE`](crate::auth::task::VERIFY_CACHE) ago is reused, so a flood costs one
//! broker call).
//!
//! A forged, missing or reused state, a malformed code, a failed exchange or a non-success
//! status answers with an error page that says what to do, and changes nothing. Refused
//! callbacks count against their address (it must wait after a few), are logged once per
//! kind and summarised at the next login; one request token is exchanged at a time.
//!
//! With access control on, `/api/login` needs an admin's dashboard session and the state it
//! issues is bound to that session ([`crate::access::sessions`]); the callback needs the
//! matching login cookie rather than the session cookie, which the broker's cross-site
//! redirect does not carry.

use crate::auth::VerifyResult;
use crate::brokers::BrokerError;
use crate::config::AuthMode;
use crate::http::access::ClientIp;
use crate::http::{AppState, cookies};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use tokio::time::Instant;

/// `GET /api/login` (admin). With access control on, the login's state is bound to the admin's
/// dashboard session through a `SameSite=Lax` login cookie (the broker's redirect back is a
/// cross-site navigation, which carries no `Strict` cookie); one pending login per session.
pub async fn login(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if app.access().mode == AuthMode::Off {
        let state = app.auth().logins.issue();
        return found(&app.broker().login_url(&state));
    }
    let started = cookies::cookie_id(&headers)
        .and_then(|id| app.access().sessions.begin_login(&id, Instant::now()));
    let Some((state, binding)) = started else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Sign in to the dashboard first",
            "The broker login belongs to a signed-in dashboard session: sign in on the dashboard with an admin key, then start the login there.",
        );
    };
    let mut resp = found(&app.broker().login_url(&state));
    let ttl = crate::access::sessions::LOGIN_TTL.as_secs();
    let attrs = format!("SameSite=Lax; Path=/api/auth/callback; Max-Age={ttl}");
    if let Some(v) = cookies::set_cookie(&app, cookies::LOGIN_COOKIE, &binding, &attrs) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
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

pub async fn callback(
    State(app): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let access = app.access();
    if let Some(ip) = ip
        && let Err(wait) = access.callback_failures.check(ip, Instant::now())
    {
        let detail = format!(
            "Too many refused login attempts from this address; try again in {} s.",
            wait.as_secs().max(1)
        );
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many login attempts",
            &detail,
        );
    }
    let request_token = match check_callback(&app, &headers, &q) {
        Ok(t) => t,
        Err(refusal) => return refused_callback(&app, ip, refusal),
    };
    let Ok(_exchanging) = access.exchange.try_lock() else {
        return error_page(
            StatusCode::CONFLICT,
            "A login is being completed already",
            "Another login is being exchanged with the broker right now; wait a moment and reload the dashboard.",
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
    login_done(&app)
}

/// The login went through: summarise the callbacks refused before it, drop the login cookie,
/// back to the dashboard.
fn login_done(app: &AppState) -> Response {
    let access = app.access();
    let refused = access
        .bad_callbacks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    if let Some(n) = refused.filter(|n| *n > 0) {
        tracing::info!(
            suppressed = n,
            "login completed; refused callbacks before it were not all logged"
        );
    }
    let mut resp = found("/");
    if access.mode == AuthMode::Keys
        && let Some(v) = cookies::set_cookie(
            app,
            cookies::LOGIN_COOKIE,
            "",
            "SameSite=Lax; Path=/api/auth/callback; Max-Age=0",
        )
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Why a callback was refused: what to log (a fixed kind) and what to show.
struct Refusal {
    kind: &'static str,
    title: &'static str,
    detail: String,
}

/// The callback's state (bound to the browser's login when access control is on), the broker's
/// success status and a well-formed code, checked before the broker is called.
fn check_callback(app: &AppState, headers: &HeaderMap, q: &Callback) -> Result<String, Refusal> {
    let state_ok = match app.access().mode {
        AuthMode::Off => app
            .auth()
            .logins
            .consume(q.state.as_deref())
            .map_err(|e| e.to_string()),
        AuthMode::Keys => match q.state.as_deref().filter(|s| !s.is_empty()) {
            None => Err(crate::auth::login::StateError::Missing.to_string()),
            Some(state) => {
                let binding = cookies::cookie(headers, cookies::LOGIN_COOKIE);
                app.access()
                    .sessions
                    .finish_login(binding.as_deref(), state, Instant::now())
                    .map_err(|e| e.to_string())
            }
        },
    };
    if let Err(detail) = state_ok {
        return Err(Refusal {
            kind: "bad state",
            title: "This login link is not valid",
            detail,
        });
    }
    if !q.succeeded() {
        return Err(Refusal {
            kind: "no success status",
            title: "The broker did not complete the login",
            detail: "The login was cancelled or failed at the broker.".into(),
        });
    }
    let code = q
        .request_token
        .as_deref()
        .or(q.auth_code.as_deref())
        .unwrap_or("");
    if code.trim().is_empty() {
        return Err(Refusal {
            kind: "no request token",
            title: "The broker did not send a request token",
            detail:
                "The redirect from the broker had no request_token (Kite) or auth_code (Fyers)."
                    .into(),
        });
    }
    if !valid_code(app.broker().name(), code) {
        return Err(Refusal {
            kind: "malformed request token",
            title: "The broker's login code is not valid",
            detail: "The request_token (Kite) or auth_code (Fyers) has characters or a length the broker never sends; start the login again.".into(),
        });
    }
    Ok(code.to_string())
}

/// Whether a login code has the broker's shape: Kite's request token is alphanumeric (32
/// characters in practice; up to 64 accepted), Fyers' auth code a JWT (base64url segments
/// joined by dots). Checked so junk never reaches the broker.
pub fn valid_code(broker: &str, code: &str) -> bool {
    let (max, extra): (usize, &[u8]) = match broker {
        "fyers" => (4096, b"._-"),
        _ => (64, b""),
    };
    !code.is_empty()
        && code.len() <= max
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Counts a refused callback against its address, logs the first of each kind (the rest are
/// summarised when a login succeeds), and shows the error page.
fn refused_callback(app: &AppState, ip: Option<std::net::IpAddr>, r: Refusal) -> Response {
    if let Some(ip) = ip {
        app.access().callback_failures.failed(ip, Instant::now());
    }
    let first = app
        .access()
        .bad_callbacks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .occur(r.kind);
    if first {
        tracing::warn!(reason = r.kind, detail = %r.detail, client_ip = ?ip, "login callback refused (repeats are counted, not logged)");
    }
    error_page(StatusCode::BAD_REQUEST, r.title, &r.detail)
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

#[cfg(test)]
mod tests {
    use super::valid_code;

    #[test]
    fn login_codes_have_the_brokers_shape() {
        assert!(valid_code("kite", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"));
        assert!(!valid_code("kite", "abc-def"));
        assert!(!valid_code("kite", &"a".repeat(65)));
        assert!(!valid_code("kite", "<script>"));
        assert!(!valid_code("kite", ""));
        assert!(valid_code("fyers", "eyJhbGciOi.eyJzdWIiOi-_x.c2ln"));
        assert!(!valid_code("fyers", "a b"));
    }
}

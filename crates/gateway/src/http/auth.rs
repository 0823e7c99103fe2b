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
//!
//! In a cluster (DESIGN.md §9) the login completes on whichever node the redirect reaches: the
//! state and its binding live in Redis ([`crate::cluster::login_states`]; the binding, not the
//! session that started it, is what the callback proves there, since sessions are per node),
//! and a node that does not lead hands the code to the leader ([`crate::cluster::forward`]),
//! which alone exchanges it and shares the token with every node.

use crate::access::sessions::LoginStateError;
use crate::auth::VerifyResult;
use crate::auth::exchange::{LoginFailure, complete};
use crate::auth::login::StateError;
use crate::cluster::forward::{self, ForwardError};
use crate::cluster::login_states;
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
        if let Err(page) = remember_in_cluster(&app, &state, None).await {
            return page;
        }
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
    if let Err(page) = remember_in_cluster(&app, &state, Some(&binding)).await {
        return page;
    }
    let mut resp = found(&app.broker().login_url(&state));
    let ttl = crate::access::sessions::LOGIN_TTL.as_secs();
    let attrs = format!("SameSite=Lax; Path=/api/auth/callback; Max-Age={ttl}");
    if let Some(v) = cookies::set_cookie(&app, cookies::LOGIN_COOKIE, &binding, &attrs) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// In a cluster, the login's state (and binding) go to Redis, so the callback verifies on
/// whichever node the broker's redirect reaches.
async fn remember_in_cluster(
    app: &AppState,
    state: &str,
    binding: Option<&str>,
) -> Result<(), Response> {
    let Some(c) = app.health().cluster.as_ref() else {
        return Ok(());
    };
    let ttl = crate::access::sessions::LOGIN_TTL;
    login_states::remember(&c.login, state, binding, ttl)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot record a login in Redis");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The login cannot start",
                &format!("Redis does not answer ({e}), and in a cluster the login is recorded there so that any node can complete it. Try again in a minute."),
            )
        })
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
    let checked = match check_state(&app, &headers, &q).await {
        Ok(()) => check_code(&app, &q),
        Err(r) => Err(r),
    };
    let request_token = match checked {
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
    match exchange(&app, request_token).await {
        Ok(()) => login_done(&app),
        Err(page) => page,
    }
}

/// Exchanges the code here (role `all`, or the cluster's leader) or hands it to the leader.
async fn exchange(app: &AppState, code: String) -> Result<(), Response> {
    let forward_to_leader = app
        .health()
        .cluster
        .as_ref()
        .filter(|c| !*c.leading.borrow());
    let Some(c) = forward_to_leader else {
        return complete(app.broker().as_ref(), app.auth(), code)
            .await
            .map_err(|e| {
                let status = match e {
                    LoginFailure::NotSaved(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_GATEWAY,
                };
                error_page(status, "Login could not be completed", &e.to_string())
            });
    };
    let code = secrecy::SecretString::from(code);
    let now = app.clock().now();
    forward::ask(&c.login, &c.node, &code, now, forward::WAIT)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "a login handed to the leader did not complete");
            let (status, title) = match e {
                ForwardError::Failed(_) => {
                    (StatusCode::BAD_GATEWAY, "Login could not be completed")
                }
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "No leader to complete the login",
                ),
            };
            error_page(status, title, &e.to_string())
        })
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

/// The callback's state: issued here (role `all`) or by any node (a cluster, through Redis),
/// and bound to the browser's login when access control is on.
async fn check_state(app: &AppState, headers: &HeaderMap, q: &Callback) -> Result<(), Refusal> {
    let refusal = |detail: String| Refusal {
        kind: "bad state",
        title: "This login link is not valid",
        detail,
    };
    let keys = app.access().mode == AuthMode::Keys;
    let binding = cookies::cookie(headers, cookies::LOGIN_COOKIE).filter(|_| keys);
    if let Some(c) = app.health().cluster.as_ref() {
        let state = q.state.as_deref().filter(|s| !s.is_empty());
        let state = state.ok_or_else(|| refusal(StateError::Missing.to_string()))?;
        if keys && binding.is_none() {
            return Err(refusal(LoginStateError::NotBound.to_string()));
        }
        return login_states::consume(&c.login, state, binding.as_deref())
            .await
            .map_err(|e| refusal(e.to_string()));
    }
    let state_ok = match app.access().mode {
        AuthMode::Off => app
            .auth()
            .logins
            .consume(q.state.as_deref())
            .map_err(|e| e.to_string()),
        AuthMode::Keys => match q.state.as_deref().filter(|s| !s.is_empty()) {
            None => Err(StateError::Missing.to_string()),
            Some(state) => app
                .access()
                .sessions
                .finish_login(binding.as_deref(), state, Instant::now())
                .map_err(|e| e.to_string()),
        },
    };
    state_ok.map_err(refusal)
}

/// The broker's success status and a well-formed code, checked before the broker is called.
fn check_code(app: &AppState, q: &Callback) -> Result<String, Refusal> {
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

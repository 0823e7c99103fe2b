//! The Fyers login flow (spec §10.4): the page at `GET /api/v3/generate-authcode?client_id=…
//! &redirect_uri=…&response_type=code&state=…` (an HTML form with the user id pre-filled and a
//! Login button), whose submission answers 302 to the app's registered redirect URL with
//! `s=ok&code=200&auth_code=…&state=…`; `POST /api/v3/validate-authcode` (checks
//! `appIdHash = sha256("<app_id>:<secret>")` and the single-use, five-minute auth code, and
//! returns an access token JWT with `exp` and `hsm_key` plus a refresh token); and
//! `POST /api/v3/validate-refresh-token` (refresh token + `appIdHash` + PIN → a new access
//! token). Only the configured app, its registered redirect URL and the one simulated user
//! are accepted.

use super::envelope::{FyersError, ok};
use crate::auth::constant_time_eq;
use crate::fyers::ttl_secs;
use crate::kite::login::{document, escape, params};
use crate::registry::lock;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use feedgate_fyers::rest::app_id_hash;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::info;

/// Where the form posts (the page's own path).
const FORM_PATH: &str = "/api/v3/generate-authcode";

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Login failed</h1>\n<p role=\"alert\">{}</p>",
        escape(message)
    );
    (
        status,
        Html(document("Login failed · feedgate simulator (Fyers)", &body)),
    )
        .into_response()
}

fn form(client_id: &str, redirect_uri: &str, state: &str, user_id: &str) -> String {
    let body = format!(
        "<h1>Fyers API (simulated)</h1>\n\
<p>Log in to <strong>{app}</strong> on the feedgate broker simulator.</p>\n\
<form method=\"post\" action=\"{FORM_PATH}\">\n\
<input type=\"hidden\" name=\"client_id\" value=\"{app}\">\n\
<input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect}\">\n\
<input type=\"hidden\" name=\"state\" value=\"{state}\">\n\
<label for=\"fy_id\">Fyers ID</label>\n\
<input id=\"fy_id\" name=\"fy_id\" type=\"text\" value=\"{user}\" autocomplete=\"username\" required>\n\
<button type=\"submit\">Login</button>\n\
</form>",
        app = escape(client_id),
        redirect = escape(redirect_uri),
        state = escape(state),
        user = escape(user_id),
    );
    document("Login · feedgate simulator (Fyers)", &body)
}

/// The app and redirect checks shared by the page and its submission; the error is what the
/// error page says.
fn check_app(shared: &Shared, q: &HashMap<String, String>) -> Result<(), &'static str> {
    let cfg = &shared.cfg;
    match q.get("client_id") {
        Some(id) if *id == cfg.fyers_app_id => {}
        Some(_) => return Err("Invalid client_id: no app is registered with this id."),
        None => return Err("The client_id parameter is required."),
    }
    match q.get("redirect_uri") {
        Some(uri) if *uri == cfg.fyers_redirect_url => Ok(()),
        Some(_) => Err("redirect_uri does not match the redirect URL registered for this app."),
        None => Err("The redirect_uri parameter is required."),
    }
}

pub(crate) async fn page(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let q = params(query.unwrap_or_default().as_bytes());
    if let Err(message) = check_app(&shared, &q) {
        return error_page(StatusCode::BAD_REQUEST, message);
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return error_page(StatusCode::BAD_REQUEST, "response_type must be \"code\".");
    }
    let state = q.get("state").map_or("", String::as_str);
    let cfg = &shared.cfg;
    Html(form(
        &cfg.fyers_app_id,
        &cfg.fyers_redirect_url,
        state,
        &cfg.user_id,
    ))
    .into_response()
}

pub(crate) async fn submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = params(&body);
    if let Err(message) = check_app(&shared, &form) {
        return error_page(StatusCode::BAD_REQUEST, message);
    }
    if form.get("fy_id").map(|u| u.trim()) != Some(shared.cfg.user_id.as_str()) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid Fyers ID: this simulator knows one user only.",
        );
    }
    // The redirect URL was validated when the simulator started.
    let Ok(mut target) = url::Url::parse(&shared.cfg.fyers_redirect_url) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The app's redirect URL is invalid.",
        );
    };
    let code = lock(&shared.fyers.tokens).issue_auth_code(Instant::now());
    target
        .query_pairs_mut()
        .append_pair("s", "ok")
        .append_pair("code", "200")
        .append_pair("auth_code", code.expose_secret())
        .append_pair("state", form.get("state").map_or("", String::as_str));
    info!("fyers login succeeded; redirecting with a fresh auth code");
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// The `validate-authcode` and `validate-refresh-token` bodies (missing fields are errors
/// reported with Fyers' codes, so every field is optional here).
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(rename = "appIdHash", default)]
    app_id_hash: Option<SecretString>,
    #[serde(default)]
    code: Option<SecretString>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    pin: Option<SecretString>,
}

fn parse(body: &[u8]) -> Result<TokenRequest, FyersError> {
    serde_json::from_slice(body)
        .map_err(|_| FyersError::input("Invalid request body: expected JSON"))
}

/// −371 when the hash is missing or wrong (checked before anything is consumed).
fn check_hash(shared: &Shared, given: Option<&SecretString>) -> Result<(), FyersError> {
    let Some(given) = given.filter(|h| !h.expose_secret().is_empty()) else {
        return Err(FyersError::new(
            StatusCode::BAD_REQUEST,
            -371,
            "Please provide sha256 hash of appId and app secret",
        ));
    };
    let cfg = &shared.cfg;
    let expected = app_id_hash(
        &cfg.fyers_app_id,
        &SecretString::from(cfg.fyers_secret.as_str()),
    );
    if constant_time_eq(
        expected.expose_secret(),
        &given.expose_secret().to_ascii_lowercase(),
    ) {
        Ok(())
    } else {
        info!("fyers token exchange refused: appIdHash mismatch");
        Err(FyersError::new(
            StatusCode::UNAUTHORIZED,
            -371,
            "Invalid appIdHash: sha256 of appId:appSecret does not match",
        ))
    }
}

pub(crate) async fn validate_authcode(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match exchange(&shared, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn exchange(shared: &Shared, body: &[u8]) -> Result<Response, FyersError> {
    let request = parse(body)?;
    if request.grant_type.as_deref() != Some("authorization_code") {
        return Err(FyersError::input(
            "grant_type must be \"authorization_code\"",
        ));
    }
    let Some(code) = request.code.filter(|c| !c.expose_secret().is_empty()) else {
        return Err(FyersError::new(
            StatusCode::BAD_REQUEST,
            -374,
            "Please provide authorization code.",
        ));
    };
    check_hash(shared, request.app_id_hash.as_ref())?;
    let now = Instant::now();
    if let Err(reason) = lock(&shared.fyers.tokens).redeem_auth_code(code.expose_secret(), now) {
        info!(reason = ?reason, "fyers token exchange refused: bad auth code");
        return Err(FyersError::new(
            StatusCode::BAD_REQUEST,
            -437,
            "Invalid auth code: unknown, already used or expired. Log in again.",
        ));
    }
    let cfg = &shared.cfg;
    let issued = shared.fyers.mint(cfg, &shared.clock, ttl_secs(cfg));
    let refresh =
        lock(&shared.fyers.tokens).mint_refresh(shared.clock.now().timestamp(), &cfg.user_id);
    info!(
        token_id = issued.id,
        "fyers access token issued by auth-code exchange"
    );
    Ok(ok(json!({
        "access_token": issued.jwt.expose_secret(),
        "refresh_token": refresh.expose_secret(),
    })))
}

pub(crate) async fn validate_refresh_token(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Response {
    match refresh(&shared, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn refresh(shared: &Shared, body: &[u8]) -> Result<Response, FyersError> {
    let request = parse(body)?;
    if request.grant_type.as_deref() != Some("refresh_token") {
        return Err(FyersError::input("grant_type must be \"refresh_token\""));
    }
    check_hash(shared, request.app_id_hash.as_ref())?;
    if request
        .pin
        .as_ref()
        .is_none_or(|pin| pin.expose_secret().is_empty())
    {
        return Err(FyersError::input("Please provide the PIN"));
    }
    let token = request.refresh_token.unwrap_or_default();
    let now = shared.clock.now().timestamp();
    if let Err(reason) = lock(&shared.fyers.tokens).check_refresh(token.expose_secret(), now) {
        info!(reason = ?reason, "fyers refresh refused: bad refresh token");
        return Err(FyersError::new(
            StatusCode::UNAUTHORIZED,
            -16,
            "Invalid or expired refresh token. Log in again.",
        ));
    }
    let cfg = &shared.cfg;
    let issued = shared.fyers.mint(cfg, &shared.clock, ttl_secs(cfg));
    info!(token_id = issued.id, "fyers access token issued by refresh");
    Ok(ok(json!({"access_token": issued.jwt.expose_secret()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_is_labelled_prefilled_and_escaped() {
        let html = form("APP-100", "http://x/cb?a=1&b=2", "s<1>", "FG0001");
        assert!(html.contains("<label for=\"fy_id\">Fyers ID</label>"));
        assert!(html.contains("value=\"FG0001\""));
        assert!(html.contains("value=\"http://x/cb?a=1&amp;b=2\""));
        assert!(html.contains("value=\"s&lt;1&gt;\""));
        assert!(html.contains("<button type=\"submit\">Login</button>"));
    }
}

//! The dashboard's sign-in: `POST /api/session` with `{"key":"KEY_ID:SECRET"}` sets an
//! `HttpOnly`, `SameSite=Strict` session cookie (`Secure` when `FEEDGATE_PUBLIC_URL` is https);
//! `DELETE /api/session` signs out; `GET /api/session` says whether access control is on and
//! who is signed in, so the page knows whether to show the form.

use crate::access::Presented;
use crate::access::shared::digest;
use crate::config::AuthMode;
use crate::http::AppState;
use crate::http::access::{Caller, client_ip, too_many_failures, unauthorized};
use crate::http::cookies::{COOKIE, cookie_id, set_cookie};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

#[derive(Debug, Deserialize)]
pub struct SignIn {
    key: String,
}

pub async fn sign_in(State(app): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&req);
    let body = axum::body::to_bytes(req.into_body(), 4096).await;
    let Some(p) = body
        .ok()
        .and_then(|b| serde_json::from_slice::<SignIn>(&b).ok())
        .and_then(|s| Presented::parse_pair(&s.key))
    else {
        return crate::http::ApiError::bad_request(
            "send {\"key\":\"KEY_ID:SECRET\"} as application/json",
        )
        .into_response();
    };
    let access = app.access();
    if access.mode == AuthMode::Off {
        return status_body(&Caller::Key(crate::access::Principal::open()), access.mode);
    }
    let principal = match access.check(ip, &p) {
        Ok(principal) => principal,
        Err(Some(wait)) => return too_many_failures(wait),
        Err(None) => return unauthorized(),
    };
    let id = access.sessions.create(principal.clone(), Instant::now());
    if let Some(shared) = &access.shared {
        // Not taken (Redis down): this node writes it back once Redis answers.
        shared
            .put(
                digest(&id),
                principal.key_id.clone(),
                crate::access::sessions::SESSION_TTL,
            )
            .await;
    }
    tracing::info!(key_id = %principal.key_id, "dashboard signed in");
    let mut r = status_body(&Caller::Key(principal), access.mode);
    let max_age = crate::access::sessions::SESSION_TTL.as_secs();
    let attrs = format!("SameSite=Strict; Path=/; Max-Age={max_age}");
    if let Some(v) = set_cookie(&app, COOKIE, &id, &attrs) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

pub async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_id(&headers) {
        let access = app.access();
        if let Some(shared) = &access.shared {
            shared
                .sign_out(digest(&id), crate::access::sessions::SESSION_TTL)
                .await;
        }
        access.sessions.remove(&id);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(v) = set_cookie(&app, COOKIE, "", "SameSite=Strict; Path=/; Max-Age=0") {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

pub async fn status(State(app): State<AppState>, req: Request) -> Response {
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Anonymous);
    status_body(&caller, app.access().mode)
}

fn status_body(caller: &Caller, mode: AuthMode) -> Response {
    let auth = match mode {
        AuthMode::Off => "off",
        AuthMode::Keys => "keys",
    };
    let body = match caller {
        Caller::Key(p) if mode == AuthMode::Keys => json!({"auth": auth, "signed_in": true,
            "key_id": &*p.key_id, "scopes": p.scopes.names()}),
        Caller::Key(p) => json!({"auth": auth, "signed_in": false, "scopes": p.scopes.names()}),
        Caller::Anonymous | Caller::Denied => {
            json!({"auth": auth, "signed_in": false, "scopes": []})
        }
    };
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

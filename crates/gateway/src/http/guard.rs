//! Request hygiene before any route (DESIGN.md §10): the `Host` check against DNS rebinding
//! (421), the `Origin` check for WebSocket upgrades and state-changing requests (403), no
//! cross-site "simple" requests that change state (415 unless JSON or a key header), CORS for
//! the origins in `FEEDGATE_ALLOWED_ORIGINS`, and `X-Content-Type-Options: nosniff` on every
//! answer. The decisions are in [`crate::access::origins`].

use crate::http::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let policy = &app.access().origins;
    let headers = req.headers();
    // HTTP/2 carries the host in `:authority` (the URI), not in a `Host` header.
    let authority = req.uri().authority().map(|a| a.as_str().to_string());
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(authority.as_deref());
    if let Some(h) = host
        && !policy.host_allowed(h)
    {
        tracing::debug!(host = h, "request for a host feedgate does not serve");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "this Host is not one feedgate serves; add it to FEEDGATE_PUBLIC_URL or FEEDGATE_ALLOWED_ORIGINS",
        );
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if let Some(o) = &origin
        && !policy.origin_allowed(o, host)
        && (changes_state || is_upgrade(headers) || req.method() == Method::OPTIONS)
    {
        tracing::debug!(origin = %o, path = req.uri().path(), "request from a disallowed origin");
        return refuse(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this page's origin may not use feedgate; list it in FEEDGATE_ALLOWED_ORIGINS",
        );
    }
    let cors = origin.filter(|o| policy.cors_allowed(o));
    if req.method() == Method::OPTIONS
        && let Some(o) = &cors
    {
        return preflight(o);
    }
    if changes_state && !is_json(headers) && !headers.contains_key(header::AUTHORIZATION) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "requests that change state need Content-Type: application/json or an Authorization header",
        );
    }
    let mut resp = next.run(req).await;
    if let Some(o) = cors
        && let Ok(v) = HeaderValue::from_str(&o)
    {
        resp.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// Adds `X-Content-Type-Options: nosniff` to every answer (the outermost layer).
pub async fn nosniff(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn is_upgrade(h: &HeaderMap) -> bool {
    h.get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn preflight(origin: &str) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    r
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

//! The login page at `/connect/login?api_key=…&v=3[&redirect_params=…]`: a small accessible
//! form (user id pre-filled, one Login button) whose submission answers 302 to the configured
//! redirect URL with `action=login&type=login&status=success&request_token=…` plus the decoded
//! `redirect_params` pairs, as Kite does (kite.md §8.2).

use crate::registry::lock;
use crate::shared::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::info;

/// `GET` shows the form, `POST` (its submission) redirects.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/connect/login", get(page).post(submit))
}

pub(crate) fn params(raw: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        map.entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d1d1f;\
margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);\
width:min(22rem,90vw)}h1{font-size:1.3rem;margin-top:0}label{display:block;font-weight:600;\
margin:1rem 0 .3rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;\
border:1px solid #767676;border-radius:4px}button{margin-top:1.2rem;width:100%;padding:.6rem;\
font-size:1rem;background:#0b57d0;color:#fff;border:0;border-radius:4px;cursor:pointer}\
button:focus,input:focus{outline:3px solid #f4b400;outline-offset:2px}";

/// A complete page (shared with the Fyers login page).
pub(crate) fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Login failed</h1>\n<p role=\"alert\">{}</p>",
        escape(message)
    );
    (
        status,
        Html(document("Login failed · feedgate simulator", &body)),
    )
        .into_response()
}

fn form(api_key: &str, user_id: &str, redirect_params: &str) -> String {
    let body = format!(
        "<h1>Kite Connect (simulated)</h1>\n\
<p>Log in to <strong>{key}</strong> on the feedgate broker simulator.</p>\n\
<form method=\"post\" action=\"/connect/login\">\n\
<input type=\"hidden\" name=\"api_key\" value=\"{key}\">\n\
<input type=\"hidden\" name=\"redirect_params\" value=\"{params}\">\n\
<label for=\"user_id\">User ID</label>\n\
<input id=\"user_id\" name=\"user_id\" type=\"text\" value=\"{user}\" autocomplete=\"username\" required>\n\
<button type=\"submit\">Login</button>\n\
</form>",
        key = escape(api_key),
        user = escape(user_id),
        params = escape(redirect_params),
    );
    document("Login · feedgate simulator", &body)
}

async fn page(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let q = params(query.unwrap_or_default().as_bytes());
    match q.get("api_key") {
        Some(key) if *key == shared.cfg.api_key => {
            let redirect_params = q.get("redirect_params").map_or("", String::as_str);
            Html(form(key, &shared.cfg.user_id, redirect_params)).into_response()
        }
        Some(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid api_key: no app is registered with this key.",
        ),
        None => error_page(
            StatusCode::BAD_REQUEST,
            "The api_key parameter is required.",
        ),
    }
}

async fn submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = params(&body);
    if form.get("api_key") != Some(&shared.cfg.api_key) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid api_key: no app is registered with this key.",
        );
    }
    if form.get("user_id").map(|u| u.trim()) != Some(shared.cfg.user_id.as_str()) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid user id: this simulator knows one user only.",
        );
    }
    // The redirect URL was validated when the simulator started.
    let Ok(mut target) = url::Url::parse(&shared.cfg.redirect_url) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The app's redirect URL is invalid.",
        );
    };
    let request_token = lock(&shared.tokens).issue_request(Instant::now());
    {
        let mut pairs = target.query_pairs_mut();
        pairs
            .append_pair("action", "login")
            .append_pair("type", "login")
            .append_pair("status", "success")
            .append_pair("request_token", request_token.expose_secret());
        let extra = form.get("redirect_params").map_or("", String::as_str);
        for (name, value) in url::form_urlencoded::parse(extra.as_bytes()) {
            pairs.append_pair(&name, &value);
        }
    }
    info!("login succeeded; redirecting with a fresh request token");
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn form_is_labelled_and_prefilled() {
        let html = form("k", "FG0001", "state=a&b=<c>");
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<label for=\"user_id\">User ID</label>"));
        assert!(html.contains("id=\"user_id\" name=\"user_id\" type=\"text\" value=\"FG0001\""));
        assert!(html.contains("<button type=\"submit\">Login</button>"));
        assert!(html.contains("value=\"state=a&amp;b=&lt;c&gt;\""));
    }
}

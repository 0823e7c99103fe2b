//! Logging in the way a person does, through the simulator's login page, with either broker's
//! flow; and the small pieces of HTTP it takes: headers, query strings and a page's form.

use super::{Broker, Env};
use std::collections::HashMap;

/// The user the simulator logs in (its login form comes with the user id pre-filled).
pub const SIM_USER: &str = "FG0001";

/// What one login through the simulator's page produced.
#[derive(Debug)]
pub struct Login {
    /// The one-time state the gateway issued (and got back on the callback).
    pub state: String,
    /// The one-time code the broker issued: Kite's request token, Fyers' auth code.
    pub code: String,
    /// The callback URL the simulator redirected the browser to.
    pub callback: String,
}

/// What [`login`] checks on the way, beyond the redirects, the state's round trip and the
/// broker's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginChecks {
    /// The flow itself, for either broker (Fyers: also the login URL's parameters and `s=ok`).
    Flow,
    /// Also everything a browser is shown along Kite's flow: `no-store` on the gateway's
    /// redirects, `KITE_LOGIN_URL` and its parameters, an unguessable state, the login page and
    /// its POST form with the user id pre-filled, the callback URL and `status=success`.
    Browser,
}

/// Logs in the way a person does, following every redirect by hand and checking each step:
/// `/api/login` → the simulator's login page (Kite `/connect/login`, Fyers
/// `/api/v3/generate-authcode`) → submit its form → the gateway's callback (Kite
/// `status=success&request_token`, Fyers `s=ok&auth_code`) → `/`.
pub async fn login(env: &Env, checks: LoginChecks) -> Login {
    let browser = checks == LoginChecks::Browser;
    // 1. The gateway sends the browser to the broker's login page with a one-time state.
    let r = env.get("/api/login").await;
    assert_eq!(r.status(), 302, "/api/login redirects");
    if browser {
        assert_eq!(header(&r, "cache-control"), "no-store");
    }
    let page_url = url::Url::parse(&location(&r)).expect("absolute login URL");
    if browser {
        assert_eq!(
            page_url.as_str().split('?').next(),
            Some(format!("{}/connect/login", env.sim.base_url()).as_str()),
            "KITE_LOGIN_URL is used"
        );
    }
    let q = query_map(&page_url);
    if browser {
        assert_eq!(q.get("v").map(String::as_str), Some("3"));
        assert_eq!(q.get("api_key").map(String::as_str), Some("feedgate-sim"));
    }
    let state = match env.broker {
        Broker::Kite => {
            let redirect_params = q.get("redirect_params").expect("redirect_params");
            state_in(redirect_params).expect("a state in redirect_params")
        }
        Broker::Fyers => {
            assert_eq!(
                page_url.path(),
                "/api/v3/generate-authcode",
                "FYERS_LOGIN_URL is used"
            );
            assert_eq!(q["client_id"], env.config.fyers.app_id);
            assert_eq!(q["response_type"], "code");
            assert_eq!(
                q["redirect_uri"],
                format!("{}/api/auth/callback", env.base())
            );
            q["state"].clone()
        }
    };
    if browser {
        assert!(state.len() >= 16, "an unguessable state: {state}");
    }

    // 2. The login page: an HTML form.
    let r = env
        .http
        .get(page_url.clone())
        .send()
        .await
        .expect("GET login page");
    if browser {
        assert_eq!(r.status(), 200, "login page");
    }
    let html = r.text().await.expect("login page body");
    let (method, action, fields) = parse_form(&html);
    if browser {
        assert_eq!(method.to_ascii_lowercase(), "post");
        assert!(
            fields.iter().any(|(k, v)| k == "user_id" && v == SIM_USER),
            "user id pre-filled: {fields:?}"
        );
    }

    // 3. Submitting it sends the browser to the gateway's callback with the broker's code.
    let target = page_url.join(&action).expect("form action URL");
    let r = env
        .http
        .post(target)
        .form(&fields)
        .send()
        .await
        .expect("POST login form");
    assert_eq!(r.status(), 302, "the login form redirects");
    let callback = url::Url::parse(&location(&r)).expect("absolute callback URL");
    if browser {
        assert_eq!(
            callback.as_str().split('?').next(),
            Some(format!("{}/api/auth/callback", env.base()).as_str())
        );
    }
    let cq = query_map(&callback);
    if browser {
        assert_eq!(cq.get("status").map(String::as_str), Some("success"));
    }
    assert_eq!(cq.get("state"), Some(&state), "the state comes back");
    let code = match env.broker {
        Broker::Kite => cq.get("request_token").cloned().expect("request_token"),
        Broker::Fyers => {
            assert_eq!(cq.get("s").map(String::as_str), Some("ok"), "{callback}");
            cq.get("auth_code").cloned().expect("auth_code")
        }
    };

    // 4. The callback exchanges it, stores the access token and sends the browser home.
    let r = env
        .http
        .get(callback.clone())
        .send()
        .await
        .expect("GET callback");
    let status = r.status();
    if status != 302 {
        panic!(
            "callback answered {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    assert_eq!(location(&r), "/");
    if browser {
        assert_eq!(header(&r, "cache-control"), "no-store");
    }
    Login {
        state,
        code,
        callback: callback.to_string(),
    }
}

/// Kite: the `redirect_params` that `/api/login` sends the browser to the login page with
/// (`state=…`, a one-time state the gateway issued), without logging in.
pub async fn kite_redirect_params(env: &Env) -> String {
    let r = env.get("/api/login").await;
    let u = url::Url::parse(&location(&r)).expect("login URL");
    query_map(&u)
        .remove("redirect_params")
        .expect("redirect_params")
}

/// The one-time state in Kite's `redirect_params`.
pub fn state_in(redirect_params: &str) -> Option<String> {
    url::form_urlencoded::parse(redirect_params.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
}

/// The `Location` header of a redirect.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_string()
}

/// A header's value, or "" if there is none.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A URL's query parameters, decoded.
pub fn query_map(u: &url::Url) -> HashMap<String, String> {
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of `attr="…"` inside one tag's text.
fn attr(tag: &str, attr: &str) -> Option<String> {
    let key = format!("{attr}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(html_unescape(&tag[start..start + len]))
}

/// A page's one `<form>`: its method, action and its inputs' (name, value) pairs, the way a
/// browser would submit them.
pub fn parse_form(html: &str) -> (String, String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a <form> on the login page");
    let end = html[start..].find("</form>").expect("</form>") + start;
    let form = &html[start..end];
    let open = &form[..form.find('>').expect("form tag end")];
    let method = attr(open, "method").unwrap_or_else(|| "get".into());
    let action = attr(open, "action").expect("form action");
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>').expect("input tag end") + i;
        let tag = &rest[i..tag_end];
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[tag_end..];
    }
    (method, action, fields)
}

/// Submits the simulator's Kite login form directly (not through `/api/login`), with the
/// `redirect_params` a test chooses, and returns the callback URL it redirects the browser to.
pub async fn sim_kite_login_form(env: &Env, redirect_params: &str) -> url::Url {
    let r = env
        .http
        .post(format!("{}/connect/login", env.sim.base_url()))
        .form(&[
            ("api_key", "feedgate-sim"),
            ("user_id", SIM_USER),
            ("redirect_params", redirect_params),
        ])
        .send()
        .await
        .expect("POST the simulator's login form");
    assert_eq!(r.status(), 302);
    url::Url::parse(&location(&r)).expect("callback URL")
}

//! Access control over real sockets (DESIGN.md §10): keys and scopes on every route and on
//! `/ws/market` (header, Kite query, first message, the 5 s limit, close 4001), the same 401
//! for an unknown id and a wrong secret, the per-address back-off, origins and CSRF, the Host
//! check, nosniff, per-key limits, the dashboard session and the broker login bound to it.

mod common;

use common::*;
use feedgate_gateway::access::keys::{self, KeySpec};
use feedgate_gateway::model::scope::{Scope, Scopes};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::Duration;

const S5: Duration = Duration::from_secs(5);

async fn call(env: &Env, method: Method, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = env
        .http
        .request(method, format!("{}{path}", env.base()))
        .header("content-type", "application/json");
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    r.send().await.expect("request")
}

/// Every route with the scope it needs.
const ROUTES: &[(&str, &str, Scope)] = &[
    ("GET", "/api/websocket/status", Scope::Read),
    ("GET", "/api/quotes?symbols=NSE:SBIN", Scope::Read),
    ("GET", "/api/system/health/market", Scope::Read),
    ("GET", "/api/system/health/auth", Scope::Read),
    ("GET", "/api/system/health/feed", Scope::Read),
    ("GET", "/api/instruments?q=SBI", Scope::Read),
    (
        "GET",
        "/api/candles?symbol=NSE:SBIN&interval=1m",
        Scope::Read,
    ),
    ("GET", "/api/login", Scope::Admin),
    ("POST", "/api/system/health/auth/verify", Scope::Admin),
    ("GET", "/metrics", Scope::Admin),
];

#[tokio::test(start_paused = true)]
async fn every_route_needs_its_scope() {
    let env = EnvBuilder::new().with_keys().start().await;
    for (method, path, scope) in ROUTES {
        let m: Method = method.parse().unwrap();
        let anon = call(&env, m.clone(), path, None).await;
        assert_eq!(anon.status(), 401, "{method} {path} without a key");
        assert_eq!(
            header(&anon, "www-authenticate"),
            "Bearer realm=\"feedgate\""
        );
        let orders = call(&env, m.clone(), path, Some(ORDERS)).await;
        assert_eq!(
            orders.status(),
            403,
            "{method} {path} with the orders scope"
        );
        let reader = call(&env, m.clone(), path, Some(READER)).await.status();
        let admin = call(&env, m.clone(), path, Some(ADMIN)).await.status();
        match scope {
            Scope::Read => assert!(reader != 401 && reader != 403, "{path}: {reader}"),
            _ => assert_eq!(reader, 403, "{method} {path} with the read scope"),
        }
        if *path == "/api/login" {
            // An admin key alone is not enough: the login is bound to a dashboard session.
            let r = call(&env, m.clone(), path, Some(ADMIN)).await;
            assert_eq!(r.status(), 403);
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("Sign in to the dashboard first")
            );
        } else {
            assert!(
                admin != 401 && admin != 403,
                "{method} {path} as admin: {admin}"
            );
        }
    }
    // Kite's header form works as well.
    let r = env
        .http
        .get(format!("{}/api/websocket/status", env.base()))
        .header("authorization", format!("token {READER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The dashboard's files need no key (the page signs in).
    assert_eq!(env.get("/").await.status(), 200);
    assert_eq!(env.get("/assets/app.css").await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn health_says_less_to_fewer_scopes() {
    let env = EnvBuilder::new().with_keys().start().await;
    assert!(
        wait_until(S5, || async {
            let r = call(&env, Method::GET, "/api/system/health", Some(ADMIN)).await;
            r.json::<Value>().await.unwrap()["auth"]["user_id"] == SIM_USER
        })
        .await,
        "the token is verified and the admin sees the account"
    );
    let anon: Value = env.get_json("/api/system/health").await;
    let keys: Vec<_> = anon.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["priority_status"], "{anon}");
    let r = call(&env, Method::GET, "/api/system/health", Some(READER)).await;
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["feed"].is_object() && doc["market"].is_object(),
        "{doc}"
    );
    assert!(
        doc["auth"]["user_id"].is_null() && doc["auth"]["user_name"].is_null(),
        "{doc}"
    );
    let r = call(&env, Method::GET, "/api/system/health/auth", Some(READER)).await;
    assert!(r.json::<Value>().await.unwrap()["user_id"].is_null());
    let bad = call(
        &env,
        Method::GET,
        "/api/system/health",
        Some("reader:wrong-secret-0000"),
    )
    .await;
    assert_eq!(
        bad.status(),
        401,
        "a wrong key is refused even where none is needed"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_id_and_a_wrong_secret_get_the_same_answer() {
    let env = EnvBuilder::new().with_keys().start().await;
    let path = "/api/websocket/status";
    let answer = |r: reqwest::Response| async move {
        let status = r.status();
        let www = header(&r, "www-authenticate");
        (status, www, r.text().await.unwrap())
    };
    let unknown = answer(
        call(
            &env,
            Method::GET,
            path,
            Some("nobody:reader-secret-0123456789"),
        )
        .await,
    )
    .await;
    let wrong = answer(
        call(
            &env,
            Method::GET,
            path,
            Some("reader:reader-secret-0123456780"),
        )
        .await,
    )
    .await;
    let none = answer(call(&env, Method::GET, path, None).await).await;
    assert_eq!(unknown.0, 401);
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, none);
    assert!(!unknown.2.contains("reader") && !unknown.2.contains("nobody"));
}

#[tokio::test(start_paused = true)]
async fn repeated_wrong_keys_make_the_address_wait() {
    let env = EnvBuilder::new().with_keys().start().await;
    let path = "/api/websocket/status";
    for _ in 0..feedgate_gateway::access::failures::FREE_FAILURES {
        assert_eq!(
            call(&env, Method::GET, path, Some("reader:guess-000000000000"))
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        call(&env, Method::GET, path, Some("reader:guess-000000000001"))
            .await
            .status(),
        401
    );
    // Now shut out: even the right key waits, and says how long.
    let r = call(&env, Method::GET, path, Some(READER)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "1");
    // Anonymous probes are not affected.
    assert_eq!(env.get("/api/system/health").await.status(), 200);
    tokio::time::advance(Duration::from_millis(1100)).await;
    assert_eq!(
        call(&env, Method::GET, path, Some(READER)).await.status(),
        200
    );
    // A success forgave the address: one more mistake is free again.
    assert_eq!(
        call(&env, Method::GET, path, Some("reader:guess-000000000002"))
            .await
            .status(),
        401
    );
    assert_eq!(
        call(&env, Method::GET, path, Some(READER)).await.status(),
        200
    );
}

async fn expect_refusal(c: &mut WsClient, code: u16) {
    let err = c.next_within(S5).await.expect("an error first");
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(
        err["code"],
        if code == 4001 {
            "unauthorized"
        } else {
            "forbidden"
        }
    );
    let close = c.next_within(S5).await.expect("then a close");
    assert_eq!(close, json!({"type": "close", "code": code}));
}

#[tokio::test(start_paused = true)]
async fn the_websocket_takes_a_header_a_query_or_a_first_message() {
    let env = EnvBuilder::new().with_keys().start().await;
    let addr = env.gw().local_addr();
    let greeted = |mut c: WsClient| async move {
        let first = c.next_within(S5).await.expect("greeting");
        assert_eq!(first["type"], "connection_status", "{first}");
        c
    };
    let auth = format!("Bearer {READER}");
    let c = ws_with(addr, "/ws/market", &[("authorization", &auth)])
        .await
        .unwrap();
    let mut c = greeted(c).await;
    subscribe(&mut c, &["NSE:SBIN"], "ltp").await;
    let (id, secret) = READER.split_once(':').unwrap();
    let q = format!("/api/websocket/stream?api_key={id}&access_token={secret}");
    greeted(ws_with(addr, &q, &[]).await.unwrap()).await;
    // A browser: the key in the first message.
    let mut c = ws_with(addr, "/ws/market", &[]).await.unwrap();
    c.send(json!({"action": "auth", "key": READER, "id": 7}))
        .await;
    let ack = c.next_within(S5).await.unwrap();
    assert_eq!(
        ack,
        json!({"type": "ack", "action": "auth", "key_id": "reader", "id": 7})
    );
    greeted(c).await;
    // Wrong keys, every way: the same error and close 4001.
    let wrong = "reader:reader-secret-0123456780";
    let mut c = ws_with(
        addr,
        "/ws/market",
        &[("authorization", &format!("Bearer {wrong}"))],
    )
    .await
    .unwrap();
    expect_refusal(&mut c, 4001).await;
    let mut c = ws_with(addr, "/ws/market?api_key=reader&access_token=nope", &[])
        .await
        .unwrap();
    expect_refusal(&mut c, 4001).await;
    let mut c = ws_with(addr, "/ws/market", &[]).await.unwrap();
    c.send(json!({"action": "auth", "key": wrong})).await;
    expect_refusal(&mut c, 4001).await;
    let mut c = ws_with(addr, "/ws/market", &[]).await.unwrap();
    c.send(json!({"action": "subscribe", "symbols": ["NSE:SBIN"]}))
        .await;
    expect_refusal(&mut c, 4001).await;
    // A key without the read scope.
    let mut c = ws_with(
        addr,
        "/ws/market",
        &[("authorization", &format!("Bearer {ORDERS}"))],
    )
    .await
    .unwrap();
    expect_refusal(&mut c, 4003).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_websocket_is_closed_after_five_seconds() {
    let env = EnvBuilder::new().with_keys().start().await;
    let mut c = ws_with(env.gw().local_addr(), "/ws/market", &[])
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    assert!(
        c.next_within(Duration::from_millis(4900)).await.is_none(),
        "nothing before 5 s"
    );
    expect_refusal(&mut c, 4001).await;
    let waited = t0.elapsed();
    assert!(
        waited >= S5 && waited < Duration::from_secs(6),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn per_key_limits_apply_on_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let spec = KeySpec {
        name: "small".into(),
        scopes: Scopes::NONE.with(Scope::Read),
        max_connections: Some(1),
        max_symbols: Some(2),
    };
    let key = keys::generate(spec, chrono::Utc::now());
    keys::save(
        &dir.path().join(keys::FILE_NAME),
        std::slice::from_ref(&key.record),
    )
    .unwrap();
    let env = EnvBuilder::new()
        .with_keys()
        .var("FEEDGATE_MAX_SYMBOLS_PER_CLIENT", "3")
        .data_dir(dir)
        .start()
        .await;
    let addr = env.gw().local_addr();
    let auth = format!("Bearer {}", key.credential.expose_secret());
    let mut c = ws_with(addr, "/ws/market", &[("authorization", &auth)])
        .await
        .unwrap();
    assert_eq!(
        c.next_within(S5).await.unwrap()["type"],
        "connection_status"
    );
    c.send(json!({"action": "subscribe", "symbols": ["NSE:SBIN", "NSE:INFY", "NSE:TCS"]}))
        .await;
    let ack = c.next_within(S5).await.unwrap();
    assert_eq!(ack["type"], "error", "the key's 2 beat the global 3: {ack}");
    assert_eq!(ack["code"], "too_many_symbols", "{ack}");
    let ack = subscribe(&mut c, &["NSE:SBIN", "NSE:INFY"], "ltp").await;
    assert_eq!(ack["count"], 2, "{ack}");
    let mut second = ws_with(addr, "/ws/market", &[("authorization", &auth)])
        .await
        .unwrap();
    let err = second.next_within(S5).await.unwrap();
    assert_eq!(err["code"], "too_many_connections", "{err}");
    assert_eq!(second.next_within(S5).await.unwrap()["code"], 1013);
    drop(c);
    assert!(
        wait_until(S5, || async {
            let Ok(mut c) = ws_with(addr, "/ws/market", &[("authorization", &auth)]).await else {
                return false;
            };
            c.next_within(S5)
                .await
                .is_some_and(|m| m["type"] == "connection_status")
        })
        .await,
        "the slot comes back when the first connection ends"
    );
}

#[tokio::test(start_paused = true)]
async fn origins_are_checked_on_upgrades_and_simple_posts_are_refused() {
    let env = EnvBuilder::new()
        .with_keys()
        .var("FEEDGATE_ALLOWED_ORIGINS", "https://dash.example.com")
        .start()
        .await;
    let addr = env.gw().local_addr();
    let auth = format!("Bearer {READER}");
    let evil = ws_with(
        addr,
        "/ws/market",
        &[("authorization", &auth), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(evil.err(), Some(403), "a disallowed origin");
    let own = format!("http://{addr}");
    for origin in [own.as_str(), "https://dash.example.com"] {
        let c = ws_with(
            addr,
            "/ws/market",
            &[("authorization", &auth), ("origin", origin)],
        )
        .await;
        assert!(c.is_ok(), "{origin} is allowed");
    }
    assert!(
        ws_with(addr, "/ws/market", &[("authorization", &auth)])
            .await
            .is_ok(),
        "no Origin: not a browser"
    );
    // CORS for the listed origin only.
    let r = env
        .http
        .get(format!("{}/api/websocket/status", env.base()))
        .header("authorization", &auth)
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "https://dash.example.com"
    );
    // A cross-site form post (text/plain, no key header) changes nothing.
    for path in [
        "/api/session",
        "/api/system/health/auth/verify",
        "/_sim/fault",
    ] {
        let r = env
            .http
            .post(format!("{}{path}", env.base()))
            .header("content-type", "text/plain")
            .body("{\"key\":\"x\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{path}");
        let r = env
            .http
            .post(format!("{}{path}", env.base()))
            .header("content-type", "application/json")
            .header("origin", "https://evil.example")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} from another site");
    }
    // The simulator's control routes need the admin scope.
    let r = call(&env, Method::GET, "/_sim/state", Some(READER)).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test(start_paused = true)]
async fn foreign_host_names_are_misdirected_and_every_answer_says_nosniff() {
    let env = EnvBuilder::new().start().await;
    let r = env
        .http
        .get(format!("{}/api/websocket/status", env.base()))
        .header("host", "rebind.attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        421,
        "DNS rebinding: a name feedgate does not serve"
    );
    let port = env.gw().local_addr().port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = env
            .http
            .get(format!("{}/api/websocket/status", env.base()))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    for path in [
        "/",
        "/assets/app.css",
        "/api/system/health",
        "/nope",
        "/api/quotes",
    ] {
        let r = env.get(path).await;
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
    }
    assert_eq!(
        header(&r, "x-content-type-options"),
        "nosniff",
        "the 421 too"
    );
}

/// Signs in on the dashboard's endpoint; returns the `Cookie` header value.
async fn sign_in(env: &Env, key: &str) -> String {
    let r = env
        .http
        .post(format!("{}/api/session", env.base()))
        .json(&json!({"key": key}))
        .send()
        .await
        .expect("test step");
    assert_eq!(r.status(), 200, "sign-in with {key}");
    let set = header(&r, "set-cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: no Secure ({set})");
    set.split(';').next().expect("test step").to_string()
}

async fn with_cookie(env: &Env, method: Method, path: &str, cookie: &str) -> reqwest::Response {
    env.http
        .request(method, format!("{}{path}", env.base()))
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("test step")
}

#[tokio::test(start_paused = true)]
async fn the_session_cookie_works_for_http_and_the_websocket_until_sign_out() {
    let env = EnvBuilder::new().with_keys().start().await;
    let anon: Value = env.get_json("/api/session").await;
    assert_eq!(
        anon,
        json!({"auth": "keys", "signed_in": false, "scopes": []})
    );
    let r = env
        .http
        .post(format!("{}/api/session", env.base()))
        .json(&json!({"key": "reader:reader-secret-0123456780"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let cookie = sign_in(&env, READER).await;
    let me: Value = with_cookie(&env, Method::GET, "/api/session", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["key_id"], "reader");
    assert_eq!(me["scopes"], json!(["read"]));
    assert_eq!(
        with_cookie(&env, Method::GET, "/api/websocket/status", &cookie)
            .await
            .status(),
        200
    );
    assert_eq!(
        with_cookie(&env, Method::GET, "/metrics", &cookie)
            .await
            .status(),
        403
    );
    let mut c = ws_with(env.gw().local_addr(), "/ws/market", &[("cookie", &cookie)])
        .await
        .unwrap();
    assert_eq!(
        c.next_within(S5).await.unwrap()["type"],
        "connection_status"
    );
    let r = with_cookie(&env, Method::DELETE, "/api/session", &cookie).await;
    assert_eq!(r.status(), 204);
    assert!(header(&r, "set-cookie").contains("Max-Age=0"));
    assert_eq!(
        with_cookie(&env, Method::GET, "/api/websocket/status", &cookie)
            .await
            .status(),
        401
    );
    assert_eq!(
        with_cookie(
            &env,
            Method::GET,
            "/api/websocket/status",
            "feedgate_session=forged"
        )
        .await
        .status(),
        401
    );
}

/// `/api/login` for a session: the state in the broker URL and the login cookie.
async fn start_login(env: &Env, cookie: &str) -> (String, String) {
    let r = with_cookie(env, Method::GET, "/api/login", cookie).await;
    assert_eq!(r.status(), 302);
    let set = header(&r, "set-cookie");
    assert!(
        set.starts_with("feedgate_login=") && set.contains("HttpOnly"),
        "{set}"
    );
    assert!(
        set.contains("SameSite=Lax") && set.contains("Path=/api/auth/callback"),
        "{set}"
    );
    let u = url::Url::parse(&location(&r)).expect("test step");
    let state = state_in(&query_map(&u)["redirect_params"]).expect("state");
    (state, set.split(';').next().expect("test step").to_string())
}

/// A request token from the simulator's login form for `state`, as the broker redirects with.
async fn broker_redirect(env: &Env, state: &str) -> String {
    let u = common::sim_kite_login_form(env, &format!("state={state}")).await;
    format!("{}?{}", u.path(), u.query().expect("test step"))
}

#[tokio::test(start_paused = true)]
async fn the_broker_login_is_bound_to_the_admin_session_that_started_it() {
    let env = EnvBuilder::new()
        .with_keys()
        .token(TokenSetup::None)
        .start()
        .await;
    let reader = sign_in(&env, READER).await;
    assert_eq!(
        with_cookie(&env, Method::GET, "/api/login", &reader)
            .await
            .status(),
        403
    );
    let a = sign_in(&env, ADMIN).await;
    let b = sign_in(&env, ADMIN).await;
    let (_state_a, bind_a) = start_login(&env, &a).await;
    let (state_b, bind_b) = start_login(&env, &b).await;
    // The old flush: many logins started elsewhere no longer push b's state out.
    for _ in 0..100 {
        start_login(&env, &a).await;
    }
    let callback = broker_redirect(&env, &state_b).await;
    // b's state with a's login cookie, or with none: refused, nothing exchanged.
    for cookie in [Some(bind_a.as_str()), None] {
        let mut req = env.http.get(format!("{}{callback}", env.base()));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "cookie {cookie:?}");
        assert!(env.sim_state().tokens.is_empty(), "no exchange");
    }
    // The browser that started it completes it (the redirect carries only the Lax cookie).
    let r = with_cookie(&env, Method::GET, &callback, &bind_b).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/");
    assert!(
        header(&r, "set-cookie").contains("Max-Age=0"),
        "login cookie dropped"
    );
    assert_eq!(env.sim_state().tokens.len(), 1);
    assert!(
        wait_until(S5, || async {
            with_cookie(&env, Method::GET, "/api/system/health/auth", &a)
                .await
                .json::<Value>()
                .await
                .unwrap()["state"]
                == "valid"
        })
        .await
    );
    // Single use.
    let r = with_cookie(&env, Method::GET, &callback, &bind_b).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(start_paused = true)]
async fn malformed_request_tokens_never_reach_the_broker_and_bad_callbacks_are_limited() {
    let env = EnvBuilder::new().token(TokenSetup::None).start().await;
    let ok = "action=login&type=login&status=success";
    for token in ["abc-def", "%3Cscript%3E", &"a".repeat(65)] {
        let state = state_in(&kite_redirect_params(&env).await).unwrap();
        let r = env
            .get(&format!(
                "/api/auth/callback?{ok}&request_token={token}&state={state}"
            ))
            .await;
        assert_eq!(r.status(), 400, "{token}");
        assert!(r.text().await.unwrap().contains("login code is not valid"));
    }
    assert!(
        env.sim_state().tokens.is_empty(),
        "the broker was never asked"
    );
    // Refused callbacks from one address: after a few, it must wait.
    let mut last = 0;
    for _ in 0..20 {
        last = env
            .get(&format!(
                "/api/auth/callback?{ok}&request_token=abc&state=forged"
            ))
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
}

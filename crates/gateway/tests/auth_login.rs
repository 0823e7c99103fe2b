//! Auth and login end to end (issue 5), against the in-process simulator in paused time: no
//! token ⇒ no WebSocket attempts (1); login through the simulator's login page (2); overnight
//! expiry and re-login without a restart (3); forged callbacks (4); on-demand verification
//! (5); no secret in any log line or JSON body (6); the pre-market token check (7). Hot reload
//! of the token file is in `token_sources.rs`, the REST fallback in `upstream_episodes.rs`.
//!
//! Waiting is always "until a condition holds or a deadline passes" ([`wait_until`] and the
//! client's `next_*`); the only plain sleeps let a stretch of *paused* time pass in order to
//! assert that something did **not** happen during it ([`let_time_pass`]).

mod common;

use common::{
    Capture, Env, EnvBuilder, LoginChecks, SIM_USER, TokenSetup, assert_no_secret, auth_section,
    auth_state, drop_in_token_file, everything_the_binary_may_log, header, kite_redirect_params,
    let_time_pass, login, next_matching, next_tick_from, query_map, served_bodies, state_in,
    stored_token, stored_token_file, subscribed_client, token_path, wait_auth, wait_until,
};
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// The simulator's API secret (DESIGN.md §7): must never be logged or served.
const API_SECRET: &str = "feedgate-sim-secret";
const S5: Duration = Duration::from_secs(5);
const S30: Duration = Duration::from_secs(30);

// ----------------------------------------------------------------------------------------------
// Helpers

/// Every ticker upgrade the simulator saw, accepted or refused.
fn upgrade_attempts(env: &Env) -> u64 {
    let u = env.sim_state().upgrades;
    u.accepted + u.refused.total()
}

/// A fresh, valid request token from the simulator's login form, as a browser would get it,
/// without going through `/api/login` (so it carries whatever `redirect_params` we choose).
async fn sim_request_token(env: &Env) -> String {
    let u = common::sim_kite_login_form(env, "").await;
    query_map(&u)
        .remove("request_token")
        .expect("request_token")
}

// ----------------------------------------------------------------------------------------------
// 1. No token

#[tokio::test(start_paused = true)]
async fn without_a_token_login_is_required_and_no_websocket_is_attempted() {
    let env = EnvBuilder::new().token(TokenSetup::None).start().await;
    // A subscriber, so the upstream would want a connection if it had a token.
    let (mut c, first_status) = subscribed_client(&env, &["NSE:SBIN", "NIFTY"]).await;
    assert_eq!(first_status["auth_required"], true, "{first_status}");

    assert!(wait_auth(&env, "required", S5).await);
    let h = env.health().await;
    assert_eq!(h["priority_status"], "AUTH_REQUIRED", "{h}");
    let msg = h["priority_message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("/api/login"),
        "message points at the login: {msg}"
    );
    assert_eq!(h["auth"]["requires_login"], true);
    assert_eq!(h["auth"]["is_valid"], false);
    assert!(
        h["auth"]["login_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/api/login")),
        "{h}"
    );

    // Half an hour of (paused) market time: not a single upgrade, not a single quote poll.
    let_time_pass(Duration::from_secs(30 * 60)).await;
    let s = env.sim_state();
    assert_eq!(
        (s.upgrades.accepted, s.upgrades.refused.total()),
        (0, 0),
        "no WebSocket attempt without a token: {:?}",
        s.upgrades
    );
    assert_eq!(s.quote_requests, 0, "no REST polling without a token");
    assert!(s.tokens.is_empty(), "nothing was exchanged");
    assert_eq!(auth_state(&env).await, "required");
    assert_eq!(env.health().await["priority_status"], "AUTH_REQUIRED");
    assert!(!token_path(&env).exists());
    // The client is still connected and told the same thing.
    c.send(json!({"action": "ping", "id": "p"})).await;
    assert!(c.next_of("pong", S5).await.is_some());
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 2. Login end to end

#[tokio::test(start_paused = true)]
async fn login_through_the_simulator_page_makes_the_feed_live() {
    let env = EnvBuilder::new().token(TokenSetup::None).start().await;
    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN"]).await;
    assert!(wait_auth(&env, "required", S5).await);

    let l = login(&env, LoginChecks::Browser).await;
    assert!(!l.code.is_empty() && !l.state.is_empty());

    assert!(
        wait_auth(&env, "valid", S5).await,
        "auth: {}",
        auth_section(&env).await
    );
    let tick = next_tick_from(&mut c, "ws", Duration::from_secs(10)).await;
    assert!(
        tick.is_some(),
        "live ticks after the login; health: {}",
        env.health().await
    );
    let status = next_matching(&mut c, S5, |v| {
        v["type"] == "connection_status" && v["auth_required"] == false
    })
    .await;
    // The status may have gone out before the tick; the current one says the same.
    let h = env.health().await;
    assert!(
        status.is_some() || h["priority_status"] != "AUTH_REQUIRED",
        "{h}"
    );
    assert_eq!(h["auth"]["state"], "valid", "{h}");
    assert_eq!(h["auth"]["user_id"], SIM_USER);
    assert_eq!(h["auth"]["token_source"], "login");
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    assert_ne!(h["priority_status"], "AUTH_REQUIRED");

    // The token file: in the data dir, 0600, the exchanged token, no temp files left behind.
    let path = token_path(&env);
    let meta = std::fs::metadata(&path).expect("token file written");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "token file mode");
    }
    let file = stored_token_file(&env).expect("read");
    assert_eq!(file["broker"], "kite");
    assert_eq!(file["user_id"], SIM_USER);
    let token = file["access_token"].as_str().expect("access_token");
    assert_eq!(token.len(), 32, "the simulator's token");
    assert!(file["issued_at"].is_string(), "{file}");
    let leftovers: Vec<String> = std::fs::read_dir(env.data_dir.path())
        .expect("data dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".token-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let s = env.sim_state();
    assert_eq!(s.tokens.len(), 1, "exactly one exchange");
    assert!(s.tokens[0].valid);
    assert_eq!(s.upgrades.refused.total(), 0, "{:?}", s.upgrades);
    assert_eq!(s.upgrades.accepted, 1, "{:?}", s.upgrades);
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 3. Overnight expiry, then login again without a restart

#[tokio::test(start_paused = true)]
async fn an_expired_token_stops_attempts_until_a_new_login() {
    let env = EnvBuilder::new().start().await;
    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN"]).await;
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    assert!(wait_auth(&env, "valid", S5).await);
    let before = env.sim_state().upgrades;
    assert_eq!((before.accepted, before.refused.total()), (1, 0));

    // The token dies overnight and the socket drops.
    env.fault(Fault::ExpireToken);
    env.fault(Fault::Drop);
    let t0 = Instant::now();
    assert!(
        wait_auth(&env, "expired", S30).await,
        "auth: {}",
        auth_section(&env).await
    );
    let to_expired = t0.elapsed();
    let h = env.health().await;
    assert_eq!(h["priority_status"], "AUTH_REQUIRED", "{h}");
    assert!(
        h["priority_message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/login")),
        "{h}"
    );
    assert_eq!(h["auth"]["requires_login"], true);
    let told = next_matching(&mut c, S5, |v| {
        v["type"] == "connection_status" && v["auth_required"] == true
    })
    .await;
    assert!(told.is_some(), "clients are told a login is needed");

    // Ten quiet minutes: at most the one attempt that discovered the rejection, no polling.
    let quotes = env.sim_state().quote_requests;
    let_time_pass(Duration::from_secs(600)).await;
    let after = env.sim_state().upgrades;
    let dead_attempts = upgrade_attempts(&env) - (before.accepted + before.refused.total());
    assert!(
        dead_attempts <= 1,
        "at most one WebSocket attempt with the dead token: {after:?}"
    );
    assert_eq!(after.accepted, before.accepted, "{after:?}");
    assert_eq!(
        env.sim_state().quote_requests,
        quotes,
        "no polling with a dead token"
    );
    assert_eq!(auth_state(&env).await, "expired");
    eprintln!(
        "expiry: auth expired after {:.1} s, {dead_attempts} WebSocket attempt(s) with the dead token",
        to_expired.as_secs_f64()
    );

    // A new login brings it back, same process.
    login(&env, LoginChecks::Browser).await;
    assert!(wait_auth(&env, "valid", S5).await);
    let t1 = Instant::now();
    assert!(
        next_tick_from(&mut c, "ws", Duration::from_secs(10))
            .await
            .is_some(),
        "live again; health: {}",
        env.health().await
    );
    eprintln!(
        "expiry: live {:.1} s after the login",
        t1.elapsed().as_secs_f64()
    );
    let s = env.sim_state().upgrades;
    assert_eq!(s.accepted, before.accepted + 1, "{s:?}");
    let h = env.health().await;
    assert_ne!(h["priority_status"], "AUTH_REQUIRED", "{h}");
    assert_eq!(h["auth"]["token_source"], "login");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 4. Forged callbacks

/// Asserts a callback answer is an error page that changes nothing.
async fn assert_rejected_callback(env: &Env, query: &str, want_status: u16, what: &str) {
    let r = env.get(&format!("/api/auth/callback?{query}")).await;
    assert_eq!(r.status().as_u16(), want_status, "{what}");
    assert!(
        r.headers().get(reqwest::header::LOCATION).is_none(),
        "{what}"
    );
    assert!(
        header(&r, "content-type").starts_with("text/html"),
        "{what}: an error page"
    );
    let body = r.text().await.expect("body");
    assert!(body.contains("/api/login"), "{what}: offers a new login");
    assert!(!body.contains("<script"), "{what}: nothing echoed: {body}");
}

#[tokio::test(start_paused = true)]
async fn forged_callbacks_are_rejected_and_change_nothing() {
    let env = EnvBuilder::new().token(TokenSetup::None).start().await;
    assert!(wait_auth(&env, "required", S5).await);
    let unchanged = |env: &Env, tokens: usize| {
        let s = env.sim_state();
        assert_eq!(s.tokens.len(), tokens, "no request token was exchanged");
        assert_eq!(s.upgrades.accepted + s.upgrades.refused.total(), 0);
    };

    // A genuine request token, so only the state decides.
    let rt = sim_request_token(&env).await;
    let ok = "action=login&type=login&status=success";
    assert_rejected_callback(&env, &format!("{ok}&request_token={rt}"), 400, "no state").await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token={rt}&state="),
        400,
        "empty state",
    )
    .await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token={rt}&state=0123456789abcdef0123456789abcdef"),
        400,
        "unknown state",
    )
    .await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token={rt}&state=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        400,
        "markup in the state",
    )
    .await;

    // A state the gateway issued, but the broker says the login was cancelled.
    let issued = |env| async move { state_in(&kite_redirect_params(env).await).expect("state") };
    let state = issued(&env).await;
    assert_rejected_callback(
        &env,
        &format!("action=login&type=login&status=cancelled&request_token={rt}&state={state}"),
        400,
        "status=cancelled",
    )
    .await;
    // That state was used up by the cancelled login: replaying it with success fails too.
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token={rt}&state={state}"),
        400,
        "reused state after a cancel",
    )
    .await;
    // A valid state with a request token the broker does not know: the exchange fails.
    let state = issued(&env).await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token=notARealToken0123&state={state}"),
        502,
        "failed exchange",
    )
    .await;
    // A valid state without a request token.
    let state = issued(&env).await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&state={state}"),
        400,
        "no request_token",
    )
    .await;

    unchanged(&env, 0);
    assert!(!token_path(&env).exists(), "nothing stored");
    assert_eq!(auth_state(&env).await, "required");
    assert_eq!(env.health().await["priority_status"], "AUTH_REQUIRED");

    // A real login works after all that, once; replaying its callback is refused.
    let l = login(&env, LoginChecks::Browser).await;
    assert!(wait_auth(&env, "valid", S5).await);
    let stored = stored_token(&env).expect("token stored");
    let file_before = std::fs::read_to_string(token_path(&env)).expect("token file");
    assert_eq!(env.sim_state().tokens.len(), 1);
    let replay = env
        .http
        .get(&l.callback)
        .send()
        .await
        .expect("replay callback");
    assert_eq!(replay.status(), 400, "a replayed callback is refused");
    let rt2 = sim_request_token(&env).await;
    assert_rejected_callback(
        &env,
        &format!("{ok}&request_token={rt2}&state={}", l.state),
        400,
        "reused state with a fresh request token",
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(token_path(&env)).expect("token file"),
        file_before,
        "token file untouched"
    );
    assert_eq!(stored_token(&env), Some(stored));
    assert_eq!(
        env.sim_state().tokens.len(),
        1,
        "only the real login exchanged"
    );
    assert_eq!(auth_state(&env).await, "valid");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 5. On-demand verification

async fn verify(env: &Env) -> Value {
    let r = env.post("/api/system/health/auth/verify").await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("JSON")
}

#[tokio::test(start_paused = true)]
async fn verify_checks_the_token_now_and_updates_the_state() {
    let env = EnvBuilder::new().start().await;
    assert!(wait_auth(&env, "valid", S5).await);
    let v = verify(&env).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["user_id"], SIM_USER, "{v}");
    assert!(v["user_name"].is_string(), "{v}");
    assert!(v.get("error").is_none(), "{v}");

    env.fault(Fault::ExpireToken);
    // Nothing has told the gateway yet.
    assert_eq!(auth_state(&env).await, "valid");
    // An answer is reused for a moment (a flood costs one broker call): let it age.
    let_time_pass(feedgate_gateway::auth::task::VERIFY_CACHE).await;
    let v = verify(&env).await;
    assert_eq!(v["valid"], false, "{v}");
    assert!(v.get("user_id").is_none(), "{v}");
    let err = v["error"].as_str().expect("an error message");
    assert!(err.contains("/api/login"), "says what to do: {err}");
    // The check updated the state at once.
    assert_eq!(auth_state(&env).await, "expired");
    assert_eq!(env.health().await["priority_status"], "AUTH_REQUIRED");
    env.shutdown().await;

    // Without any token, verify says so without asking the broker.
    let env = EnvBuilder::new().token(TokenSetup::None).start().await;
    let v = verify(&env).await;
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("/api/login")),
        "{v}"
    );
    assert_eq!(auth_state(&env).await, "required");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 6. No secret in logs or JSON

#[tokio::test(start_paused = true)]
async fn no_secret_or_token_is_ever_logged_or_served() {
    // Everything logged, at every level, by every crate (tracing and `log` records both, as the
    // binary's subscriber does). Global, so nothing on any thread escapes.
    let capture = Capture::default();
    capture
        .install(everything_the_binary_may_log())
        .expect("the only test that installs a subscriber");

    let env = EnvBuilder::new()
        .var("FEED_MAX_RECONNECTS", "2")
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "2")
        .var("REST_POLL_INTERVAL", "1")
        .start()
        .await;
    let mut secrets: Vec<String> = vec![API_SECRET.to_string()];
    secrets.extend(env.minted_token.clone());
    let mut bodies: Vec<String> = Vec::new();
    let snapshot_bodies = |env| {
        served_bodies(
            env,
            &[
                "/api/system/health",
                "/api/system/health/auth",
                "/api/system/health/feed",
                "/api/websocket/status",
                "/metrics",
            ],
        )
    };

    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN"]).await;
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    bodies.push(verify(&env).await.to_string());
    bodies.extend(snapshot_bodies(&env).await);

    // A login (request token + new access token).
    let l = login(&env, LoginChecks::Browser).await;
    secrets.push(l.code.clone());
    assert!(wait_auth(&env, "valid", S5).await);
    secrets.extend(stored_token(&env));
    assert!(
        next_tick_from(&mut c, "ws", Duration::from_secs(10))
            .await
            .is_some()
    );
    bodies.extend(snapshot_bodies(&env).await);

    // A token dropped into the file.
    let dropped = env.mint_token();
    secrets.push(dropped.clone());
    let accepted = env.sim_state().upgrades.accepted;
    drop_in_token_file(&env, &dropped);
    assert!(
        wait_until(S30, || async {
            env.sim_state().upgrades.accepted > accepted
        })
        .await
    );

    // REST fallback and back.
    env.fault(Fault::RejectWs { seconds: 600.0 });
    env.fault(Fault::Drop);
    // (A REST snapshot fetched at subscribe time may still be queued: wait for the switch first.)
    assert!(
        next_matching(&mut c, S30, |v| v["mode"] == "REST API Polling")
            .await
            .is_some()
    );
    assert!(next_tick_from(&mut c, "rest", S5).await.is_some());
    bodies.extend(snapshot_bodies(&env).await);
    env.fault(Fault::Clear);
    assert!(next_tick_from(&mut c, "ws", S30).await.is_some());

    // Forged callbacks carrying a real request token.
    let rt = sim_request_token(&env).await;
    secrets.push(rt.clone());
    for q in [
        format!("status=success&request_token={rt}"),
        format!("status=success&request_token={rt}&state=forged"),
    ] {
        let r = env.get(&format!("/api/auth/callback?{q}")).await;
        bodies.push(r.text().await.expect("body"));
    }
    // A failed exchange (the error comes back from the broker).
    let params = kite_redirect_params(&env).await;
    let r = env
        .get(&format!(
            "/api/auth/callback?status=success&request_token={rt}x&{params}"
        ))
        .await;
    assert_eq!(r.status(), 502);
    bodies.push(r.text().await.expect("body"));

    // Overnight expiry, discovered by the feed, then by verify.
    env.fault(Fault::ExpireToken);
    env.fault(Fault::Drop);
    assert!(wait_auth(&env, "expired", S30).await);
    bodies.push(verify(&env).await.to_string());
    bodies.extend(snapshot_bodies(&env).await);
    while let Some(v) = c.next_within(Duration::from_millis(100)).await {
        bodies.push(v.to_string());
    }
    env.shutdown().await;

    let log = capture.text();
    // The capture really holds the run (so the absence checks below mean something).
    for expected in [
        "access token loaded",
        "login completed",
        "token file changed",
        "REST fallback started",
        "log in at",
    ] {
        assert!(log.contains(expected), "log lacks {expected:?}");
    }
    assert!(secrets.len() >= 6, "{} secrets collected", secrets.len());
    assert_no_secret(&log, &secrets, "the log");
    for b in &bodies {
        assert_no_secret(b, &secrets, "a response body");
    }
    eprintln!(
        "secrets: {} log bytes and {} bodies checked against {} secrets",
        log.len(),
        bodies.len(),
        secrets.len()
    );
}

// ----------------------------------------------------------------------------------------------
// 7. Pre-market token check

#[tokio::test(start_paused = true)]
async fn the_pre_market_check_finds_an_expired_token_before_the_feed_starts() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T08:45:00+05:30")
        .start()
        .await;
    let start = Instant::now();
    let at = |hh_mm_ss: &str| {
        let t = chrono::NaiveTime::parse_from_str(hh_mm_ss, "%H:%M:%S").expect("time");
        let from = chrono::NaiveTime::from_hms_opt(8, 45, 0).expect("08:45");
        start + (t - from).to_std().expect("after 08:45")
    };
    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN"]).await;
    assert!(wait_auth(&env, "valid", S5).await, "validated at start-up");
    assert_eq!(env.health().await["feed"]["should_run"], false);
    // The closed-hours snapshot (a REST quote) is done first: a quote call rejected with the
    // dead token would find it before the check does, which is right but not what this tests.
    assert!(
        next_tick_from(&mut c, "rest", S5).await.is_some(),
        "a closed-hours snapshot"
    );

    // The token dies during the night's last minutes; nobody notices until the check.
    env.fault(Fault::ExpireToken);
    tokio::time::sleep_until(at("08:49:50")).await;
    assert_eq!(auth_state(&env).await, "valid", "no check before 08:50");
    assert!(
        wait_until(Duration::from_secs(60), || async {
            auth_state(&env).await == "expired"
        })
        .await,
        "the 08:50 check finds it"
    );
    let found_at = env.health().await["market"]["now"].clone();
    assert!(Instant::now() < at("08:51:00"), "found at {found_at}");
    let h = env.health().await;
    assert_eq!(h["priority_status"], "AUTH_REQUIRED", "{h}");
    assert_eq!(upgrade_attempts(&env), 0);

    tokio::time::sleep_until(at("08:54:59")).await;
    assert_eq!(upgrade_attempts(&env), 0, "no attempt before 08:55");
    // When the feed is due, a token already known to be rejected is not tried.
    tokio::time::sleep_until(at("09:00:00")).await;
    let s = env.sim_state().upgrades;
    assert_eq!(
        s.accepted + s.refused.total(),
        0,
        "no WebSocket attempt with a rejected token after 08:55: {s:?}"
    );
    assert_eq!(auth_state(&env).await, "expired");
    eprintln!("pre-market: expiry found at {found_at}");

    // The morning login: the feed starts with the new token at once.
    login(&env, LoginChecks::Browser).await;
    assert!(wait_auth(&env, "valid", S5).await);
    assert!(
        wait_until(S30, || async { env.sim_state().upgrades.accepted == 1 }).await,
        "connected after the login: {:?}",
        env.sim_state().upgrades
    );
    assert!(
        next_tick_from(&mut c, "ws", Duration::from_secs(10))
            .await
            .is_some()
    );
    assert_eq!(env.sim_state().upgrades.refused.total(), 0);
    env.shutdown().await;
}

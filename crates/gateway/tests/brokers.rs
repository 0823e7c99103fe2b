//! The same scenarios against both brokers (issue 7): the gateway speaks Kite's ticker or
//! Fyers' HSM data socket to the in-process simulator, and clients must not be able to tell
//! which, apart from instrument tokens. Each scenario is one `async fn` taking the broker, run
//! once per broker (`<scenario>::kite`, `<scenario>::fyers`); the protocol/JSON comparison runs
//! both brokers in one test and compares them directly.
//!
//! Everything runs in paused time, so recovery times are measured exactly (and printed: run
//! with `--nocapture` to see them); waiting is always "until a condition holds or a deadline
//! passes", except [`let_time_pass`], which shows that something does *not* happen.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Broker, Capture, Env, EnvBuilder, LoginChecks, WAIT, WsClient, assert_no_secret, auth_state,
    client, everything_the_binary_may_log, let_time_pass, login, next_matching, next_tick,
    next_tick_from, received, served_bodies, sim_until, snapshot_after_ack, stored_token,
    stored_token_file, subscribe, through_stall, tick_after, token_path, wait_auth, wait_until,
};
use feedgate_gateway::upstream::FeedEvent;
use feedgate_gateway::upstream::state::Disconnect;
use feedgate_sim::Fault;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

const S30: Duration = Duration::from_secs(30);

/// Runs a scenario once per broker, as `<scenario>::kite` and `<scenario>::fyers`.
macro_rules! for_both_brokers {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            #[tokio::test(start_paused = true)]
            async fn kite() {
                super::$scenario(Broker::Kite).await;
            }

            #[tokio::test(start_paused = true)]
            async fn fyers() {
                super::$scenario(Broker::Fyers).await;
            }
        }
    )*};
}

for_both_brokers!(
    a_late_subscriber_gets_a_snapshot_right_after_its_ack,
    a_drop_reconnects_resubscribes_and_ticks_resume,
    a_stall_is_detected_and_replaced,
    an_expired_token_requires_a_login_without_a_websocket_storm,
    a_refused_socket_falls_back_to_rest_and_comes_back,
    a_malformed_frame_is_skipped_on_the_same_connection,
);

// ----------------------------------------------------------------------------------------------
// Helpers

async fn env(broker: Broker) -> Env {
    EnvBuilder::new().broker(broker).start().await
}

/// Waits for a tick of `symbol` whose price or volume differs from the first one seen, i.e.
/// a real market update that just arrived.
async fn fresh_update(c: &mut WsClient, symbol: &str) -> Value {
    let first = next_tick(c, symbol, WAIT).await.expect("a tick");
    loop {
        let t = next_tick(c, symbol, WAIT).await.expect("ticks");
        if t["data"]["ltp"] != first["data"]["ltp"]
            || t["data"]["volume"] != first["data"]["volume"]
        {
            return t;
        }
    }
}

/// Waits until the simulator shows exactly one broker socket subscribed to `want`.
async fn wait_subscribed(env: &Env, want: &[String]) -> bool {
    wait_until(WAIT, || {
        let ok = env.upstream_subscriptions() == [want.to_vec()];
        async move { ok }
    })
    .await
}

/// The structure of a JSON value: object keys (recursively) and value kinds, not values.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// Every key path of a JSON document (`feed.state`, `upstream.shards[].reconnects`), for
/// documents whose values may legitimately be null for one broker and set for the other (a
/// Fyers token carries its expiry, so `auth.expiry_hint` is known from the start).
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = format!("{prefix}{k}");
                out.insert(path.clone());
                key_paths(v, &format!("{path}."), out);
            }
        }
        Value::Array(a) => {
            for v in a.iter().take(1) {
                key_paths(v, &format!("{prefix}[]."), out);
            }
        }
        _ => {}
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(v, "", &mut out);
    out
}

// ----------------------------------------------------------------------------------------------
// 1. Same protocol, symbols and JSON for both brokers

/// What a client sees from one broker: the acks, the shape of the first ticker per symbol and
/// mode, a few values, and the health document's shape.
#[derive(Debug)]
struct Seen {
    acks: Vec<Value>,
    shapes: BTreeMap<String, Value>,
    tokens: BTreeMap<String, u64>,
    health: BTreeSet<String>,
    ws_status: BTreeSet<String>,
}

async fn observe(broker: Broker) -> Seen {
    let env = env(broker).await;
    // Fyers-style input on purpose: both brokers answer with the canonical symbols.
    let mut full = client(&env).await;
    let ack_full = subscribe(&mut full, &["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"], "full").await;
    let mut quote = client(&env).await;
    let ack_quote = subscribe(&mut quote, &["NSE:INFY", "BANKNIFTY"], "quote").await;
    let mut ltp = client(&env).await;
    let ack_ltp = subscribe(&mut ltp, &["NSE:RELIANCE", "NSE:NOPE"], "ltp").await;

    let mut shapes = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for (c, mode, symbols) in [
        (&mut full, "full", ["NSE:SBIN", "NSE:NIFTY 50"]),
        (&mut quote, "quote", ["NSE:INFY", "NSE:NIFTY BANK"]),
    ] {
        for symbol in symbols {
            // The live feed's tick (a REST snapshot may come first for a new instrument).
            let t = next_matching(c, WAIT, |v| {
                v["type"] == "ticker" && v["data"]["symbol"] == symbol && v["data"]["src"] == "ws"
            })
            .await
            .unwrap_or_else(|| panic!("{broker:?}: a {mode} tick for {symbol}"));
            shapes.insert(format!("{symbol} {mode}"), shape(&t));
            tokens.insert(symbol.to_string(), t["data"]["token"].as_u64().unwrap());
            if symbol == "NSE:SBIN" {
                let d = &t["data"];
                let (bid, ask, ltp) = (d["bid"].as_f64(), d["ask"].as_f64(), d["ltp"].as_f64());
                assert!(
                    bid.is_some() && ask.is_some() && ltp.is_some(),
                    "{broker:?}: {t}"
                );
                assert_eq!(d["depth"]["buy"].as_array().map(Vec::len), Some(5), "{t}");
                assert_eq!(d["depth"]["sell"].as_array().map(Vec::len), Some(5), "{t}");
            }
        }
    }
    let t = next_matching(&mut ltp, WAIT, |v| {
        v["type"] == "ticker" && v["data"]["symbol"] == "NSE:RELIANCE" && v["data"]["src"] == "ws"
    })
    .await
    .expect("ltp tick");
    shapes.insert("NSE:RELIANCE ltp".into(), shape(&t));
    let health = env.health().await;
    assert_eq!(health["feed"]["state"], "connected", "{broker:?}: {health}");
    assert_eq!(health["feed"]["subscribed"], 5, "{broker:?}: {health}");
    let ws_status = env.ws_status().await;
    if broker == Broker::Fyers {
        // The data socket as the spec wants it used: no Authorization header on the upgrade, a
        // login before anything else, acknowledgements at the server's pace, pings.
        assert!(
            sim_until(&env, WAIT, |s| s.fyers.acks_received > 0).await,
            "the gateway acknowledges data frames"
        );
        let st = env.sim_state().fyers;
        assert_eq!(st.connections.len(), 1);
        let conn = &st.connections[0];
        assert!(conn.authenticated && !conn.authorization_header, "{conn:?}");
        assert_eq!(st.ack_violations, 0);
        assert!(st.pings_received >= 1, "pings: {}", st.pings_received);
        assert_eq!(st.bad_frames_received, 0);
    }
    env.shutdown().await;
    Seen {
        acks: vec![ack_full, ack_quote, ack_ltp],
        shapes,
        tokens,
        health: keys(&health),
        ws_status: keys(&ws_status),
    }
}

#[tokio::test(start_paused = true)]
async fn both_brokers_give_clients_the_same_protocol_symbols_and_json() {
    let kite = observe(Broker::Kite).await;
    let fyers = observe(Broker::Fyers).await;
    assert_eq!(kite.acks, fyers.acks, "acks are identical");
    assert_eq!(
        kite.acks[0]["symbols"],
        json!(["NSE:SBIN", "NSE:NIFTY 50"]),
        "canonical symbols"
    );
    assert_eq!(kite.acks[2]["rejected"][0]["symbol"], "NSE:NOPE");
    for (key, shape) in &kite.shapes {
        assert_eq!(Some(shape), fyers.shapes.get(key), "ticker shape of {key}");
    }
    assert_eq!(kite.shapes.len(), fyers.shapes.len());
    assert_eq!(kite.health, fyers.health, "health has the same shape");
    assert_eq!(
        kite.ws_status, fyers.ws_status,
        "websocket status has the same shape"
    );
    // Cash instruments even get the same token (Kite's scheme); indices differ, because Fyers
    // numbers them differently (NIFTY 50 is 26000 there, 1001 at Kite).
    assert_eq!(kite.tokens["NSE:SBIN"], 779_521);
    assert_eq!(fyers.tokens["NSE:SBIN"], 779_521);
    assert_eq!(fyers.tokens["NSE:NIFTY 50"], (26_000 << 8) | 9);
    eprintln!(
        "ticker shapes compared: {}",
        kite.shapes.keys().cloned().collect::<Vec<_>>().join(", ")
    );
}

// ----------------------------------------------------------------------------------------------
// 2. Snapshot on subscribe

async fn a_late_subscriber_gets_a_snapshot_right_after_its_ack(broker: Broker) {
    let env = env(broker).await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "quote").await;
    // A real update just arrived, so the next one is at least 0.5 s away.
    let latest = fresh_update(&mut a, "NSE:SBIN").await;

    let mut b = client(&env).await;
    let (snap, took) = snapshot_after_ack(&mut b, "NSE:SBIN-EQ", "b").await;
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert_eq!(snap["data"]["symbol"], "NSE:SBIN");
    assert_eq!(snap["data"]["src"], "ws");
    assert_eq!(
        snap["data"]["ltp"], latest["data"]["ltp"],
        "the latest known value"
    );
    assert_eq!(snap["data"]["volume"], latest["data"]["volume"]);
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 3. drop → reconnect, resubscribe, ticks resume

async fn a_drop_reconnects_resubscribes_and_ticks_resume(broker: Broker) {
    let env = env(broker).await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    subscribe(&mut a, &["NSE:INFY"], "full").await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE"], "quote").await;
    // Fyers streams INFY full as two topics (quote and depth).
    let want_len = match broker {
        Broker::Kite => 3,
        Broker::Fyers => 4,
    };
    assert!(
        wait_until(WAIT, || {
            let subs = env.upstream_subscriptions();
            async move { subs.len() == 1 && subs[0].len() == want_len }
        })
        .await,
        "{:?}",
        env.upstream_subscriptions()
    );
    let before = env.upstream_subscriptions();
    let accepted_before = env.upgrades().0;
    let mut events = env.gw().upstream.subscribe_events();

    fresh_update(&mut probe, "NSE:RELIANCE").await;
    let fault_at = Instant::now();
    env.fault(Fault::Drop);
    let tick = next_tick(&mut probe, "NSE:RELIANCE", Duration::from_secs(10))
        .await
        .expect("ticks resume after a drop");
    let recovery = fault_at.elapsed();
    eprintln!(
        "{}: drop → first tick at the client after {recovery:?} (paused time)",
        broker.name()
    );
    assert!(
        recovery <= Duration::from_millis(1500),
        "recovery took {recovery:?}"
    );
    assert_eq!(tick["data"]["src"], "ws");

    // One new connection with everything resubscribed, in the same modes.
    assert!(
        wait_subscribed(&env, &before[0]).await,
        "{:?}",
        env.upstream_subscriptions()
    );
    assert_eq!(env.upgrades().0, accepted_before + 1);
    let seen = received(&mut events);
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Resubscribed { instruments: 3, .. })),
        "{seen:?}"
    );
    let later = fault_at + Duration::from_secs(1);
    let t = tick_after(&mut a, "NSE:INFY", later).await;
    assert!(t["data"]["depth"].is_object(), "INFY still full: {t}");
    let t = tick_after(&mut a, "NSE:SBIN", later).await;
    assert!(t["data"].get("volume").is_none(), "SBIN still ltp: {t}");
    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 1, "{status}");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 4. stall → detected by the watchdog, replaced

async fn a_stall_is_detected_and_replaced(broker: Broker) {
    let env = env(broker).await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE", "NSE:SBIN"], "quote").await;
    let last = fresh_update(&mut probe, "NSE:RELIANCE").await;
    let mut events = env.gw().upstream.subscribe_events();
    let stall_at = Instant::now();
    env.fault(Fault::Stall { seconds: 30.0 });
    // REST quotes bridge the stall about a second in; the socket is replaced at the liveness
    // timeout (3 s) plus the short delay for a connection that had just started delivering.
    let (bridged, tick, recovery) = through_stall(&mut probe, "NSE:RELIANCE", stall_at).await;
    let bridged = bridged.expect("a REST tick bridged the stall");
    eprintln!(
        "{}: stall → REST tick after {bridged:?}, socket tick after {recovery:?} (paused time)",
        broker.name()
    );
    assert!(
        bridged >= Duration::from_millis(900) && bridged <= Duration::from_millis(2500),
        "the bridge started {bridged:?} into the stall"
    );
    assert!(
        recovery >= Duration::from_millis(2900),
        "a socket tick came through the stalled socket after {recovery:?}"
    );
    assert!(
        recovery <= Duration::from_millis(4000),
        "recovery took {recovery:?}"
    );
    assert!(
        tick["data"]["volume"].as_u64() >= last["data"]["volume"].as_u64(),
        "{tick}"
    );
    let seen = received(&mut events);
    assert!(
        seen.iter().any(|e| matches!(e, FeedEvent::Disconnected {
            reason: Disconnect::Dead { silent_for }, ..
        } if *silent_for >= Duration::from_secs(3) && *silent_for < Duration::from_millis(3500))),
        "{seen:?}"
    );
    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["stalls"], 1, "{status}");
    assert_eq!(env.health().await["feed"]["state"], "connected");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 5. expired token → AUTH_REQUIRED, no WebSocket storm, login brings it back

async fn an_expired_token_requires_a_login_without_a_websocket_storm(broker: Broker) {
    let env = env(broker).await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    assert!(next_tick_from(&mut c, "ws", WAIT).await.is_some());
    assert!(wait_auth(&env, "valid", WAIT).await);
    let (accepted, refused) = env.upgrades();
    assert_eq!((accepted, refused), (1, 0));

    // The token dies overnight and the socket drops.
    env.fault(Fault::ExpireToken);
    env.fault(Fault::Drop);
    let t0 = Instant::now();
    assert!(
        wait_auth(&env, "expired", S30).await,
        "{}",
        env.health().await
    );
    let to_expired = t0.elapsed();
    let h = env.health().await;
    assert_eq!(h["priority_status"], "AUTH_REQUIRED", "{h}");
    assert_eq!(h["auth"]["requires_login"], true, "{h}");
    let told = next_matching(&mut c, WAIT, |v| {
        v["type"] == "connection_status" && v["auth_required"] == true
    })
    .await;
    assert!(told.is_some(), "clients are told a login is needed");

    // Ten quiet minutes: at most the one attempt that discovered the rejection, no polling.
    let quotes = env.quote_requests().0;
    let_time_pass(Duration::from_secs(600)).await;
    let (accepted_after, refused_after) = env.upgrades();
    let dead_attempts = accepted_after + refused_after - (accepted + refused);
    eprintln!(
        "{}: expired token → auth expired after {:.1} s, {dead_attempts} WebSocket attempt(s) with the dead token",
        broker.name(),
        to_expired.as_secs_f64()
    );
    assert!(
        dead_attempts <= 1,
        "at most one attempt with the dead token"
    );
    assert_eq!(
        env.quote_requests().0,
        quotes,
        "no polling with a dead token"
    );
    assert_eq!(auth_state(&env).await, "expired");

    // A new login brings it back, same process.
    login(&env, LoginChecks::Flow).await;
    assert!(wait_auth(&env, "valid", WAIT).await);
    let t1 = Instant::now();
    assert!(
        next_tick_from(&mut c, "ws", Duration::from_secs(10))
            .await
            .is_some(),
        "live again; health: {}",
        env.health().await
    );
    eprintln!(
        "{}: live {:.2} s after the login",
        broker.name(),
        t1.elapsed().as_secs_f64()
    );
    assert_eq!(env.health().await["auth"]["token_source"], "login");
    let stored = stored_token_file(&env).unwrap();
    assert_eq!(stored["broker"], broker.name());
    if broker == Broker::Fyers {
        let token = stored["access_token"].as_str().unwrap();
        assert!(
            token.starts_with(&format!("{}:", env.config.fyers.app_id)),
            "kept as APPID:JWT"
        );
    }
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 6. refused socket → REST fallback with src "rest", then back

async fn a_refused_socket_falls_back_to_rest_and_comes_back(broker: Broker) {
    const MAX_RECONNECTS: u64 = 3;
    let env = EnvBuilder::new()
        .broker(broker)
        .var("FEED_MAX_RECONNECTS", &MAX_RECONNECTS.to_string())
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "4")
        .var("REST_POLL_INTERVAL", "1")
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN", "NIFTY", "NSE:INFY"], "quote").await;
    assert!(next_tick_from(&mut c, "ws", WAIT).await.is_some());

    env.fault(Fault::RejectWs { seconds: 3600.0 });
    env.fault(Fault::Drop);
    let t0 = Instant::now();
    let status = next_matching(&mut c, S30, |v| {
        v["type"] == "connection_status" && v["mode"] == "REST API Polling"
    })
    .await
    .expect("fallback status");
    let to_fallback = t0.elapsed();
    assert_eq!(status["quality"], "DEGRADED", "{status}");
    assert_eq!(
        env.upgrades().1,
        MAX_RECONNECTS,
        "fallback after exactly FEED_MAX_RECONNECTS refusals"
    );
    let first = next_tick_from(&mut c, "rest", WAIT)
        .await
        .expect("a REST tick");
    assert!(first["data"]["ltp"].is_number(), "{first}");
    let h = env.health().await;
    assert_eq!(h["feed"]["using_rest_fallback"], true, "{h}");
    assert_eq!(
        h["auth"]["state"], "valid",
        "a refused socket is not an auth problem"
    );

    // Every instrument keeps updating, within the broker's rate limit.
    let (polls_before, _) = env.quote_requests();
    let mut symbols = BTreeSet::new();
    let mut rest_ticks = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while let Some(v) = next_matching(&mut c, end.saturating_duration_since(Instant::now()), |v| {
        v["type"] == "ticker"
    })
    .await
    {
        assert_eq!(v["data"]["src"], "rest", "only REST while refused: {v}");
        rest_ticks += 1;
        symbols.insert(v["data"]["symbol"].as_str().unwrap_or_default().to_string());
    }
    let (polls_after, rate_limited) = env.quote_requests();
    let polls = polls_after - polls_before;
    assert_eq!(symbols.len(), 3, "every instrument: {symbols:?}");
    assert!(
        rest_ticks >= 20,
        "a steady stream of REST ticks: {rest_ticks}"
    );
    // One batched request per REST_POLL_INTERVAL, plus one whenever a socket retry changes the
    // shard status (the poller re-checks then); Kite's 1 request/s gate hides the latter, Fyers'
    // limit (10/s, 200/min) leaves room for it.
    let most = match broker {
        Broker::Kite => 31,
        Broker::Fyers => 60,
    };
    assert!((20..=most).contains(&polls), "polls: {polls} in 30 s");
    assert_eq!(rate_limited, 0, "never rate limited");

    // The outage ends: back to the socket, polling stops.
    env.fault(Fault::Clear);
    let t1 = Instant::now();
    next_matching(&mut c, S30, |v| {
        v["type"] == "connection_status" && v["mode"] == "WebSocket"
    })
    .await
    .expect("back to WebSocket");
    let to_ws = t1.elapsed();
    assert!(next_tick_from(&mut c, "ws", WAIT).await.is_some());
    let h = env.health().await;
    assert_eq!(h["feed"]["using_rest_fallback"], false, "{h}");
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    eprintln!(
        "{}: fallback {:.1} s after the drop; {rest_ticks} REST ticks from {polls} polls in 30 s; back on the socket {:.1} s after clear",
        broker.name(),
        to_fallback.as_secs_f64(),
        to_ws.as_secs_f64()
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 7. malformed frame → skipped, same connection, the feed continues

async fn a_malformed_frame_is_skipped_on_the_same_connection(broker: Broker) {
    let env = env(broker).await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "full").await;
    let first = fresh_update(&mut c, "NSE:SBIN").await;
    let mut events = env.gw().upstream.subscribe_events();
    let fault_at = Instant::now();
    env.fault(Fault::Malformed);
    let mut last = first["data"]["volume"].as_u64().unwrap();
    let mut after = 0;
    while after < 3 {
        let t = next_tick(&mut c, "NSE:SBIN", WAIT)
            .await
            .expect("the feed continues");
        let volume = t["data"]["volume"].as_u64().unwrap();
        assert!(volume >= last, "{t}");
        last = volume;
        if fault_at.elapsed() >= Duration::from_secs(1) {
            after += 1;
        }
    }
    let st = env.sim_state();
    let sent = match broker {
        Broker::Kite => st.faults.malformed_frames_sent,
        Broker::Fyers => st.fyers.malformed_frames_sent,
    };
    assert_eq!(sent, 1);
    assert_eq!(env.upgrades(), (1, 0), "no reconnect");
    assert!(
        events.try_recv().is_err(),
        "no lifecycle event after a malformed frame"
    );
    let metrics = env.get_text("/metrics").await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("feedgate_upstream_malformed_frames_total") && !l.ends_with(" 0")
        ),
        "the malformed frame was counted"
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// 8. Fyers: no token, JWT, hsm_key, secret, appIdHash or auth code in any log line or body

/// A Fyers token and the parts of it that are credentials on their own.
fn token_secrets(token: &str) -> Vec<String> {
    let parsed = feedgate_fyers::AccessToken::parse(token).expect("a fyers token");
    vec![
        token.to_string(),
        parsed.jwt().expose_secret().to_string(),
        parsed.hsm_key().expose_secret().to_string(),
    ]
}

/// What the gateway serves that could hold a secret: health, socket status, metrics and the
/// answer of an on-demand token check.
async fn bodies_of(env: &Env) -> Vec<String> {
    let mut out = served_bodies(
        env,
        &["/api/system/health", "/api/websocket/status", "/metrics"],
    )
    .await;
    let r = env.post("/api/system/health/auth/verify").await;
    out.push(r.text().await.expect("body"));
    out
}

#[tokio::test(start_paused = true)]
async fn fyers_secrets_never_reach_a_log_line_or_a_response() {
    let capture = Capture::default();
    // The most verbose filter `feedgate serve` can run with; global, so every task is seen.
    capture
        .install(everything_the_binary_may_log())
        .expect("the only test in this binary that installs a subscriber");

    let env = EnvBuilder::new()
        .broker(Broker::Fyers)
        .var("FEED_MAX_RECONNECTS", "2")
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "2")
        .var("REST_POLL_INTERVAL", "1")
        .start()
        .await;
    let app_id = env.config.fyers.app_id.clone();
    let app_secret = env.config.fyers.secret_id.expose_secret().to_string();
    let hash = feedgate_fyers::rest::app_id_hash(&app_id, &env.config.fyers.secret_id);
    let mut secrets = vec![app_secret, hash.expose_secret().to_string()];
    secrets.extend(token_secrets(env.minted_token.as_deref().unwrap()));
    let mut bodies = Vec::new();
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN", "NIFTY"], "full").await;
    assert!(next_tick_from(&mut c, "ws", WAIT).await.is_some());
    bodies.extend(bodies_of(&env).await);

    // A login: auth code, then a new token.
    secrets.push(login(&env, LoginChecks::Flow).await.code);
    assert!(wait_auth(&env, "valid", WAIT).await);
    secrets.extend(token_secrets(&stored_token(&env).unwrap()));
    assert!(
        next_tick_from(&mut c, "ws", Duration::from_secs(10))
            .await
            .is_some()
    );

    // A forged callback carrying a real-looking code, and a failed exchange.
    for q in [
        "s=ok&auth_code=forged-code-1",
        "s=ok&auth_code=forged-code-2&state=x",
    ] {
        let r = env.get(&format!("/api/auth/callback?{q}")).await;
        bodies.push(r.text().await.expect("body"));
    }

    // REST fallback and back.
    env.fault(Fault::RejectWs { seconds: 600.0 });
    env.fault(Fault::Drop);
    assert!(
        next_matching(&mut c, S30, |v| v["mode"] == "REST API Polling")
            .await
            .is_some()
    );
    assert!(next_tick_from(&mut c, "rest", WAIT).await.is_some());
    bodies.extend(bodies_of(&env).await);
    env.fault(Fault::Clear);
    assert!(next_tick_from(&mut c, "ws", S30).await.is_some());

    // Expiry discovered by the feed.
    env.fault(Fault::ExpireToken);
    env.fault(Fault::Drop);
    assert!(wait_auth(&env, "expired", S30).await);
    bodies.extend(bodies_of(&env).await);
    while let Some(v) = c.next_within(Duration::from_millis(100)).await {
        bodies.push(v.to_string());
    }
    env.shutdown().await;

    let log = capture.text();
    for expected in [
        "access token loaded",
        "login completed",
        "REST fallback started",
        "connected to the broker feed",
    ] {
        assert!(log.contains(expected), "log lacks {expected:?}");
    }
    for s in &secrets {
        assert!(s.len() >= 6, "a real secret: {} bytes", s.len());
    }
    assert_no_secret(&log, &secrets, "the log");
    for b in &bodies {
        assert_no_secret(b, &secrets, "a body");
    }
    eprintln!(
        "fyers secrets: {} log bytes and {} bodies checked against {} secrets",
        log.len(),
        bodies.len(),
        secrets.len()
    );
}

// ----------------------------------------------------------------------------------------------
// 9. Fyers: FYERS_TOKEN_FILE overrides the token file's place

#[tokio::test(start_paused = true)]
async fn fyers_token_file_moves_where_fyers_token_file_says() {
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("tokens").join("fyers.json");
    let env = EnvBuilder::new()
        .broker(Broker::Fyers)
        .token(common::TokenSetup::None)
        .var("FYERS_TOKEN_FILE", &path.display().to_string())
        .start()
        .await;
    assert!(wait_auth(&env, "required", WAIT).await);
    assert_eq!(env.upgrades(), (0, 0), "no token, no socket");

    // A token dropped in at the configured place (a bare `APPID:JWT` line) is picked up.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{}\n", env.mint_token())).unwrap();
    assert!(
        wait_auth(&env, "valid", S30).await,
        "{}",
        env.health().await
    );
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "ltp").await;
    assert!(next_tick_from(&mut c, "ws", WAIT).await.is_some());

    // A login is saved there too, not in the data directory.
    login(&env, LoginChecks::Flow).await;
    assert!(wait_auth(&env, "valid", WAIT).await);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["broker"], "fyers");
    assert!(!token_path(&env).exists());
    env.shutdown().await;
}

//! Fault injection over the wire: drop, stall, expire_token, reject_ws, malformed,
//! heartbeat_flood, rest_429, clear, and the control API's answers to bad requests.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_kite::{CodecError, Message as KiteMessage, parse_message};
use feedgate_sim::Fault;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

async fn post_fault(sim: &TestSim, body: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/_sim/fault", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn subscribed(sim: &TestSim, token: u32) -> Ws {
    let mut ws = connect(sim).await;
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{token}]}}"#)).await;
    next_packets(&mut ws).await;
    ws
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn drop_aborts_every_connection_without_a_close_frame() {
    let sim = start_default().await;
    let mut a = subscribed(&sim, INFY).await;
    let mut b = connect(&sim).await;
    let (status, body) = post_fault(&sim, r#"{"kind":"drop"}"#).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)));
    for ws in [&mut a, &mut b] {
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
                Some(Ok(Message::Close(frame))) => panic!("got a close frame {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )))
                | None => break,
                Some(Err(tungstenite::Error::Io(_))) => break,
                Some(Err(other)) => panic!("unexpected error {other}"),
            }
        }
    }
    wait_for("connections to be released", || {
        sim.state().connections.is_empty()
    })
    .await;
    assert_eq!(sim.state().faults.drops, 1);
    // New connections are served as usual.
    subscribed(&sim, SBIN).await;
}

#[tokio::test(start_paused = true)]
async fn stall_silences_the_open_sockets_only_then_they_resume() {
    let sim = start_default().await;
    let mut old = subscribed(&sim, INFY).await;
    let stalled_at = Instant::now();
    sim.fault(Fault::Stall { seconds: 5.0 }).unwrap();

    // A connection opened during the stall is served normally: snapshot and heartbeats.
    let mut fresh = subscribed(&sim, SBIN).await;
    match next(&mut fresh).await {
        Message::Binary(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    let state = sim.state();
    assert_eq!(
        state.faults.stalled_connections,
        vec![state.connections[0].id]
    );
    assert!(state.connections[0].stalled && !state.connections[1].stalled);

    // The old one hears nothing (not even a heartbeat) until the stall ends.
    let first = next(&mut old).await;
    let silent_for = stalled_at.elapsed();
    assert!(
        silent_for >= Duration::from_secs(5),
        "data after {silent_for:?}: {first:?}"
    );
    assert!(
        silent_for < Duration::from_millis(5_200),
        "resumed late: {silent_for:?}"
    );
    // And then streams again.
    let (_, packets) = next_packets(&mut old).await;
    assert_eq!(packets[0].token(), INFY);
    assert!(sim.state().faults.stalled_connections.is_empty());
}

#[tokio::test(start_paused = true)]
async fn clear_ends_a_stall_and_a_ws_rejection_early() {
    let sim = start_default().await;
    let mut ws = subscribed(&sim, INFY).await;
    sim.fault(Fault::Stall { seconds: 60.0 }).unwrap();
    sim.fault(Fault::RejectWs { seconds: 60.0 }).unwrap();
    let token = sim.mint_access_token();
    assert_eq!(
        try_connect(&ticker_url(&sim, &token)).await.err(),
        Some(403)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cleared_at = Instant::now();
    let (status, _) = post_fault(&sim, r#"{"kind":"clear"}"#).await;
    assert_eq!(status, 200);
    next(&mut ws).await;
    assert!(
        cleared_at.elapsed() < Duration::from_secs(1),
        "stall not cleared"
    );
    try_connect(&ticker_url(&sim, &token)).await.unwrap();
    let state = sim.state();
    assert_eq!(state.faults.clears, 1);
    assert_eq!(state.faults.reject_ws_remaining_seconds, None);
}

#[tokio::test]
async fn expire_token_refuses_new_upgrades_and_rest_but_open_sockets_stream_on() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let mut ws = try_connect(&ticker_url(&sim, &token)).await.unwrap();
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{INFY}]}}"#)).await;
    next_packets(&mut ws).await;

    let (status, _) = post_fault(&sim, r#"{"kind":"expire_token"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        try_connect(&ticker_url(&sim, &token)).await.err(),
        Some(403)
    );
    let profile = http()
        .get(format!("{}/user/profile", sim.base_url()))
        .header("authorization", auth_header(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status().as_u16(), 403);
    let body: Value = profile.json().await.unwrap();
    assert_eq!(body["error_type"], "TokenException");

    // The open connection keeps streaming, as Kite's does.
    let (_, packets) = next_packets(&mut ws).await;
    assert_eq!(packets[0].token(), INFY);
    // A new token works.
    let fresh = sim.mint_access_token();
    try_connect(&ticker_url(&sim, &fresh)).await.unwrap();
    let state = sim.state();
    assert_eq!(state.faults.token_expiries, 1);
    assert_eq!(state.tokens.iter().filter(|t| t.valid).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn reject_ws_refuses_upgrades_for_its_duration_while_rest_works() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let (status, _) = post_fault(&sim, r#"{"kind":"reject_ws","seconds":3}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        try_connect(&ticker_url(&sim, &token)).await.err(),
        Some(403)
    );
    let remaining = sim.state().faults.reject_ws_remaining_seconds.unwrap();
    assert!(remaining > 2.5 && remaining <= 3.0, "{remaining}");
    let profile = http()
        .get(format!("{}/user/profile", sim.base_url()))
        .header("authorization", auth_header(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    try_connect(&ticker_url(&sim, &token)).await.unwrap();
    assert_eq!(sim.state().upgrades.refused.reject_ws, 1);
}

#[tokio::test]
async fn malformed_sends_one_undecodable_frame_and_keeps_streaming() {
    let sim = start_default().await;
    let mut ws = subscribed(&sim, INFY).await;
    sim.fault(Fault::Malformed).unwrap();
    let garbage = loop {
        if let Message::Binary(frame) = next(&mut ws).await {
            let Ok(KiteMessage::Packets(mut packets)) = parse_message(&frame) else {
                continue;
            };
            if let Some(Err(error)) = packets.find(Result::is_err) {
                break error;
            }
        }
    };
    assert!(
        matches!(garbage, CodecError::Truncated { .. }),
        "{garbage:?}"
    );
    let (_, packets) = next_packets(&mut ws).await;
    assert_eq!(packets[0].token(), INFY);
    assert_eq!(sim.state().faults.malformed_frames_sent, 1);
}

#[tokio::test]
async fn control_api_rejects_bad_requests_with_the_accepted_kinds() {
    let sim = start_default().await;
    for body in [
        "not json",
        r#"{"kind":"explode"}"#,
        r#"{"kind":"stall"}"#,
        r#"{"kind":"stall","seconds":-1}"#,
        r#"{"kind":"reject_ws","seconds":1e12}"#,
        r#"{"kind":"heartbeat_flood"}"#,
        r#"{"kind":"heartbeat_flood","seconds":-1}"#,
        r#"{"kind":"rest_429"}"#,
        r#"{"kind":"rest_429","seconds":-1}"#,
        r#"{"kind":"rest_429","seconds":0}"#,
    ] {
        let (status, answer) = post_fault(&sim, body).await;
        assert_eq!(status, 400, "{body}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains(r#"{"kind":"drop"}"#)
                && message.contains(r#"{"kind":"heartbeat_flood","seconds":S}"#)
                && message.contains(r#"{"kind":"rest_429","seconds":S}"#),
            "{body}: {message}"
        );
    }
    let state = sim.state();
    assert_eq!(
        (state.faults.heartbeat_floods, state.faults.rest_429),
        (0, 0)
    );
    let missing = http()
        .get(format!("{}/_sim/nope", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(matches!(
        sim.fault(Fault::Stall { seconds: f64::NAN }),
        Err(feedgate_sim::SimError::InvalidFault(_))
    ));
}

#[tokio::test]
async fn state_and_token_endpoints() {
    let sim = start_default().await;
    let minted: Value = http()
        .post(format!("{}/_sim/token", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["access_token"].as_str().unwrap().to_owned();
    let mut ws = try_connect(&ticker_url(&sim, &token)).await.unwrap();
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{INFY},{NIFTY}]}}"#),
    )
    .await;
    send_text(
        &mut ws,
        &format!(r#"{{"a":"mode","v":["full",[{NIFTY}]]}}"#),
    )
    .await;
    wait_for("two subscriptions", || {
        sim.state()
            .connections
            .first()
            .is_some_and(|c| c.subscriptions.len() == 2 && c.ticks_sent >= 3)
    })
    .await;
    let text = http()
        .get(format!("{}/_sim/state", sim.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains(&token),
        "state must never show token strings"
    );
    let state: feedgate_sim::SimState = serde_json::from_str(&text).unwrap();
    let conn = &state.connections[0];
    assert_eq!(conn.api_key, API_KEY);
    assert_eq!(
        serde_json::to_value(&conn.subscriptions).unwrap(),
        json!([{"token": NIFTY, "mode": "full"}, {"token": INFY, "mode": "quote"}])
    );
    assert_eq!(state.tokens.len(), 1);
    assert!(state.ticks_sent >= 3 && state.frames_sent >= 2);
    assert_eq!(state.upgrades.accepted, 1);
}

#[tokio::test]
async fn control_router_can_be_nested_in_another_server() {
    let sim = start_default().await;
    let app = axum::Router::new().nest("/_sim", sim.control_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let minted: Value = http()
        .post(format!("http://{addr}/_sim/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["access_token"].as_str().unwrap();
    try_connect(&ticker_url(&sim, token)).await.unwrap();
    let response = http()
        .post(format!("http://{addr}/_sim/fault"))
        .body(r#"{"kind":"expire_token"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(try_connect(&ticker_url(&sim, token)).await.err(), Some(403));
}

/// A connection subscribed to four instruments (each updates about once a second, so together
/// they tick several times a second).
async fn subscribed_to_four(sim: &TestSim) -> Ws {
    let mut ws = connect(sim).await;
    let tokens = format!("{INFY},{SBIN},{NIFTY},{RELIANCE}");
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{tokens}]}}"#)).await;
    next_packets(&mut ws).await;
    ws
}

/// Reads `ws` until its first tick packet after the flood's first heartbeat; returns the
/// heartbeats heard before it. Tick frames already on their way when the flood began may come
/// first; after a heartbeat, nothing but heartbeats may come until the flood ends.
async fn heartbeats_until_ticks_resume(ws: &mut Ws) -> u64 {
    let mut heartbeats = 0;
    loop {
        let Message::Binary(frame) = next(ws).await else {
            continue;
        };
        if frame.len() == 1 {
            heartbeats += 1;
        } else if heartbeats > 0 && !decode(&frame).is_empty() {
            return heartbeats;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_flood_sends_heartbeats_and_no_ticks_then_ticks_resume() {
    let sim = start_default().await;
    let mut ws = subscribed_to_four(&sim).await;
    let flooded_at = Instant::now();
    let (status, body) = post_fault(&sim, r#"{"kind":"heartbeat_flood","seconds":3}"#).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)));
    let state = sim.state();
    assert_eq!(
        state.faults.flooding_connections,
        vec![state.connections[0].id]
    );
    assert!(state.connections[0].flooding && !state.connections[0].stalled);

    let heartbeats = heartbeats_until_ticks_resume(&mut ws).await;
    let resumed_after = flooded_at.elapsed();
    assert!(
        resumed_after >= Duration::from_secs(3),
        "ticks after {resumed_after:?}"
    );
    // Four instruments updating about once a second each: ticks come soon after the end.
    assert!(
        resumed_after < Duration::from_secs(5),
        "resumed late: {resumed_after:?}"
    );
    // 500 a second, give or take the frames on either edge; bounded, not a spin.
    assert!(
        (1_000..=3_100).contains(&heartbeats),
        "{heartbeats} heartbeats"
    );
    let state: Value = http()
        .get(format!("{}/_sim/state", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["faults"]["heartbeat_floods"], 1);
    assert_eq!(state["faults"]["flooding_connections"], json!([]));
    let flood_heartbeats = state["faults"]["flood_heartbeats_sent"].as_u64().unwrap();
    // The client may also have heard an idle heartbeat at either edge of the flood.
    assert!(
        flood_heartbeats.abs_diff(heartbeats) <= 2,
        "{flood_heartbeats} sent, {heartbeats} heard"
    );
    assert!(state["heartbeats_sent"].as_u64().unwrap() >= flood_heartbeats);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_flood_spares_new_connections_and_clear_ends_it() {
    let sim = start_default().await;
    let mut old = subscribed_to_four(&sim).await;
    sim.fault(Fault::HeartbeatFlood { seconds: 60.0 }).unwrap();
    // A connection opened during the flood gets its snapshot and then live ticks.
    let mut fresh = subscribed(&sim, SBIN).await;
    let (_, packets) = next_packets(&mut fresh).await;
    assert_eq!(packets[0].token(), SBIN);
    let state = sim.state();
    assert_eq!(
        state.faults.flooding_connections,
        vec![state.connections[0].id]
    );
    assert!(!state.connections[1].flooding);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let cleared_at = Instant::now();
    sim.fault(Fault::Clear).unwrap();
    assert!(sim.state().faults.flooding_connections.is_empty());
    // The old connection's backlog is heartbeats only; then ticks come again.
    assert!(heartbeats_until_ticks_resume(&mut old).await > 0);
    assert!(
        cleared_at.elapsed() < Duration::from_secs(2),
        "flood not cleared"
    );
    next_packets(&mut old).await;
}

async fn quote(sim: &TestSim, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}{path}", sim.base_url()))
        .header("authorization", auth_header(token))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn rest_429_refuses_every_quote_call_for_its_duration_then_recovers() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let (status, body) = post_fault(&sim, r#"{"kind":"rest_429","seconds":2}"#).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)));
    for path in [
        "/quote?i=NSE:INFY",
        "/quote/ltp?i=NSE:INFY",
        "/quote/ohlc?i=NSE:INFY",
    ] {
        let (status, body) = quote(&sim, path, &token).await;
        assert_eq!(status, 429, "{path}");
        assert_eq!(
            body,
            json!({"status":"error","message":"Too many requests",
                   "error_type":"NetworkException","data":null}),
            "{path}"
        );
    }
    // Other REST calls are not rate-limited by the fault.
    let (status, _) = quote(&sim, "/user/profile", &token).await;
    assert_eq!(status, 200);
    let remaining = sim.state().faults.rest_429_remaining_seconds.unwrap();
    assert!(remaining > 1.5 && remaining <= 2.0, "{remaining}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = quote(&sim, "/quote/ltp?i=NSE:INFY", &token).await;
    assert_eq!(status, 200, "{body}");
    // The 1/s limit is back in force, and its 429s are counted with the fault's.
    let (status, _) = quote(&sim, "/quote/ltp?i=NSE:INFY", &token).await;
    assert_eq!(status, 429);

    let state: Value = http()
        .get(format!("{}/_sim/state", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["rest_429s"], 4);
    assert_eq!(state["quote_rate_limited"], 1);
    assert_eq!(state["quotes_served"], 1);
    assert_eq!(state["quote_requests"], 5);
    assert_eq!(state["faults"]["rest_429"], 1);
    assert_eq!(state["faults"]["rest_429_remaining_seconds"], Value::Null);
}

#[tokio::test(start_paused = true)]
async fn clear_ends_rest_429_early() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    sim.fault(Fault::Rest429 { seconds: 600.0 }).unwrap();
    let (status, _) = quote(&sim, "/quote?i=NSE:INFY", &token).await;
    assert_eq!(status, 429);
    sim.fault(Fault::Clear).unwrap();
    let (status, _) = quote(&sim, "/quote?i=NSE:INFY", &token).await;
    assert_eq!(
        status, 200,
        "a fault's 429 must not use up the rate-limit slot"
    );
    let state = sim.state();
    assert_eq!((state.rest_429s, state.quotes_served), (1, 1));
    assert_eq!(state.faults.rest_429_remaining_seconds, None);
}

//! The client protocol's edges, over real sockets against the in-process simulator: bad input
//! (invalid JSON, unknown actions, binary frames, oversized or over-long requests) gets an
//! error and the connection stays usable; a flooding client is closed with 1008 and others
//! are unaffected; a message over the hard size cap is answered (not just dropped); and every
//! ack carries `rejected`.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EnvBuilder, WAIT, WsClient, client, next_tick, subscribe, wait_until};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------------
// Bad input gets an error and the connection stays; a flood is disconnected with 1008
// ---------------------------------------------------------------------------------------------

async fn expect_error(c: &mut WsClient, code: &str) -> Value {
    let e = c.next_of("error", WAIT).await.expect("an error message");
    assert_eq!(e["code"], code, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.len() > 10), "{e}");
    e
}

async fn still_usable(c: &mut WsClient, id: u64) {
    c.send(json!({"action": "ping", "id": id})).await;
    let pong = c.next_of("pong", WAIT).await.expect("pong");
    assert_eq!(pong, json!({"type": "pong", "id": id}));
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_an_error_and_the_connection_stays_usable() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;

    c.send_raw("{not json").await;
    expect_error(&mut c, "invalid_json").await;
    still_usable(&mut c, 1).await;

    c.send(json!({"action": "dance", "id": "d"})).await;
    let e = expect_error(&mut c, "unknown_action").await;
    assert_eq!(e["id"], "d");
    still_usable(&mut c, 2).await;

    c.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    expect_error(&mut c, "unsupported_frame").await;
    still_usable(&mut c, 3).await;

    let many: Vec<String> = (0..3001).map(|i| format!("NSE:S{i}")).collect();
    c.send(json!({"action": "subscribe", "symbols": many, "id": 9}))
        .await;
    let e = expect_error(&mut c, "too_many_symbols").await;
    assert_eq!(e["id"], 9);
    still_usable(&mut c, 5).await;

    c.send(json!({"action": "subscribe", "symbols": ["NSE:SBIN"], "mode": "fast", "id": 10}))
        .await;
    let e = expect_error(&mut c, "bad_request").await;
    assert_eq!(e["id"], 10);
    c.send_raw("ping").await;
    assert_eq!(
        c.next_of("pong", WAIT).await.unwrap(),
        json!({"type": "pong"})
    );

    // After all that, it still subscribes and streams.
    let ack = subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    assert_eq!(ack["count"], 1);
    assert!(next_tick(&mut c, "NSE:SBIN", WAIT).await.is_some());
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_flooding_client_is_closed_with_1008_and_others_are_unaffected() {
    let env = EnvBuilder::new().start().await;
    let mut calm = client(&env).await;
    subscribe(&mut calm, &["NSE:SBIN"], "quote").await;
    let mut flood = client(&env).await;
    // Far beyond the rate limit (20/s, bursts of 100) at one instant; the gateway may close
    // the socket before all of them are written.
    for i in 0..600 {
        if flood
            .ws
            .send(Message::text(
                json!({"action": "ping", "id": i}).to_string(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut rate_limited = false;
    let close = loop {
        let v = flood.next_within(WAIT).await.expect("a close frame");
        if v["type"] == "error" && v["code"] == "rate_limited" {
            rate_limited = true;
        }
        if v["type"] == "close" {
            break v;
        }
    };
    assert_eq!(close["code"], 1008, "{close}");
    assert!(
        rate_limited,
        "the client was told before being disconnected"
    );

    still_usable(&mut calm, 1).await;
    assert!(next_tick(&mut calm, "NSE:SBIN", WAIT).await.is_some());
    assert!(
        wait_until(WAIT, || async { env.ws_status().await["connections"] == 1 }).await,
        "{}",
        env.ws_status().await
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The hard size cap; `rejected` in every ack
// ---------------------------------------------------------------------------------------------

/// A message over the 64 KiB cap (DESIGN.md §10) cannot be skipped by the WebSocket reader, so the
/// connection ends — but with an `error` saying why and a close 1009 with a reason, not a
/// silent drop (1006). Other clients are unaffected.
#[tokio::test(start_paused = true)]
async fn a_message_over_the_hard_cap_gets_an_error_and_close_1009() {
    let env = EnvBuilder::new().start().await;
    let c = client(&env).await;
    let (mut tx, mut rx) = c.ws.split();
    // The server stops reading at the header; send from its own task so a full socket buffer
    // cannot block the reads below.
    let sender = tokio::spawn(async move {
        let _ = tx.send(Message::text("x".repeat(70_000))).await;
        tx
    });
    let mut error = None;
    let mut close = None;
    while let Ok(Some(msg)) = tokio::time::timeout(WAIT, rx.next()).await {
        match msg {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "error" {
                    error = Some(v);
                }
            }
            Ok(Message::Close(frame)) => {
                close = frame;
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("connection dropped without a close frame: {e} (error: {error:?})"),
        }
    }
    let error = error.expect("an error message before the close");
    assert_eq!(error["code"], "frame_too_large", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("65536") && message.contains("split"),
        "names the limit and the fix: {message}"
    );
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009);
    assert!(!close.reason.is_empty(), "the close says why");
    sender.abort();

    let mut other = client(&env).await;
    let ack = subscribe(&mut other, &["NSE:SBIN"], "ltp").await;
    assert_eq!(ack["count"], 1);
    env.shutdown().await;
}

/// DESIGN.md §6's ack always has `rejected`, an empty list when everything was accepted.
#[tokio::test(start_paused = true)]
async fn every_ack_carries_rejected() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    let ack = subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    assert_eq!(ack["rejected"], json!([]), "{ack}");
    c.send(json!({"action": "unsubscribe", "symbols": ["NSE:SBIN"]}))
        .await;
    let ack = c.next_of("ack", WAIT).await.expect("unsubscribe ack");
    assert_eq!(ack["rejected"], json!([]), "{ack}");
    c.send(json!({"action": "options", "throttle_ms": 0})).await;
    let ack = c.next_of("ack", WAIT).await.expect("options ack");
    assert_eq!(ack["rejected"], json!([]), "{ack}");
    env.shutdown().await;
}

//! The client protocol's edges, over real sockets against
//! the in-process simulator: a message over the hard size cap is answered (not just dropped),
//! and every ack carries `rejected`.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EnvBuilder, WAIT, client, subscribe};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A message over the 1 MiB hard cap cannot be skipped by the WebSocket reader, so the
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
        let _ = tx.send(Message::text("x".repeat(2 << 20))).await;
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
        message.contains("1048576") && message.contains("split"),
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

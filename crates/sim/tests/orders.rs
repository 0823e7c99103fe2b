//! `POST /_sim/order`: one Kite order postback, as a `{"type":"order","data":…}` text frame on
//! every open ticker socket, equal to the order the call answers with; bad requests refused.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_kite::TextMessage;
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn post_order(sim: &TestSim, body: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/_sim/order", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The next text frame (heartbeats and market data skipped), parsed.
async fn next_text(ws: &mut Ws) -> (String, TextMessage) {
    loop {
        if let Message::Text(text) = next(ws).await {
            let parsed = TextMessage::parse(text.as_str()).unwrap();
            return (text.to_string(), parsed);
        }
    }
}

#[tokio::test]
async fn one_postback_reaches_every_ticker_socket_as_answered() {
    let sim = start_default().await;
    let mut a = connect(&sim).await;
    let mut b = connect(&sim).await;
    let (status, body) = post_order(
        &sim,
        r#"{"tradingsymbol":"INFY","status":"COMPLETE","quantity":5}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent_to"], 2);
    let order = &body["order"];
    assert_eq!(
        (
            &order["tradingsymbol"],
            &order["instrument_token"],
            &order["quantity"],
            &order["filled_quantity"],
            &order["user_id"],
        ),
        (
            &json!("INFY"),
            &json!(INFY),
            &json!(5),
            &json!(5),
            &json!("FG0001")
        )
    );
    for ws in [&mut a, &mut b] {
        let (raw, parsed) = next_text(ws).await;
        assert_eq!(parsed, TextMessage::Order(order.clone()));
        assert!(raw.starts_with(r#"{"type":"order","data":{"#), "{raw}");
    }
    let (_, second) = post_order(&sim, "").await;
    assert!(
        second["order"]["order_id"].as_str().unwrap() > order["order_id"].as_str().unwrap(),
        "order ids increase"
    );
    assert_eq!(sim.state().order_updates, 2);
}

#[tokio::test]
async fn with_no_socket_open_the_order_is_answered_and_sent_nowhere() {
    let sim = start_default().await;
    let (status, body) = post_order(&sim, "{}").await;
    assert_eq!((status, &body["sent_to"]), (200, &json!(0)));
    assert_eq!(body["order"]["tradingsymbol"], "SBIN");
    let sent = sim.order(&json!({"status": "OPEN"})).unwrap();
    assert_eq!(
        (sent.sent_to, &sent.order["pending_quantity"]),
        (0, &json!(1))
    );
}

#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_sent() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    let cases = [
        (r#"{"qty":1}"#, "unknown postback field \"qty\""),
        ("[1]", "must be a JSON object"),
        (r#"{"tradingsymbol":"NOPE"}"#, "unknown instrument NSE:NOPE"),
        (
            r#"{"quantity":"5"}"#,
            "quantity must be a non-negative integer",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = post_order(&sim, body).await;
        assert_eq!(status, 400, "{body}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(message), "{body}: {error}");
        assert!(error.contains("tradingsymbol"), "lists the fields: {error}");
    }
    assert!(sim.order(&json!("x")).is_err());
    assert_eq!(sim.state().order_updates, 0);
    // Nothing but heartbeats on the socket.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut ws)).await
    {
        assert!(!msg.is_text(), "unexpected {msg:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_socket_sends_the_postback_when_the_stall_ends() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    sim.fault(Fault::Stall { seconds: 5.0 }).unwrap();
    let sent = sim.order(&json!({})).unwrap();
    assert_eq!(sent.sent_to, 1);
    let started = tokio::time::Instant::now();
    let (_, parsed) = next_text(&mut ws).await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "sent during the stall"
    );
    assert_eq!(parsed, TextMessage::Order(sent.order));
}

//! Client WebSockets on `/ws/market`: [`WsClient`] sends requests and reads the next message
//! (or the next of a kind) within a deadline; [`client`] is one that has read its greeting, and
//! [`subscribe`] subscribes it and reads the ack; [`subscribed_client`] does both in `quote`
//! mode and hands back the greeting.

use super::{Env, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("client send");
    }

    pub async fn send_raw(&mut self, s: &str) {
        self.ws
            .send(Message::text(s.to_string()))
            .await
            .expect("client send");
    }

    /// The next JSON message within `deadline` (paused or real time), or `None`.
    pub async fn next_within(&mut self, deadline: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(deadline, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
                Message::Close(c) => {
                    return Some(json!({"type": "close", "code": c.map(|c| u16::from(c.code))}));
                }
                _ => continue,
            }
        }
    }

    /// The next message of `kind` within `deadline`, skipping others.
    pub async fn next_of(&mut self, kind: &str, deadline: Duration) -> Option<Value> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_within(left).await?;
            if v["type"] == kind {
                return Some(v);
            }
        }
    }
}

/// A connected client that has read its initial `connection_status`.
pub async fn client(env: &Env) -> WsClient {
    let mut c = env.client().await;
    let first = c.next_within(WAIT).await.expect("a first message");
    assert_eq!(first["type"], "connection_status", "{first}");
    c
}

/// Sends a subscribe and returns its ack.
pub async fn subscribe(c: &mut WsClient, symbols: &[&str], mode: &str) -> Value {
    c.send(json!({"action": "subscribe", "symbols": symbols, "mode": mode}))
        .await;
    let ack = c.next_of("ack", WAIT).await.expect("subscribe ack");
    assert_eq!(ack["action"], "subscribe", "{ack}");
    ack
}

/// A client subscribed to `symbols` (quote mode); returns it with its first `connection_status`.
pub async fn subscribed_client(env: &Env, symbols: &[&str]) -> (WsClient, Value) {
    let mut c = env.client().await;
    let status = c
        .next_of("connection_status", WAIT)
        .await
        .expect("connection_status on connect");
    c.send(json!({"action": "subscribe", "symbols": symbols, "mode": "quote", "id": 1}))
        .await;
    let ack = c.next_of("ack", WAIT).await.expect("ack");
    assert_eq!(ack["count"], symbols.len(), "{ack}");
    (c, status)
}

/// Subscribes `c` to `symbol` (request id `id`) and returns the message that comes right after
/// the ack, which must be the snapshot `ticker`, with how long the round took.
pub async fn snapshot_after_ack(c: &mut WsClient, symbol: &str, id: &str) -> (Value, Duration) {
    let asked = tokio::time::Instant::now();
    c.send(json!({"action": "subscribe", "symbols": [symbol], "id": id}))
        .await;
    let ack = c.next_within(WAIT).await.expect("an ack");
    assert_eq!(
        (ack["type"].as_str(), ack["id"].as_str()),
        (Some("ack"), Some(id)),
        "{ack}"
    );
    let snap = c.next_within(WAIT).await.expect("a snapshot");
    assert_eq!(
        snap["type"], "ticker",
        "the message right after the ack: {snap}"
    );
    (snap, asked.elapsed())
}

//! Broker order updates (DESIGN.md §6, §10): a postback the simulator sends (`POST /_sim/order`)
//! reaches every `/ws/market` client whose key has the `orders` scope exactly once, unchanged,
//! even when the upstream holds two broker sockets that both deliver it; a client without the
//! scope never gets it and keeps its ticks; with access control off every client gets it; the
//! count shows in health and `/metrics`.

mod common;

use common::*;
use feedgate_kite::TextMessage;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Extra instruments so that two clients can want more than one broker socket holds.
const EXTRA: usize = 3_100;

fn syn(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("NSE:SYN{n:04}")).collect()
}

/// A `/ws/market` client presenting `key`, past its greeting.
async fn keyed(env: &Env, key: &str) -> WsClient {
    let auth = format!("Bearer {key}");
    let mut c = ws_with(
        env.gw().local_addr(),
        "/ws/market",
        &[("authorization", &auth)],
    )
    .await
    .expect("admitted");
    let first = c.next_within(WAIT).await.expect("greeting");
    assert_eq!(first["type"], "connection_status", "{first}");
    c
}

/// `POST /_sim/order` on the simulator; returns the order it sent and to how many sockets.
async fn post_order(env: &Env, body: Value) -> (Value, u64) {
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/order", env.sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("JSON");
    (v["order"].clone(), v["sent_to"].as_u64().expect("sent_to"))
}

/// Every text frame a client gets within `window` (paused time), raw.
async fn texts_within(c: &mut WsClient, window: Duration) -> Vec<String> {
    let end = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(end, c.ws.next()).await {
        if let Message::Text(t) = msg {
            out.push(t.to_string());
        }
    }
    out
}

fn orders_in(texts: &[String]) -> Vec<&String> {
    texts
        .iter()
        .filter(|t| t.starts_with(r#"{"type":"order""#))
        .collect()
}

/// Subscribes `symbols` in ltp mode in chunks a client's frame limit takes.
async fn subscribe_many(c: &mut WsClient, symbols: &[String]) {
    for chunk in symbols.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let ack = subscribe(c, &refs, "ltp").await;
        assert_eq!(ack["count"], chunk.len(), "{ack}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_orders_client_gets_each_postback_once_over_two_broker_sockets() {
    let env = EnvBuilder::new()
        .with_keys()
        .sim(|s| s.extra_instruments = EXTRA)
        .start()
        .await;
    let mut reader = keyed(&env, READER).await;
    let mut trader = keyed(&env, TRADER).await;
    // 3002 instruments in all: more than one broker socket's 3000.
    let mut reader_symbols = syn(1..=2000);
    reader_symbols.push("NSE:INFY".into());
    subscribe_many(&mut reader, &reader_symbols).await;
    subscribe_many(&mut trader, &syn(2001..=3001)).await;
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 2).await,
        "two broker sockets"
    );

    let (first, sent_to) = post_order(
        &env,
        json!({"tradingsymbol": "INFY", "status": "COMPLETE", "quantity": 5}),
    )
    .await;
    assert_eq!(sent_to, 2, "the simulator sent it on both sockets");
    let (second, _) = post_order(&env, json!({"status": "OPEN"})).await;

    let got = texts_within(&mut trader, Duration::from_secs(3)).await;
    let orders = orders_in(&got);
    let want = [
        TextMessage::Order(first.clone()).to_json(),
        TextMessage::Order(second.clone()).to_json(),
    ];
    assert_eq!(
        orders,
        want.iter().collect::<Vec<_>>(),
        "each once, unchanged"
    );

    let seen = texts_within(&mut reader, Duration::from_secs(2)).await;
    assert!(orders_in(&seen).is_empty(), "no orders without the scope");
    assert!(
        seen.iter().any(|t| t.contains(r#""symbol":"NSE:INFY""#)),
        "the reader still gets its ticks"
    );

    let health = reqwest::Client::new()
        .get(format!("{}/api/system/health", env.base()))
        .header("authorization", format!("Bearer {READER}"))
        .send()
        .await
        .expect("health")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(health["feed"]["order_updates_total"], 2, "{health}");
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", env.base()))
        .header("authorization", format!("Bearer {ADMIN}"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // The recorder is process-wide: other tests in this binary count too.
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("feedgate_order_updates_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(counted.is_some_and(|n| n >= 2), "{metrics}");
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn with_access_control_off_every_client_gets_order_updates() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    let mut b = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    assert!(sim_until(&env, WAIT, |s| s.connections.len() == 1).await);
    let (order, sent_to) = post_order(&env, json!({})).await;
    assert_eq!(sent_to, 1);
    let want = TextMessage::Order(order).to_json();
    for c in [&mut a, &mut b] {
        let got = texts_within(c, Duration::from_secs(2)).await;
        assert_eq!(orders_in(&got), [&want]);
    }
    // A client that left is no longer a receiver: nothing breaks, the others still get them.
    drop(b);
    let (order, _) = post_order(&env, json!({"status": "CANCELLED"})).await;
    let got = texts_within(&mut a, Duration::from_secs(2)).await;
    assert_eq!(orders_in(&got), [&TextMessage::Order(order).to_json()]);
    env.shutdown().await;
}

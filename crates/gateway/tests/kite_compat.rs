//! `/kite` against the simulator, for both brokers: Kite's refusals at the upgrade (403, 429),
//! packets that agree with the JSON endpoint, and the same tokens on a Fyers account.
//! The official clients' view is in `conformance/kite/test_kite_compat_ticker.py`.

mod common;
use common::*;
use feedgate_gateway::access::keys::{self, KeySpec};
use feedgate_gateway::model::scope::{Scope, Scopes};
use feedgate_kite::{Message as KiteMessage, Mode, Packet, parse_message};
use futures_util::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const S10: Duration = Duration::from_secs(10);
const SBIN: u32 = 779_521;

/// `?api_key=ID&access_token=SECRET` for a test key `ID:SECRET`.
fn kite_query(key: &str) -> String {
    let (id, secret) = key.split_once(':').expect("ID:SECRET");
    format!("/kite?api_key={id}&access_token={secret}")
}

/// The next packets on a `/kite` socket, skipping heartbeats; text frames are returned as
/// `Err(text)`.
async fn next_packets(c: &mut WsClient) -> Result<Vec<Packet>, String> {
    loop {
        let msg = tokio::time::timeout(S10, c.ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("no error");
        match msg {
            Message::Binary(b) => match parse_message(&b).expect("a Kite frame") {
                KiteMessage::Heartbeat => {}
                KiteMessage::Packets(p) => return Ok(p.map(|p| p.expect("packet")).collect()),
            },
            Message::Text(t) => return Err(t.to_string()),
            _ => {}
        }
    }
}

async fn send(c: &mut WsClient, text: &str) {
    c.ws.send(Message::Text(text.into())).await.expect("send");
}

#[tokio::test(start_paused = true)]
async fn kite_s_refusals_are_http_answers_to_the_upgrade() {
    let env = EnvBuilder::new().with_keys().start().await;
    let addr = env.gw().local_addr();
    let wrong = "/kite?api_key=reader&access_token=not-the-secret-0123456789";
    assert_eq!(ws_with(addr, wrong, &[]).await.err(), Some(403));
    assert_eq!(ws_with(addr, "/kite", &[]).await.err(), Some(403), "no key");
    assert_eq!(
        ws_with(addr, &kite_query(ORDERS), &[]).await.err(),
        Some(403),
        "a key without the read scope"
    );
    let mut c = ws_with(addr, &kite_query(READER), &[])
        .await
        .expect("admitted");
    send(&mut c, r#"{"a":"subscribe","v":[779521]}"#).await;
    let p = next_packets(&mut c).await.expect("packets");
    assert_eq!((p[0].token(), p[0].mode()), (SBIN, Mode::Quote));
    // pykiteconnect's root with a trailing slash works too.
    let slash = kite_query(READER).replace("/kite?", "/kite/?");
    assert!(ws_with(addr, &slash, &[]).await.is_ok());
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_key_s_limits_apply_to_kite_connections() {
    let dir = tempfile::tempdir().unwrap();
    let spec = KeySpec {
        name: "small".into(),
        scopes: Scopes::NONE.with(Scope::Read),
        max_connections: Some(1),
        max_symbols: Some(1),
    };
    let key = keys::generate(spec, chrono::Utc::now());
    keys::save(
        &dir.path().join(keys::FILE_NAME),
        std::slice::from_ref(&key.record),
    )
    .unwrap();
    let env = EnvBuilder::new().with_keys().data_dir(dir).start().await;
    let addr = env.gw().local_addr();
    let path = kite_query(key.credential.expose_secret());
    let mut c = ws_with(addr, &path, &[])
        .await
        .expect("the first connection");
    assert_eq!(
        ws_with(addr, &path, &[]).await.err(),
        Some(429),
        "a second one, past max_connections, is refused as Kite refuses a fourth socket"
    );
    send(&mut c, r#"{"a":"subscribe","v":[779521, 408065]}"#).await;
    let mut texts = Vec::new();
    let mut tokens = Vec::new();
    while tokens.is_empty() || texts.is_empty() {
        match next_packets(&mut c).await {
            Ok(p) => tokens.extend(p.iter().map(Packet::token)),
            Err(t) => texts.push(t),
        }
    }
    assert_eq!(tokens, [SBIN], "the key's max_symbols caps the tokens");
    assert!(texts[0].contains("\"type\":\"error\""), "{texts:?}");
    assert!(texts[0].contains("at most 1 tokens"), "{texts:?}");
    drop(c);
    // The slot is given back when the connection ends.
    let mut again = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(c) = ws_with(addr, &path, &[]).await {
            again = Some(c);
            break;
        }
    }
    assert!(again.is_some(), "the slot came back");
    env.shutdown().await;
}

/// The same instrument on `/kite` and `/ws/market`: the packet's price is the JSON `ltp` in the
/// segment's unit, for a Kite and a Fyers account alike (Fyers instruments carry Kite-compatible
/// tokens), an index included.
async fn kite_packets_agree_with_the_json_endpoint(broker: Broker) {
    let env = EnvBuilder::new().broker(broker).start().await;
    let (mut json, _) = subscribed_client(&env, &["NSE:SBIN", "NSE:NIFTY 50"]).await;
    // The tokens as feedgate assigns them (Kite's own; for Fyers, Kite-compatible ones).
    let mut token_of = std::collections::HashMap::new();
    while token_of.len() < 2 {
        let t = json.next_of("ticker", S10).await.expect("a ticker");
        let token = t["data"]["token"].as_u64().expect("token") as u32;
        token_of.insert(
            t["data"]["symbol"].as_str().expect("symbol").to_string(),
            token,
        );
    }
    let (sbin, nifty) = (token_of["NSE:SBIN"], token_of["NSE:NIFTY 50"]);
    assert_eq!(nifty & 0xff, 9, "an index token has Kite's index segment");
    let mut kite = ws_with(env.gw().local_addr(), "/kite", &[])
        .await
        .expect("open");
    send(
        &mut kite,
        &format!(r#"{{"a":"subscribe","v":[{sbin}, {nifty}]}}"#),
    )
    .await;
    send(
        &mut kite,
        &format!(r#"{{"a":"mode","v":["full",[{sbin}, {nifty}]]}}"#),
    )
    .await;
    let mut seen = std::collections::HashMap::new();
    let mut all = Vec::new();
    for _ in 0..50 {
        if seen.len() == 2 {
            break;
        }
        for p in next_packets(&mut kite).await.expect("packets") {
            all.push((p.token(), p.mode()));
            if p.mode() == Mode::Full {
                seen.insert(p.token(), p);
            }
        }
    }
    assert_eq!(seen.len(), 2, "full packets of both: {all:?}");
    assert!(matches!(seen[&sbin], Packet::Full(_)), "{:?}", seen[&sbin]);
    assert!(
        matches!(seen[&nifty], Packet::IndexFull(_)),
        "{:?}",
        seen[&nifty]
    );
    // Ticks keep coming in both protocols; compare one price the two agree on.
    let json_prices: Vec<(u32, i64)> = {
        let mut v = Vec::new();
        for _ in 0..40 {
            let Some(t) = json.next_of("ticker", S10).await else {
                break;
            };
            let token = t["data"]["token"].as_u64().expect("token") as u32;
            let ltp: f64 = t["data"]["ltp"].as_f64().expect("ltp");
            v.push((token, (ltp * 100.0).round() as i64));
        }
        v
    };
    let mut kite_prices = Vec::new();
    for _ in 0..20 {
        if let Ok(ps) = next_packets(&mut kite).await {
            kite_prices.extend(ps.iter().map(|p| (p.token(), i64::from(p.last_price()))));
        }
    }
    let common = kite_prices
        .iter()
        .filter(|p| json_prices.contains(p))
        .count();
    assert!(
        common > 0,
        "no price in common: kite {kite_prices:?}, json {json_prices:?}"
    );
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn kite_packets_agree_with_the_json_endpoint_kite() {
    kite_packets_agree_with_the_json_endpoint(Broker::Kite).await;
}

#[tokio::test(start_paused = true)]
async fn kite_packets_agree_with_the_json_endpoint_fyers() {
    kite_packets_agree_with_the_json_endpoint(Broker::Fyers).await;
}

/// Kite's `on_order_update`: the broker's order text reaches `/kite` connections whose key has
/// the `orders` scope, unchanged, and no other.
#[tokio::test(start_paused = true)]
async fn order_updates_reach_kite_apps_with_the_orders_scope_only() {
    let env = EnvBuilder::new().with_keys().start().await;
    let addr = env.gw().local_addr();
    let mut trader = ws_with(addr, &kite_query(TRADER), &[])
        .await
        .expect("admitted");
    let mut reader = ws_with(addr, &kite_query(READER), &[])
        .await
        .expect("admitted");
    // The upstream connects once something is wanted.
    for c in [&mut trader, &mut reader] {
        send(c, r#"{"a":"subscribe","v":[779521]}"#).await;
        next_packets(c).await.expect("packets");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/order", env.sim.base_url()))
        .json(&serde_json::json!({"tradingsymbol": "SBIN", "status": "COMPLETE"}))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(r.status(), 200);
    let sent: serde_json::Value = r.json().await.expect("JSON");
    let mut text = None;
    for _ in 0..30 {
        if let Err(t) = next_packets(&mut trader).await {
            text = Some(t);
            break;
        }
    }
    let text = text.expect("the order text among the trader's next frames");
    let got: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(got["type"], "order");
    assert_eq!(got["data"], sent["order"], "unchanged");
    // The reader keeps its ticks and never sees the order.
    for _ in 0..5 {
        assert!(
            next_packets(&mut reader).await.is_ok(),
            "a text frame for a reader"
        );
    }
    env.shutdown().await;
}

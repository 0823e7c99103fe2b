//! The fault API applied to Fyers data sockets and Fyers REST: drop (no close frame), stall
//! (silence, then updates resume and converge), expire_token (open sockets keep streaming, new
//! auth and REST refused), reject_ws (403 until it ends or is cleared), malformed (one
//! undecodable frame, then the stream goes on), heartbeat_flood (ping frames and no data, then
//! updates resume and converge) and rest_429 (quotes answered 429, then served again).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;
mod fyers_common;

use common::start_default;
use feedgate_fyers::hsm::{CodecError, Record, ServerFrame, SnapshotStore};
use feedgate_sim::Fault;
use futures_util::StreamExt;
use fyers_common::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

async fn streaming(sim: &feedgate_sim::Sim) -> Ws {
    let mut ws = logged_in(sim).await;
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY]).await);
    next_data(&mut ws).await;
    ws
}

#[tokio::test]
async fn drop_aborts_data_sockets_without_a_close_frame() {
    let sim = start_default().await;
    let mut ws = streaming(&sim).await;
    sim.fault(Fault::Drop).unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => panic!("got a close frame {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )))
            | Some(Err(tungstenite::Error::Io(_)))
            | None => break,
            Some(Err(other)) => panic!("unexpected error {other}"),
        }
    }
    wait_for("the connection to be released", || {
        sim.state().fyers.connections.is_empty()
    })
    .await;
    // A new connection is served as usual.
    streaming(&sim).await;
}

#[tokio::test(start_paused = true)]
async fn stall_silences_data_sockets_then_they_resume_and_converge() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY]).await);
    let mut store = SnapshotStore::new();
    for record in next_data(&mut ws).await.records {
        store.apply(&record).unwrap();
    }
    let stalled_at = Instant::now();
    sim.fault(Fault::Stall { seconds: 5.0 }).unwrap();
    assert!(sim.state().fyers.connections[0].stalled);
    // Frames already on their way may still arrive; then nothing until the stall ends.
    let mut last_data = stalled_at;
    loop {
        let data = next_data(&mut ws).await;
        for record in &data.records {
            store.apply(record).unwrap();
        }
        let now = Instant::now();
        if now.duration_since(last_data) >= Duration::from_secs(4) {
            break;
        }
        last_data = now;
    }
    let silent_for = stalled_at.elapsed();
    assert!(
        silent_for >= Duration::from_secs(5),
        "data after {silent_for:?}"
    );
    // No heartbeats on this socket: the first frame after the stall is the next update of one
    // of three instruments that each update about once a second.
    assert!(
        silent_for < Duration::from_secs(7),
        "resumed late: {silent_for:?}"
    );
    assert!(!sim.state().fyers.connections[0].stalled);
    // Updates after the stall are diffs against what the client really has.
    sim.fault(Fault::Stall { seconds: 60.0 }).unwrap();
    while let Ok(Some(Ok(Message::Binary(bytes)))) =
        tokio::time::timeout(Duration::from_millis(200), ws.next()).await
    {
        if let Ok(ServerFrame::Data(data)) = ServerFrame::decode(&bytes) {
            for record in &data.records {
                store.apply(record).unwrap();
            }
        }
    }
    for sub in &sim.state().fyers.connections[0].subscriptions {
        let client = store.by_topic(&topics(&[&sub.topic])[0]).unwrap();
        assert_eq!(client.values(), sub.values.as_slice(), "{}", sub.topic);
    }
}

#[tokio::test]
async fn expire_token_refuses_new_auth_and_rest_but_open_sockets_keep_streaming() {
    let sim = start_default().await;
    let token = sim.mint_fyers_token();
    let mut ws = connect_fyers(&sim).await;
    assert!(login(&mut ws, &token).await.0);
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY]).await);
    next_data(&mut ws).await;
    sim.fault(Fault::ExpireToken).unwrap();
    // Still streaming.
    next_data(&mut ws).await;
    // A new socket with the same token is refused.
    let mut other = connect_fyers(&sim).await;
    assert_eq!(login(&mut other, &token).await, (false, 0));
    // REST: 401 with Fyers' −16.
    let response = http()
        .get(format!("{}/api/v3/profile", sim.fyers_api_url()))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], -16);
    assert!(sim.state().fyers.tokens.iter().all(|t| !t.valid));
    // A fresh token works.
    logged_in(&sim).await;
}

#[tokio::test(start_paused = true)]
async fn reject_ws_refuses_data_socket_upgrades_until_it_ends() {
    let sim = start_default().await;
    sim.fault(Fault::RejectWs { seconds: 3.0 }).unwrap();
    assert_eq!(try_connect_fyers(&sim, None).await.err(), Some(403));
    // REST keeps working.
    let token = sim.mint_fyers_token();
    let response = http()
        .get(format!("{}/api/v3/profile", sim.fyers_api_url()))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    connect_fyers(&sim).await;
    sim.fault(Fault::RejectWs { seconds: 60.0 }).unwrap();
    assert_eq!(try_connect_fyers(&sim, None).await.err(), Some(403));
    sim.fault(Fault::Clear).unwrap();
    connect_fyers(&sim).await;
    let upgrades = sim.state().fyers.upgrades;
    assert_eq!((upgrades.accepted, upgrades.refused_reject_ws), (2, 2));
}

#[tokio::test]
async fn malformed_sends_one_undecodable_frame_then_the_stream_goes_on() {
    let sim = start_default().await;
    let mut ws = streaming(&sim).await;
    sim.fault(Fault::Malformed).unwrap();
    loop {
        let bytes = next_binary(&mut ws).await;
        match ServerFrame::decode(&bytes) {
            Ok(ServerFrame::Data(data)) => {
                assert!(
                    data.records
                        .iter()
                        .all(|r| !matches!(r, Record::Snapshot(_)))
                );
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(CodecError::UnknownRecord { kind, .. }) => {
                assert_eq!(kind, b'X');
                break;
            }
            Err(other) => panic!("unexpected decode error {other}"),
        }
    }
    // Data keeps coming, decodable.
    next_data(&mut ws).await;
    assert_eq!(sim.state().fyers.malformed_frames_sent, 1);
}

/// The data socket's ping frame: what the server answers pings with and floods with.
const PING: [u8; 3] = [0x00, 0x01, 0x0b];

/// Reads `ws` until its first data frame after the flood's first ping, applying every data
/// frame to `store`; returns the pings heard. Data frames already on their way when the flood
/// began may come first; after a ping, nothing but pings may come until the flood ends.
async fn pings_until_data_resumes(ws: &mut Ws, store: &mut SnapshotStore) -> u64 {
    let mut pings = 0;
    loop {
        let bytes = next_binary(ws).await;
        if bytes.as_ref() == PING {
            pings += 1;
            continue;
        }
        match ServerFrame::decode(&bytes) {
            Ok(ServerFrame::Data(data)) => {
                for record in &data.records {
                    store.apply(record).unwrap();
                }
                if pings > 0 {
                    return pings;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_flood_sends_pings_and_no_data_then_updates_resume_and_converge() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY, SENSEX]).await);
    let mut store = SnapshotStore::new();
    for record in next_data(&mut ws).await.records {
        store.apply(&record).unwrap();
    }
    let flooded_at = Instant::now();
    sim.fault(Fault::HeartbeatFlood { seconds: 3.0 }).unwrap();
    assert!(sim.state().fyers.connections[0].flooding);

    let pings = pings_until_data_resumes(&mut ws, &mut store).await;
    let resumed_after = flooded_at.elapsed();
    assert!(
        resumed_after >= Duration::from_secs(3),
        "data after {resumed_after:?}"
    );
    assert!(
        resumed_after < Duration::from_secs(5),
        "resumed late: {resumed_after:?}"
    );
    assert!((1_000..=3_100).contains(&pings), "{pings} pings");
    let state = sim.state();
    assert!(!state.fyers.connections[0].flooding);
    assert!(state.fyers.flood_pings_sent >= pings);
    assert_eq!(state.fyers.pongs_sent, 0, "flood pings are not answers");
    assert_eq!(state.faults.heartbeat_floods, 1);

    // The withheld updates need no catching up: later ones are diffs against what the client
    // really has.
    sim.fault(Fault::Stall { seconds: 60.0 }).unwrap();
    while let Ok(Some(Ok(Message::Binary(bytes)))) =
        tokio::time::timeout(Duration::from_millis(200), ws.next()).await
    {
        if let Ok(ServerFrame::Data(data)) = ServerFrame::decode(&bytes) {
            for record in &data.records {
                store.apply(record).unwrap();
            }
        }
    }
    for sub in &sim.state().fyers.connections[0].subscriptions {
        let client = store.by_topic(&topics(&[&sub.topic])[0]).unwrap();
        assert_eq!(client.values(), sub.values.as_slice(), "{}", sub.topic);
    }
}

#[tokio::test(start_paused = true)]
async fn rest_429_refuses_quotes_for_its_duration_then_recovers() {
    let sim = start_default().await;
    let token = sim.mint_fyers_token();
    let url = format!("{}/data/quotes?symbols=NSE:SBIN-EQ", sim.fyers_api_url());
    let get = |url: String| {
        let token = token.clone();
        async move {
            let response = http()
                .get(url)
                .header("authorization", token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    sim.fault(Fault::Rest429 { seconds: 2.0 }).unwrap();
    // More than the 10/s limit: the fault's 429s do not use up the rate-limit budget.
    for _ in 0..12 {
        let (status, body) = get(url.clone()).await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"s":"error","code":429,"message":"request limit reached"})
        );
    }
    let (status, _) = get(format!("{}/api/v3/profile", sim.fyers_api_url())).await;
    assert_eq!(status, 200, "only quote calls are refused");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["d"][0]["s"], "ok");
    let state = sim.state();
    let fyers = &state.fyers;
    assert_eq!((fyers.rest_429s, fyers.quote_rate_limited), (12, 0));
    assert_eq!((fyers.quote_requests, fyers.quotes_served), (13, 1));
    assert_eq!((state.faults.rest_429, state.rest_429s), (1, 0));
}

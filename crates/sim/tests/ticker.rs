//! The Kite ticker WebSocket over the wire: upgrade rules, subscriptions and modes, snapshots,
//! heartbeats, pings, the per-connection cap.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_kite::{Mode, Packet};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn upgrade_accepts_parameters_in_any_order_on_any_path() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let base = sim.ws_url();
    // (A URL with no path at all is sent as `GET /?…` by Python's autobahn; tungstenite would
    // send an invalid request line, which is the client's bug, so it is not tested here.)
    let urls = [
        format!("{base}/?api_key={API_KEY}&access_token={token}"),
        format!("{base}/?access_token={token}&api_key={API_KEY}"),
        format!("{base}/?uid=1700000000000&api_key={API_KEY}&access_token={token}"),
        format!("{base}/some/prefix?access_token={token}&x=1&api_key={API_KEY}"),
    ];
    for url in urls {
        let mut ws = try_connect(&url)
            .await
            .unwrap_or_else(|status| panic!("{url}: {status}"));
        ws.close(None).await.unwrap();
        // Wait until the server saw the close, so the next connection has a free slot.
        while ws.next().await.is_some() {}
    }
    let deadline = Instant::now() + WAIT;
    while !sim.state().connections.is_empty() {
        assert!(Instant::now() < deadline, "connections not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.state().upgrades.accepted, 4);
}

#[tokio::test]
async fn bad_credentials_get_403_and_a_fourth_connection_429() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let base = sim.ws_url();
    let refused = [
        format!("{base}/?api_key={API_KEY}&access_token=wrong"),
        format!("{base}/?api_key=other-app&access_token={token}"),
        format!("{base}/?api_key={API_KEY}"),
        format!("{base}/"),
    ];
    for url in &refused {
        assert_eq!(try_connect(url).await.err(), Some(403), "{url}");
    }
    let url = ticker_url(&sim, &token);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(try_connect(&url).await.unwrap());
    }
    assert_eq!(try_connect(&url).await.err(), Some(429));
    let upgrades = sim.state().upgrades;
    assert_eq!(upgrades.accepted, 3);
    assert_eq!(upgrades.refused.bad_token, 4);
    assert_eq!(upgrades.refused.too_many_connections, 1);

    // Closing one frees a slot.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    let deadline = Instant::now() + WAIT;
    loop {
        match try_connect(&url).await {
            Ok(_) => break,
            Err(429) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("slot not freed: {status}"),
        }
    }
}

#[tokio::test]
async fn subscribe_sends_a_quote_snapshot_at_once_then_updates() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    // Unknown tokens and non-integers are ignored.
    send_text(
        &mut ws,
        &format!(r#"{{"a": "subscribe", "v": [{INFY}, {NIFTY}, 999999, "{SBIN}", 1.5]}}"#),
    )
    .await;
    let started = Instant::now();
    let (_, snapshot) = next_packets(&mut ws).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "snapshot not immediate"
    );
    let mut kinds: Vec<(u32, usize)> = snapshot.iter().map(|p| (p.token(), p.wire_len())).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![(NIFTY, 28), (INFY, 44)],
        "quote mode by default"
    );

    let Packet::Quote(first) = snapshot
        .iter()
        .find(|p| p.token() == INFY)
        .copied()
        .unwrap()
    else {
        panic!("INFY snapshot is not a quote packet");
    };
    // Updates follow (about one per second per instrument) with growing volume.
    let mut volume = first.volume_traded;
    let mut updates = 0;
    while updates < 2 {
        let (_, packets) = next_packets(&mut ws).await;
        for p in packets {
            assert!(
                p.token() == INFY || p.token() == NIFTY,
                "unsubscribed token {}",
                p.token()
            );
            if let Packet::Quote(q) = p {
                assert!(q.volume_traded > volume, "volume must strictly increase");
                volume = q.volume_traded;
                updates += 1;
            }
        }
    }
    let state = sim.state();
    let subs = &state.connections[0].subscriptions;
    let modes: Vec<(u32, Mode)> = subs.iter().map(|s| (s.token, s.mode)).collect();
    assert_eq!(
        modes,
        vec![
            (NIFTY, Mode::Quote),
            (INFY, Mode::Quote),
            (999_999, Mode::Quote)
        ]
    );
}

#[tokio::test]
async fn mode_switches_with_a_fresh_snapshot() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{INFY},{SENSEX}]}}"#),
    )
    .await;
    next_packets(&mut ws).await;

    send_text(
        &mut ws,
        &format!(r#"{{"a":"mode","v":["full",[{INFY},{SENSEX}]]}}"#),
    )
    .await;
    // Quote updates already in flight may come first; the snapshot is the first full frame.
    let (frame, packets) = loop {
        let (frame, packets) = next_packets(&mut ws).await;
        if packets.iter().any(|p| p.mode() == Mode::Full) {
            break (frame, packets);
        }
    };
    assert_eq!(packets.len(), 2);
    assert_eq!(
        frame.len(),
        2 + (2 + 184) + (2 + 32),
        "full + index full packets"
    );
    let tick = tick_size(&sim, INFY);
    for p in packets {
        match p {
            Packet::Full(f) => {
                assert_eq!(f.quote.token, INFY);
                let (bids, asks) = (f.depth.buy, f.depth.sell);
                assert!(bids[0].price < asks[0].price, "crossed book");
                for l in bids.iter().chain(asks.iter()) {
                    assert!(l.quantity > 0 && l.orders > 0 && l.price > 0, "{l:?}");
                    assert_eq!(i64::from(l.price) % tick, 0, "depth off grid");
                }
                assert!(f.exchange_timestamp > 1_600_000_000);
            }
            Packet::IndexFull(i) => assert_eq!(i.quote.token, SENSEX),
            other => panic!("unexpected {other:?}"),
        }
    }

    send_text(&mut ws, &format!(r#"{{"a":"mode","v":["ltp",[{INFY}]]}}"#)).await;
    let packets = loop {
        let (_, packets) = next_packets(&mut ws).await;
        if packets.iter().any(|p| p.mode() == Mode::Ltp) {
            break packets;
        }
    };
    assert!(matches!(packets.as_slice(), [Packet::Ltp(p)] if p.token == INFY));
    assert_eq!(sim.state().connections[0].subscriptions[1].mode, Mode::Ltp);
}

#[tokio::test(start_paused = true)]
async fn unsubscribe_stops_the_updates() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{INFY}]}}"#)).await;
    next_packets(&mut ws).await;
    send_text(&mut ws, &format!(r#"{{"a":"unsubscribe","v":[{INFY}]}}"#)).await;
    // Frames already in flight may still arrive until the first heartbeat (a silent second);
    // after it, only heartbeats.
    while !matches!(next(&mut ws).await, Message::Binary(b) if b.len() == 1) {}
    let until = Instant::now() + Duration::from_secs(5);
    let mut heartbeats = 0;
    while Instant::now() < until {
        match next(&mut ws).await {
            Message::Binary(b) if b.len() == 1 => heartbeats += 1,
            other => panic!("data after unsubscribe: {other:?}"),
        }
    }
    assert!(heartbeats >= 4, "{heartbeats} heartbeats in 5 s");
    assert!(sim.state().connections[0].subscriptions.is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_connections_get_a_one_byte_heartbeat_every_second() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    let mut times = Vec::new();
    while times.len() < 4 {
        match next(&mut ws).await {
            Message::Binary(b) => {
                assert_eq!(b.as_ref(), &[0u8], "heartbeat is one zero byte");
                times.push(Instant::now());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(999) && gap <= Duration::from_millis(1_001),
            "heartbeat gap {gap:?}"
        );
    }
    assert!(sim.state().heartbeats_sent >= 4);
}

#[tokio::test(start_paused = true)]
async fn busy_connections_get_no_heartbeats() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    let all: Vec<String> = sim
        .instruments()
        .iter()
        .map(|i| i.token.to_string())
        .collect();
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{}]}}"#, all.join(",")),
    )
    .await;
    let until = Instant::now() + Duration::from_secs(5);
    let mut frames = 0;
    while Instant::now() < until {
        if let Message::Binary(b) = next(&mut ws).await {
            assert!(
                b.len() > 1,
                "heartbeat on a connection that got data this second"
            );
            frames += 1;
        }
    }
    assert!(frames > 20, "{frames} frames");
}

#[tokio::test(start_paused = true)]
async fn pings_are_answered_and_pongs_never_sent_unasked() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let mut pongs = Vec::new();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        match next(&mut ws).await {
            Message::Pong(payload) => pongs.push(payload),
            Message::Binary(b) => assert_eq!(b.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        pongs,
        vec![b"are you there".to_vec()],
        "exactly one pong, for our ping"
    );
}

#[tokio::test]
async fn invalid_requests_are_ignored_and_the_connection_stays_open() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    for junk in [
        "not json",
        "[1,2,3]",
        r#"{"a":"bogus","v":[1]}"#,
        r#"{"a":"subscribe"}"#,
        r#"{"a":"mode","v":["turbo",[408065]]}"#,
        r#"{"a":"subscribe","v":"408065"}"#,
    ] {
        send_text(&mut ws, junk).await;
    }
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{SBIN}]}}"#)).await;
    let (_, packets) = next_packets(&mut ws).await;
    assert_eq!(packets[0].token(), SBIN);
}

#[tokio::test]
async fn the_3000_slot_cap_ignores_the_excess_with_an_error_frame() {
    let sim = start_default().await;
    let mut ws = connect(&sim).await;
    // INFY first so it gets a slot; 3004 tokens in all (duplicates use slots too).
    let mut tokens = vec![INFY, INFY];
    tokens.extend(1..=3_002u32);
    let list: Vec<String> = tokens.iter().map(u32::to_string).collect();
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{}]}}"#, list.join(",")),
    )
    .await;
    let mut error = None;
    let mut snapshot = None;
    while error.is_none() || snapshot.is_none() {
        match next(&mut ws).await {
            Message::Text(text) => error = Some(text.to_string()),
            Message::Binary(b) if b.len() > 1 => snapshot = Some(decode(&b)),
            _ => {}
        }
    }
    let error: serde_json::Value = serde_json::from_str(&error.unwrap()).unwrap();
    assert_eq!(error["type"], "error");
    let message = error["data"].as_str().unwrap();
    assert!(
        message.contains("3000") && message.contains("4 ignored"),
        "{message}"
    );
    assert_eq!(snapshot.unwrap()[0].token(), INFY);
    let state = sim.state();
    assert_eq!(state.connections[0].slots_used, 3_000);
    assert_eq!(state.connections[0].subscriptions.len(), 2_999);
}

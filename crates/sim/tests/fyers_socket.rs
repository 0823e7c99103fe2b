//! The Fyers data socket over the wire, spoken with tokio-tungstenite and the `feedgate_fyers`
//! codec: auth (ok, unknown, expired, before-auth requests, the Authorization-header silence),
//! pings, subscribe → snapshot then updates (merged like the official client), lite mode,
//! depth and index topics, unknown topics, unsubscribe, pause/resume, the official client's
//! bogus length prefixes, acks (pacing and enforcement) and `/_sim/state`.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;
mod fyers_common;

use common::{start, start_default};
use feedgate_fyers::hsm::{
    AckCounter, AuthRequest, Channel, ChannelMask, ClientFrame, DepthColumn, DepthField, FeedMode,
    IndexField, NO_VALUE, Record, ScripField, ServerFrame, Side, SnapshotStore, StatusKind,
    TopicKind,
};
use feedgate_sim::{FyersMode, SimConfig};
use futures_util::StreamExt;
use fyers_common::*;
use secrecy::SecretString;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn auth_ok_reports_the_ack_count() {
    let sim = start_default().await;
    let mut ws = connect_fyers(&sim).await;
    assert_eq!(login(&mut ws, &sim.mint_fyers_token()).await, (true, 10));
    let state = sim.state().fyers;
    assert_eq!(state.auth.ok, 1);
    assert!(state.connections[0].authenticated);
    assert_eq!(state.connections[0].token_id, Some(state.tokens[0].id));
}

#[tokio::test]
async fn unknown_expired_and_revoked_keys_are_refused() {
    let sim = start_default().await;
    // Unknown hsm_key: N, nothing else.
    let mut ws = connect_fyers(&sim).await;
    let unknown = ClientFrame::Auth(AuthRequest::new(SecretString::from("feedface"), "tests"));
    send(&mut ws, &unknown).await;
    match next_frame(&mut ws).await {
        ServerFrame::AuthReply(reply) => {
            assert!(!reply.status.is_ok());
            assert_eq!(reply.status.as_bytes(), b"N");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Requests after a refused auth are refused too.
    assert!(!subscribe(&mut ws, &[SBIN]).await);

    // Expired (minted with a past exp): N and a type-51 auth error.
    let response = http()
        .post(format!(
            "{}/_sim/token?broker=fyers&expires_in=-60",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    let expired = body["access_token"].as_str().unwrap().to_owned();
    let mut ws = connect_fyers(&sim).await;
    assert_eq!(login(&mut ws, &expired).await, (false, 0));
    match next_frame(&mut ws).await {
        ServerFrame::Custom(msg) => {
            assert!(msg.is_auth_failure(), "{msg:?}");
            assert_eq!(msg.code, Some(11_001));
        }
        other => panic!("unexpected {other:?}"),
    }

    // Revoked by expire_token.
    let token = sim.mint_fyers_token();
    sim.fault(feedgate_sim::Fault::ExpireToken).unwrap();
    let mut ws = connect_fyers(&sim).await;
    assert_eq!(login(&mut ws, &token).await, (false, 0));
    assert!(matches!(next_frame(&mut ws).await, ServerFrame::Custom(m) if m.is_auth_failure()));
    assert_eq!(sim.state().fyers.auth.refused, 3);
}

#[tokio::test]
async fn requests_before_auth_are_refused_but_pings_answered() {
    let sim = start_default().await;
    let mut ws = connect_fyers(&sim).await;
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(next_binary(&mut ws).await.as_ref(), [0x00, 0x01, 0x0b]);
    send(&mut ws, &mode_frame(FeedMode::Full, 11)).await;
    assert!(!next_status(&mut ws, StatusKind::Mode).await);
    assert!(!subscribe(&mut ws, &[SBIN]).await);
    // After auth the same requests work, and pings are still answered.
    let (ok, _) = login(&mut ws, &sim.mint_fyers_token()).await;
    assert!(ok);
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(next_binary(&mut ws).await.as_ref(), [0x00, 0x01, 0x0b]);
    assert!(subscribe(&mut ws, &[SBIN]).await);
    let state = sim.state().fyers;
    assert_eq!((state.pings_received, state.pongs_sent), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn an_authorization_header_on_the_upgrade_silences_the_socket() {
    let sim = start_default().await;
    let token = sim.mint_fyers_token();
    let mut ws = try_connect_fyers(&sim, Some(&token)).await.unwrap();
    send(&mut ws, &auth_frame(&token)).await;
    send(&mut ws, &ClientFrame::Ping).await;
    send(&mut ws, &subscribe_frame(&[SBIN], 11)).await;
    wait_for("the auth frame to be ignored", || {
        sim.state().fyers.auth.ignored == 1
    })
    .await;
    let silence = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    assert!(silence.is_err(), "the server answered: {silence:?}");
    let state = sim.state().fyers;
    assert!(state.connections[0].authorization_header);
    assert!(!state.connections[0].authenticated);
    assert_eq!(state.auth.ok, 0);
}

/// Feeds data frames into a store until `done` says so; checks every record is for a known
/// topic (S before any U/L) and that message numbers count up by one.
async fn collect(
    ws: &mut Ws,
    store: &mut SnapshotStore,
    numbers: &mut Vec<u32>,
    mut done: impl FnMut(&Record) -> bool,
) -> Vec<Record> {
    let mut seen = Vec::new();
    loop {
        let data = next_data(ws).await;
        if let Some(last) = numbers.last() {
            assert_eq!(data.message_number, last + 1, "message numbers count up");
        }
        numbers.push(data.message_number);
        let mut finished = false;
        for record in data.records {
            store
                .apply(&record)
                .unwrap_or_else(|e| panic!("record {record:?} does not merge: {e}"));
            finished |= done(&record);
            seen.push(record);
        }
        if finished {
            return seen;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn subscribe_sends_snapshots_then_positional_updates() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    send(&mut ws, &mode_frame(FeedMode::Full, 11)).await;
    assert!(next_status(&mut ws, StatusKind::Mode).await);
    assert!(subscribe(&mut ws, &[SBIN, NIFTY, SBIN_DEPTH, INFY]).await);
    let first = next_data(&mut ws).await;
    assert_eq!(first.message_number, 1);
    let mut ids = HashSet::new();
    let mut store = SnapshotStore::new();
    for record in &first.records {
        let Record::Snapshot(s) = record else {
            panic!("first frame holds snapshots only: {record:?}");
        };
        assert!(ids.insert(s.topic_id), "topic ids are unique");
        assert_eq!((s.multiplier, s.precision), (1, 2));
        store.apply(record).unwrap();
    }
    assert_eq!(ids.len(), 4);
    let sbin = store.by_topic(&topics(&[SBIN])[0]).unwrap();
    assert_eq!(sbin.values().len(), 21);
    assert_eq!(
        sbin.scrip(ScripField::OpenInterest),
        None,
        "no OI for equities"
    );
    assert_eq!(sbin.scrip(ScripField::YearHigh), None);
    let (ltp, low, high) = (
        sbin.ltp().unwrap(),
        sbin.scrip(ScripField::LowPrice).unwrap(),
        sbin.scrip(ScripField::HighPrice).unwrap(),
    );
    assert!(low <= ltp && ltp <= high, "{low} {ltp} {high}");
    assert!(sbin.scrip(ScripField::BidPrice) < sbin.scrip(ScripField::AskPrice));
    assert_eq!(ltp % 5, 0, "on the tick grid");
    assert_eq!(sbin.exchange_token(), "3045");
    assert_eq!(sbin.symbol(), "SBIN-EQ");

    // Updates follow: U records merge, carry INT32_MIN for unchanged positions, and are sent
    // only when something changed.
    let mut numbers = vec![1];
    let mut updated = HashSet::new();
    let mut saw_unchanged_marker = false;
    let records = collect(&mut ws, &mut store, &mut numbers, |r| {
        if let Record::Update(u) = r {
            updated.insert(u.topic_id);
        }
        updated.len() == 4
    })
    .await;
    for record in &records {
        match record {
            Record::Update(u) => {
                assert!(!u.values.is_empty());
                assert_ne!(
                    u.values.last(),
                    Some(&NO_VALUE),
                    "trailing unchanged dropped"
                );
                saw_unchanged_marker |= u.values.contains(&NO_VALUE);
            }
            other => panic!("only updates after the snapshots: {other:?}"),
        }
    }
    assert!(saw_unchanged_marker);

    // The client's merged view equals what the simulator says it sent (stalled: quiet).
    sim.fault(feedgate_sim::Fault::Stall { seconds: 60.0 })
        .unwrap();
    while let Ok(Some(Ok(Message::Binary(bytes)))) =
        tokio::time::timeout(Duration::from_millis(200), ws.next()).await
    {
        if let Ok(ServerFrame::Data(data)) = ServerFrame::decode(&bytes) {
            for record in &data.records {
                store.apply(record).unwrap();
            }
        }
    }
    let state = sim.state().fyers;
    let conn = &state.connections[0];
    assert_eq!(conn.subscriptions.len(), 4);
    for sub in &conn.subscriptions {
        let client = store.by_topic(&topics(&[&sub.topic])[0]).unwrap();
        assert_eq!(client.values(), sub.values.as_slice(), "{}", sub.topic);
        assert_eq!(sub.mode, FyersMode::Full);
    }
    let symbols: HashSet<&str> = conn
        .subscriptions
        .iter()
        .map(|s| s.symbol.as_str())
        .collect();
    assert_eq!(
        symbols,
        HashSet::from(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "NSE:INFY-EQ"])
    );
    assert_eq!(conn.message_number, *numbers.last().unwrap());
}

#[tokio::test(start_paused = true)]
async fn index_and_depth_topics_carry_their_field_lists() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    let stem = "if|nse_cm|NIFTY50";
    assert!(subscribe(&mut ws, &[NIFTY, SENSEX, SBIN_DEPTH, stem]).await);
    let mut store = SnapshotStore::new();
    for record in next_data(&mut ws).await.records {
        store.apply(&record).unwrap();
    }
    let nifty = store.by_topic(&topics(&[NIFTY])[0]).unwrap();
    assert_eq!(nifty.kind(), TopicKind::Index);
    assert_eq!(nifty.values().len(), 6);
    let (open, low, high, ltp) = (
        nifty.index_value(IndexField::OpenPrice).unwrap(),
        nifty.index_value(IndexField::LowPrice).unwrap(),
        nifty.index_value(IndexField::HighPrice).unwrap(),
        nifty.ltp().unwrap(),
    );
    assert!(low <= open && open <= high && low <= ltp && ltp <= high);
    assert!(nifty.change(2).is_some());
    let alias = store.by_topic(&topics(&[stem])[0]).unwrap();
    assert_eq!(
        alias.ltp(),
        nifty.ltp(),
        "the stem topic streams the same index"
    );
    let sensex = store.by_topic(&topics(&[SENSEX])[0]).unwrap();
    assert_eq!(sensex.exchange(), "bse_cm");

    let depth = store.by_topic(&topics(&[SBIN_DEPTH])[0]).unwrap();
    assert_eq!(depth.values().len(), 30);
    let at = |side, column, level| {
        depth
            .depth(DepthField::new(side, column, level).unwrap())
            .unwrap()
    };
    assert!(at(Side::Bid, DepthColumn::Price, 1) < at(Side::Ask, DepthColumn::Price, 1));
    for level in 1..5 {
        assert!(
            at(Side::Bid, DepthColumn::Price, level) > at(Side::Bid, DepthColumn::Price, level + 1)
        );
        assert!(
            at(Side::Ask, DepthColumn::Price, level) < at(Side::Ask, DepthColumn::Price, level + 1)
        );
    }
    for level in 1..=5 {
        for side in [Side::Bid, Side::Ask] {
            assert!(at(side, DepthColumn::Size, level) > 0);
            assert!(at(side, DepthColumn::Orders, level) > 0);
        }
    }
    // Depth updates merge too.
    let mut numbers = Vec::new();
    let depth_id = depth.topic_id();
    collect(
        &mut ws,
        &mut store,
        &mut numbers,
        |r| matches!(r, Record::Update(u) if u.topic_id == depth_id),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn lite_mode_sends_snapshots_then_lite_records_and_full_mode_resnapshots() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    send(&mut ws, &mode_frame(FeedMode::Lite, 11)).await;
    assert!(next_status(&mut ws, StatusKind::Mode).await);
    assert!(subscribe(&mut ws, &[SBIN, NIFTY, SBIN_DEPTH]).await);
    let mut store = SnapshotStore::new();
    let snapshots = next_data(&mut ws).await;
    assert!(
        snapshots
            .records
            .iter()
            .all(|r| matches!(r, Record::Snapshot(_)))
    );
    assert_eq!(snapshots.records.len(), 3);
    for record in &snapshots.records {
        store.apply(record).unwrap();
    }
    let depth_id = store
        .by_topic(&topics(&[SBIN_DEPTH])[0])
        .unwrap()
        .topic_id();
    let mut lite = HashMap::new();
    let mut numbers = vec![snapshots.message_number];
    collect(&mut ws, &mut store, &mut numbers, |r| {
        match r {
            Record::Lite(l) => {
                assert_ne!(l.topic_id, depth_id, "no lite records for depth");
                *lite.entry(l.topic_id).or_insert(0) += 1;
            }
            other => panic!("lite mode sends L records only: {other:?}"),
        }
        lite.len() == 2 && lite.values().all(|n| *n >= 2)
    })
    .await;
    assert_eq!(
        sim.state().fyers.connections[0].subscriptions[0].mode,
        FyersMode::Lite
    );

    // Back to full: fresh snapshots for the topics, then U records.
    send(&mut ws, &mode_frame(FeedMode::Full, 11)).await;
    assert!(next_status(&mut ws, StatusKind::Mode).await);
    let again = next_data(&mut ws).await;
    assert_eq!(again.records.len(), 3);
    assert!(
        again
            .records
            .iter()
            .all(|r| matches!(r, Record::Snapshot(_)))
    );
    for record in &again.records {
        store.apply(record).unwrap();
    }
    // (Lite frames in flight during the switch were skipped above.)
    let mut numbers = vec![again.message_number];
    collect(&mut ws, &mut store, &mut numbers, |r| {
        assert!(matches!(r, Record::Update(_)), "{r:?}");
        true
    })
    .await;
}

#[tokio::test]
async fn unknown_topics_get_a_notice_and_no_usable_topic_fails() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    send(&mut ws, &subscribe_frame(&["sf|nse_cm|999999"], 11)).await;
    match next_frame(&mut ws).await {
        ServerFrame::Status(s) => assert!(s.kind == StatusKind::Subscribe && !s.status.is_ok()),
        other => panic!("unexpected {other:?}"),
    }
    match next_frame(&mut ws).await {
        ServerFrame::Custom(m) => {
            assert_eq!((m.code, m.ref_type), (Some(51_002), Some(4)));
            assert!(m.message.contains("sf|nse_cm|999999"), "{}", m.message);
        }
        other => panic!("unexpected {other:?}"),
    }
    send(&mut ws, &subscribe_frame(&["garbage", SBIN], 11)).await;
    assert!(matches!(next_frame(&mut ws).await, ServerFrame::Status(s) if s.status.is_ok()));
    assert!(matches!(next_frame(&mut ws).await, ServerFrame::Custom(m) if m.code == Some(51_002)));
    let data = next_data(&mut ws).await;
    assert!(matches!(&data.records[..], [Record::Snapshot(s)] if s.topic.as_str() == SBIN));
}

#[tokio::test(start_paused = true)]
async fn unsubscribe_pause_and_resume() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    assert!(subscribe(&mut ws, &[SBIN, INFY]).await);
    let mut store = SnapshotStore::new();
    for record in next_data(&mut ws).await.records {
        store.apply(&record).unwrap();
    }
    let infy = store.by_topic(&topics(&[INFY])[0]).unwrap().topic_id();
    send(
        &mut ws,
        &ClientFrame::Unsubscribe(feedgate_fyers::hsm::TopicRequest {
            topics: topics(&[SBIN]),
            channel: Channel::DEFAULT,
        }),
    )
    .await;
    assert!(next_status(&mut ws, StatusKind::Unsubscribe).await);
    let mut numbers = Vec::new();
    let mut seen = 0;
    let records = collect(&mut ws, &mut store, &mut numbers, |_| {
        seen += 1;
        seen >= 3
    })
    .await;
    assert!(
        records.iter().all(|r| r.topic_id() == infy),
        "only INFY after unsubscribing SBIN"
    );

    let ch11 = ChannelMask::single(Channel::DEFAULT);
    send(&mut ws, &ClientFrame::Pause(ch11)).await;
    assert!(next_status(&mut ws, StatusKind::Pause).await);
    let quiet = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    assert!(quiet.is_err(), "a paused channel sends nothing: {quiet:?}");
    assert!(sim.state().fyers.connections[0].subscriptions[0].paused);
    send(&mut ws, &ClientFrame::Resume(ch11)).await;
    assert!(next_status(&mut ws, StatusKind::Resume).await);
    // What changed during the pause arrives at once.
    let catch_up = next_data(&mut ws).await;
    assert!(matches!(&catch_up.records[..], [Record::Update(u)] if u.topic_id == infy));
}

#[tokio::test]
async fn the_official_clients_bogus_length_prefixes_are_accepted() {
    let sim = start_default().await;
    let mut ws = logged_in(&sim).await;
    // spec §9.1: mode full with prefix 0, subscribe with prefix 0x01bf (true length 45).
    send_raw(
        &mut ws,
        &[
            0x00, 0x00, 0x0c, 0x02, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
            0x00, 0x02, 0x00, 0x01, 0x46,
        ],
    )
    .await;
    assert!(next_status(&mut ws, StatusKind::Mode).await);
    let mut subscribe = vec![0x01, 0xbf, 0x04, 0x02, 0x01, 0x00, 0x24, 0x00, 0x02, 0x0e];
    subscribe.extend_from_slice(b"sf|nse_cm|3045");
    subscribe.push(0x12);
    subscribe.extend_from_slice(b"if|nse_cm|Nifty 50");
    subscribe.extend_from_slice(&[0x02, 0x00, 0x01, 0x0b]);
    send_raw(&mut ws, &subscribe).await;
    assert!(next_status(&mut ws, StatusKind::Subscribe).await);
    assert_eq!(next_data(&mut ws).await.records.len(), 2);
    // Garbage from the client is ignored and counted; the connection stays usable.
    send_raw(&mut ws, &[0x00, 0x05, 0x04, 0xff]).await;
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(
        next_binary_skipping_data(&mut ws).await.as_ref(),
        [0x00, 0x01, 0x0b]
    );
    assert_eq!(sim.state().fyers.bad_frames_received, 1);
}

/// The next binary message that is not a data frame.
async fn next_binary_skipping_data(ws: &mut Ws) -> bytes::Bytes {
    loop {
        let bytes = next_binary(ws).await;
        if bytes.get(2) != Some(&6) {
            return bytes;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn acks_are_paced_and_recorded() {
    let sim = start(SimConfig {
        fyers_ack_count: 2,
        ..SimConfig::default()
    })
    .await;
    let mut ws = connect_fyers(&sim).await;
    let (ok, ack_count) = login(&mut ws, &sim.mint_fyers_token()).await;
    assert_eq!((ok, ack_count), (true, 2));
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY]).await);
    let mut acks = AckCounter::new(ack_count);
    let mut last_acked = 0;
    for _ in 0..10 {
        let data = next_data(&mut ws).await;
        if let Some(ack) = acks.on_data(data.message_number) {
            send(&mut ws, &ack).await;
            last_acked = data.message_number;
        }
    }
    wait_for("the acks to arrive", || {
        sim.state().fyers.connections[0].last_ack == Some(last_acked)
    })
    .await;
    assert_eq!(sim.state().fyers.acks_received, 5);
    assert_eq!(last_acked % 2, 0);
}

#[tokio::test(start_paused = true)]
async fn an_enforcing_server_closes_a_client_that_never_acks() {
    let sim = start(SimConfig {
        fyers_ack_count: 2,
        fyers_enforce_acks: true,
        ..SimConfig::default()
    })
    .await;
    let mut ws = logged_in(&sim).await;
    assert!(subscribe(&mut ws, &[SBIN, INFY, NIFTY]).await);
    let started = tokio::time::Instant::now();
    let mut notice = None;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Custom(m)) = ServerFrame::decode(&bytes) {
                    notice = Some(m);
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(10),
        "closed after {elapsed:?}"
    );
    let notice = notice.expect("a type-51 notice before the close");
    assert_eq!((notice.code, notice.ref_type), (Some(51_003), Some(3)));
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1008));
    assert_eq!(sim.state().fyers.ack_violations, 1);
}

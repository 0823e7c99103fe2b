//! Integration tests of the gateway core (issue 3, item 7) against the in-process simulator:
//! the client protocol, shared upstream subscriptions, reconnects after faults, sharding past
//! 3000 instruments, slow and throttled clients, bad input and graceful shutdown.
//!
//! Everything timed runs in paused time (`start_paused = true`): the simulator's market, the
//! gateway's watchdog and throttles, and the clients' arrival timestamps all follow tokio's
//! clock, so recovery times are measured exactly and cost no real time.
//!
//! A pattern used throughout: at the default pace the simulator updates an instrument at most
//! once every 0.5 s (jittered 0.5–1.5 s). So right after a client receives a tick of a symbol,
//! nothing newer for that symbol is in flight; the next tick of it that arrives was produced
//! later (after a fault injected at that moment, it came through a new connection).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Env, EnvBuilder, WAIT, WsClient, client, next_tick, sim_until, subscribe, tick_after,
    wait_until,
};
use feedgate_gateway::upstream::FeedEvent;
use feedgate_gateway::upstream::state::Disconnect;
use feedgate_kite::Mode;
use feedgate_sim::{Fault, SimState};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SBIN: u32 = 779_521;
const INFY: u32 = 408_065;
const RELIANCE: u32 = 738_561;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn volume(tick: &Value) -> u64 {
    tick["data"]["volume"]
        .as_u64()
        .unwrap_or_else(|| panic!("no volume in {tick}"))
}

/// Each simulator connection's subscriptions as (token, mode), sorted by token.
fn subs(st: &SimState) -> Vec<Vec<(u32, Mode)>> {
    st.connections
        .iter()
        .map(|c| c.subscriptions.iter().map(|s| (s.token, s.mode)).collect())
        .collect()
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// Records every JSON message a client receives with its arrival time (tokio's clock), in a
/// task of its own, so a test can watch several clients at once and judge timing afterwards.
struct Recorder {
    log: Arc<Mutex<Vec<(Instant, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    fn start(c: WsClient) -> (Recorder, Sink) {
        let (sink, mut stream) = c.ws.split();
        let log: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
        let writer = Arc::clone(&log);
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let v = match msg {
                    Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
                    Message::Close(c) => {
                        json!({"type": "close", "code": c.map(|c| u16::from(c.code))})
                    }
                    _ => continue,
                };
                writer.lock().unwrap().push((Instant::now(), v));
            }
        });
        (Recorder { log, task }, sink)
    }

    /// Arrival time and volume of every `ticker` for `symbol`, in arrival order.
    fn ticks(&self, symbol: &str) -> Vec<(Instant, u64)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, v)| v["type"] == "ticker" && v["data"]["symbol"] == symbol)
            .map(|(t, v)| (*t, volume(v)))
            .collect()
    }

    fn last_volume(&self, symbol: &str) -> Option<u64> {
        self.ticks(symbol).last().map(|(_, v)| *v)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. subscribe → ack → ticks → unsubscribe → no more ticks
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn subscribe_acks_streams_and_unsubscribe_stops_the_ticks() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    c.send(
        json!({"action": "subscribe", "symbols": ["NSE:SBIN", "nse:infy", "NSE:NOPE"],
                  "mode": "full", "id": "sub-1"}),
    )
    .await;
    let ack = c.next_of("ack", WAIT).await.expect("ack");
    assert_eq!(
        ack,
        json!({"type": "ack", "action": "subscribe", "count": 2,
               "symbols": ["NSE:SBIN", "NSE:INFY"],
               "rejected": [{"symbol": "NSE:NOPE", "reason": "unknown instrument"}],
               "subscribed": 2, "id": "sub-1"})
    );

    // Ticks of both, in full mode, from the WebSocket feed.
    let sbin = next_tick(&mut c, "NSE:SBIN", WAIT)
        .await
        .expect("SBIN ticks");
    let d = &sbin["data"];
    assert_eq!(d["token"], SBIN);
    assert_eq!(d["src"], "ws");
    assert!(d["ltp"].as_f64().unwrap() > 0.0, "{sbin}");
    assert!(d["volume"].as_u64().unwrap() > 0, "{sbin}");
    assert_eq!(
        d["depth"]["buy"].as_array().map(Vec::len),
        Some(5),
        "{sbin}"
    );
    assert!(next_tick(&mut c, "NSE:INFY", WAIT).await.is_some());

    // Unsubscribe SBIN right after one of its updates (nothing newer of it in flight).
    let mut last = volume(&sbin);
    loop {
        let t = next_tick(&mut c, "NSE:SBIN", WAIT)
            .await
            .expect("SBIN keeps ticking");
        if volume(&t) > last {
            break;
        }
        last = volume(&t); // a repeated snapshot value
    }
    c.send(json!({"action": "unsubscribe", "symbols": ["NSE:SBIN"], "id": 7}))
        .await;
    let ack = c.next_of("ack", WAIT).await.expect("unsubscribe ack");
    assert_eq!(
        ack,
        json!({"type": "ack", "action": "unsubscribe", "count": 1, "symbols": ["NSE:SBIN"],
               "rejected": [], "subscribed": 1, "id": 7})
    );
    // SBIN updates about once a second; three seconds without one, while INFY goes on.
    let until = Instant::now() + Duration::from_secs(3);
    let mut infy = 0;
    while let Some(t) = c
        .next_of("ticker", until.saturating_duration_since(Instant::now()))
        .await
    {
        assert_eq!(
            t["data"]["symbol"], "NSE:INFY",
            "tick after unsubscribe: {t}"
        );
        infy += 1;
    }
    assert!(infy >= 1, "INFY kept streaming");

    // Unsubscribing what is not subscribed says so.
    c.send(json!({"action": "unsubscribe", "symbols": ["NSE:SBIN"], "id": "u2"}))
        .await;
    let ack = c.next_of("ack", WAIT).await.expect("ack");
    assert_eq!(ack["count"], 0);
    assert_eq!(
        ack["rejected"],
        json!([{"symbol": "NSE:SBIN", "reason": "not subscribed"}])
    );
    assert_eq!(ack["id"], "u2");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. snapshot on subscribe
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_late_subscriber_gets_the_latest_value_right_after_its_ack() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "quote").await;
    let first = next_tick(&mut a, "NSE:SBIN", WAIT).await.expect("a tick");
    // Wait for a real update, so that the next one is at least 0.5 s away.
    let latest = loop {
        let t = next_tick(&mut a, "NSE:SBIN", WAIT).await.expect("ticks");
        if volume(&t) > volume(&first) {
            break t;
        }
    };

    let mut b = client(&env).await;
    let asked = Instant::now();
    b.send(json!({"action": "subscribe", "symbols": ["NSE:SBIN"], "id": "b"}))
        .await;
    let ack = b.next_within(WAIT).await.unwrap();
    assert_eq!(
        (ack["type"].as_str(), ack["id"].as_str()),
        (Some("ack"), Some("b")),
        "{ack}"
    );
    let snap = b.next_within(WAIT).await.unwrap();
    assert_eq!(
        snap["type"], "ticker",
        "the message right after the ack: {snap}"
    );
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "snapshot took {:?}: it came from the feed, not the cache",
        asked.elapsed()
    );
    assert_eq!(snap["data"]["symbol"], "NSE:SBIN");
    assert_eq!(snap["data"]["src"], "ws");
    assert_eq!(volume(&snap), volume(&latest), "the latest known value");
    assert_eq!(snap["data"]["ltp"], latest["data"]["ltp"]);
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. two clients share one upstream subscription at the highest mode
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn two_clients_share_one_upstream_subscription_at_the_highest_mode() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Ltp)]]).await,
        "{:?}",
        env.sim_state()
    );
    let mut b = client(&env).await;
    subscribe(&mut b, &["NSE:SBIN"], "full").await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Full)]]).await,
        "ltp + full → full: {:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(st.connections.len(), 1, "one ticker connection");
    assert_eq!(st.connections[0].slots_used, 1, "the token subscribed once");
    assert_eq!(st.upgrades.accepted, 1);

    // Each client gets its own mode from the one upstream subscription.
    let ta = next_tick(&mut a, "NSE:SBIN", WAIT).await.expect("a ticks");
    assert!(ta["data"].get("volume").is_none(), "ltp mode: {ta}");
    assert!(ta["data"].get("open").is_none(), "ltp mode: {ta}");
    // b's snapshot from the cache carries what the ltp-era upstream delivered; once the
    // upstream is in full mode, b's ticks carry the depth.
    let end = Instant::now() + WAIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let tb = next_tick(&mut b, "NSE:SBIN", left)
            .await
            .expect("b ticks in full mode");
        if tb["data"]["depth"].is_object() {
            break;
        }
    }

    let status = env.ws_status().await;
    assert_eq!(status["connections"], 2, "{status}");
    assert_eq!(status["subscribed_instruments"], 1, "{status}");
    assert_eq!(status["upstream"]["subscribed"], 1, "{status}");

    // The full-mode client leaves: the upstream mode falls back to ltp, same connection.
    let conn = st.connections[0].id;
    b.ws.close(None).await.unwrap();
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Ltp)]]).await,
        "{:?}",
        env.sim_state()
    );
    assert_eq!(env.sim_state().connections[0].id, conn);
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. last unsubscribe unsubscribes upstream; a disconnect counts as unsubscribing
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_last_unsubscribe_or_disconnect_unsubscribes_upstream() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    let mut b = client(&env).await;
    let mut c = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN", "NSE:INFY"], "quote").await;
    subscribe(&mut b, &["NSE:SBIN"], "quote").await;
    subscribe(&mut c, &["NSE:INFY"], "quote").await;
    let both = vec![(INFY, Mode::Quote), (SBIN, Mode::Quote)];
    assert!(sim_until(&env, WAIT, |s| subs(s) == [both.clone()]).await);
    let conn = env.sim_state().connections[0].id;

    // a leaves SBIN and INFY; b and c still want them. The next request (RELIANCE) proves that
    // the unsubscribe went all the way through (the hub serves requests in order).
    a.send(json!({"action": "unsubscribe", "symbols": ["NSE:SBIN", "NSE:INFY"]}))
        .await;
    let ack = a.next_of("ack", WAIT).await.unwrap();
    assert_eq!(
        (ack["action"].as_str(), ack["count"].as_u64()),
        (Some("unsubscribe"), Some(2))
    );
    subscribe(&mut a, &["NSE:RELIANCE"], "quote").await;
    let three = vec![
        (INFY, Mode::Quote),
        (RELIANCE, Mode::Quote),
        (SBIN, Mode::Quote),
    ];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [three.clone()]).await,
        "{:?}",
        env.sim_state()
    );

    // b closes politely: SBIN goes.
    b.ws.close(None).await.unwrap();
    let two = vec![(INFY, Mode::Quote), (RELIANCE, Mode::Quote)];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [two.clone()]).await,
        "{:?}",
        env.sim_state()
    );
    // c vanishes without a close frame: INFY goes.
    drop(c);
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(RELIANCE, Mode::Quote)]]).await,
        "{:?}",
        env.sim_state()
    );
    // a's last unsubscribe: nothing left upstream, and the connection stays up.
    a.send(json!({"action": "unsubscribe", "symbols": ["NSE:RELIANCE"]}))
        .await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [Vec::new()]).await,
        "{:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(
        st.connections[0].id, conn,
        "incremental changes, no reconnect"
    );
    assert_eq!(st.connections[0].slots_used, 0);
    assert!(
        wait_until(WAIT, || async {
            let s = env.ws_status().await;
            s["connections"] == 1 && s["subscribed_instruments"] == 0
        })
        .await,
        "{}",
        env.ws_status().await
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. drop → reconnect, resubscribe with the right modes, ticks resume
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn after_a_drop_the_gateway_reconnects_resubscribes_and_ticks_resume() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    subscribe(&mut a, &["NSE:INFY"], "full").await;
    let mut b = client(&env).await;
    subscribe(&mut b, &["NSE:SBIN"], "quote").await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE"], "ltp").await;
    let want = vec![
        (INFY, Mode::Full),
        (RELIANCE, Mode::Ltp),
        (SBIN, Mode::Quote),
    ];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [want.clone()]).await,
        "{:?}",
        env.sim_state()
    );
    let old = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();

    // Wait for a real RELIANCE update, then drop the broker connection at that instant.
    let first = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
    while next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap()["data"]["ltp"]
        == first["data"]["ltp"]
    {}
    let fault_at = Instant::now();
    env.fault(Fault::Drop);
    let tick = next_tick(&mut probe, "NSE:RELIANCE", Duration::from_secs(10))
        .await
        .expect("ticks resume after a drop");
    let recovery = fault_at.elapsed();
    println!("drop → first tick at the client: {recovery:?} (paused time)");
    assert!(
        recovery <= Duration::from_millis(1500),
        "recovery took {recovery:?}"
    );
    assert_eq!(tick["data"]["src"], "ws");

    // One new connection, with everything resubscribed in the right modes.
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1
            && s.connections[0].id != old
            && subs(s) == [want.clone()])
        .await,
        "{:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(st.upgrades.accepted, 2);
    assert_eq!(st.faults.drops, 1);
    assert_eq!(st.connections[0].slots_used, 3);

    // The typed lifecycle: disconnected (socket closed or errored), connected, resubscribed.
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push(ev);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Disconnected { reason, .. }
            if matches!(reason, Disconnect::Closed { .. } | Disconnect::Error(_)))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Connected { shard: 0, .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Resubscribed { instruments: 3, .. })),
        "{seen:?}"
    );

    // Every client keeps receiving in its own mode, from the new connection (a second after
    // the fault, anything still in flight from the old one is long delivered).
    let later = fault_at + Duration::from_secs(1);
    let t = tick_after(&mut a, "NSE:INFY", later).await;
    assert!(t["data"]["depth"].is_object(), "INFY still full: {t}");
    let t = tick_after(&mut a, "NSE:SBIN", later).await;
    assert!(t["data"].get("volume").is_none(), "a's SBIN still ltp: {t}");
    let t = tick_after(&mut b, "NSE:SBIN", later).await;
    assert!(
        t["data"]["volume"].is_u64() && t["data"].get("depth").is_none(),
        "b's SBIN still quote: {t}"
    );

    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 1, "{status}");
    assert_eq!(status["upstream"]["subscribed"], 3, "{status}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 6. stall → detected by the watchdog, reconnect, ticks resume
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_stalled_socket_is_detected_and_replaced_within_the_liveness_timeout() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN", "NSE:INFY"], "full").await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE"], "quote").await;
    let want = vec![
        (INFY, Mode::Full),
        (RELIANCE, Mode::Quote),
        (SBIN, Mode::Full),
    ];
    assert!(sim_until(&env, WAIT, |s| subs(s) == [want.clone()]).await);
    let old = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();

    // Stall right after a real RELIANCE update: the last frame reached the gateway just now.
    let first = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
    let last = loop {
        let t = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
        if volume(&t) > volume(&first) {
            break volume(&t);
        }
    };
    let stall_at = Instant::now();
    env.fault(Fault::Stall { seconds: 30.0 });
    let tick = next_tick(&mut probe, "NSE:RELIANCE", Duration::from_secs(10))
        .await
        .expect("ticks resume after a stall");
    let recovery = stall_at.elapsed();
    println!("stall → first tick at the client: {recovery:?} (paused time)");
    assert!(
        recovery >= Duration::from_millis(2900),
        "a tick came through the stalled socket after {recovery:?}"
    );
    assert!(
        recovery <= Duration::from_millis(3500),
        "recovery took {recovery:?}"
    );
    // The new connection's snapshot carries what the market did meanwhile.
    assert!(volume(&tick) > last, "{tick}");

    // The watchdog's verdict, then a fresh connection with everything resubscribed (the
    // stalled one is still open on the simulator's side, frozen).
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push(ev);
    }
    assert!(
        seen.iter().any(|e| matches!(e, FeedEvent::Disconnected {
            reason: Disconnect::Dead { silent_for }, ..
        } if *silent_for >= Duration::from_secs(3) && *silent_for < Duration::from_millis(3500))),
        "{seen:?}"
    );
    assert!(
        sim_until(&env, WAIT, |s| s
            .connections
            .iter()
            .any(|c| c.id != old && !c.stalled && c.subscriptions.len() == 3))
        .await,
        "{:?}",
        env.sim_state()
    );
    let fresh = env
        .sim_state()
        .connections
        .into_iter()
        .find(|c| c.id != old)
        .unwrap();
    let modes: Vec<(u32, Mode)> = fresh
        .subscriptions
        .iter()
        .map(|s| (s.token, s.mode))
        .collect();
    assert_eq!(modes, want);
    assert!(env.sim_state().faults.stalled_connections.contains(&old));

    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 1, "{status}");
    let h = env.health().await;
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    // And the other client streams again, from the new connection.
    let t = tick_after(&mut a, "NSE:INFY", stall_at + recovery).await;
    assert!(t["data"]["depth"].is_object(), "{t}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 7. malformed frame → skipped, same connection, feed continues
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_malformed_frame_is_skipped_and_the_feed_continues_on_the_same_connection() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "full").await;
    assert!(sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Full)]]).await);
    let conn = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();
    next_tick(&mut c, "NSE:SBIN", WAIT).await.unwrap();

    let fault_at = Instant::now();
    env.fault(Fault::Malformed);
    assert!(sim_until(&env, WAIT, |s| s.faults.malformed_frames_sent == 1).await);
    // Updates keep coming for seconds afterwards, strictly newer each time.
    let mut last = 0;
    let mut after = 0;
    while after < 3 {
        let t = next_tick(&mut c, "NSE:SBIN", WAIT)
            .await
            .expect("the feed continues");
        assert!(volume(&t) >= last);
        last = volume(&t);
        if fault_at.elapsed() >= Duration::from_secs(1) {
            after += 1;
        }
    }
    let st = env.sim_state();
    assert_eq!(st.connections.len(), 1);
    assert_eq!(st.connections[0].id, conn, "no reconnect");
    assert_eq!(st.upgrades.accepted, 1);
    assert!(
        events.try_recv().is_err(),
        "no lifecycle event (no disconnect) after a malformed frame"
    );
    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 0, "{status}");
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 8. more than 3000 instruments → a second upstream connection
// ---------------------------------------------------------------------------------------------

fn syn(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("NSE:SYN{n:04}")).collect()
}

#[tokio::test(start_paused = true)]
async fn more_than_3000_instruments_open_a_second_upstream_connection() {
    let env = EnvBuilder::new()
        .sim(|s| s.extra_instruments = 3_100)
        .start()
        .await;
    // Kite's per-connection cap is 3000; so is a client's: two clients, 2000 + 1001.
    let mut a = client(&env).await;
    let first = syn(1..=2000);
    let refs: Vec<&str> = first.iter().map(String::as_str).collect();
    let ack = subscribe(&mut a, &refs, "ltp").await;
    assert_eq!(ack["count"], 2000);
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1
            && s.connections[0].subscriptions.len() == 2000)
        .await
    );
    let mut b = client(&env).await;
    let second = syn(2001..=3001);
    let refs: Vec<&str> = second.iter().map(String::as_str).collect();
    let ack = subscribe(&mut b, &refs, "ltp").await;
    assert_eq!(ack["count"], 1001);

    assert!(
        sim_until(&env, WAIT, |s| {
            let n: Vec<usize> = s
                .connections
                .iter()
                .map(|c| c.subscriptions.len())
                .collect();
            n == [3000, 1]
        })
        .await,
        "{:?}",
        env.sim_state()
            .connections
            .iter()
            .map(|c| c.subscriptions.len())
            .collect::<Vec<_>>()
    );
    let st = env.sim_state();
    let mut all: Vec<u32> = st
        .connections
        .iter()
        .flat_map(|c| c.subscriptions.iter().map(|s| s.token))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 3001, "each instrument on exactly one connection");
    assert!(st.connections.iter().all(|c| c.slots_used <= 3000));

    // The instrument on the second connection streams too.
    let extra = st.connections[1].subscriptions[0].token;
    let extra_symbol = env
        .sim
        .instruments()
        .into_iter()
        .find(|i| i.token == extra)
        .unwrap()
        .symbol();
    assert_eq!(
        extra_symbol, "NSE:SYN3001",
        "assignment is sticky: the newest one moved"
    );
    assert!(
        next_tick(&mut b, &extra_symbol, WAIT).await.is_some(),
        "{extra_symbol} ticks"
    );

    let status = env.ws_status().await;
    let shards = status["upstream"]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{status}");
    assert!(shards.iter().all(|s| s["state"] == "connected"), "{status}");
    assert_eq!(shards[0]["subscribed"], 3000);
    assert_eq!(shards[1]["subscribed"], 1);
    assert_eq!(status["upstream"]["subscribed"], 3001);
    assert_eq!(status["subscribed_instruments"], 3001);

    // When the demand fits one connection again, the extra one closes.
    b.ws.close(None).await.unwrap();
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1).await,
        "{:?}",
        env.sim_state().connections.len()
    );
    assert!(
        wait_until(WAIT, || async {
            env.ws_status().await["upstream"]["shards"]
                .as_array()
                .is_some_and(|s| s.len() == 1)
        })
        .await
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 9. a client that never reads does not delay a normal one
// ---------------------------------------------------------------------------------------------

/// A client whose socket has a tiny receive buffer and which never reads it.
async fn stuck_client(env: &Env) -> WebSocketStream<TcpStream> {
    let addr = env.gw().local_addr();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws/market"), tcp)
        .await
        .unwrap();
    ws
}

/// The volume in a Kite packet (quote and full modes of tradable instruments).
fn packet_volume(p: &feedgate_kite::Packet) -> Option<u64> {
    match p {
        feedgate_kite::Packet::Quote(q) => Some(u64::from(q.volume_traded)),
        feedgate_kite::Packet::Full(f) => Some(u64::from(f.quote.volume_traded)),
        _ => None,
    }
}

/// A ticker connection of our own to the simulator, beside the gateway's: every update of
/// one instrument exactly when the simulator sends it. The yardstick for "prompt".
struct SimFeed {
    log: Arc<Mutex<Vec<(Instant, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SimFeed {
    async fn start(env: &Env, token: u32) -> SimFeed {
        let url = format!(
            "{}/?api_key={}&access_token={}",
            env.sim.ws_url(),
            env.config.kite.api_key,
            env.minted_token.as_deref().unwrap()
        );
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .unwrap();
        ws.send(Message::text(format!(
            r#"{{"a":"subscribe","v":[{token}]}}"#
        )))
        .await
        .unwrap();
        let log: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
        let writer = Arc::clone(&log);
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Binary(frame) = msg else {
                    continue;
                };
                let Ok(feedgate_kite::Message::Packets(packets)) =
                    feedgate_kite::parse_message(&frame)
                else {
                    continue;
                };
                for p in packets.flatten() {
                    if p.token() == token
                        && let Some(v) = packet_volume(&p)
                    {
                        writer.lock().unwrap().push((Instant::now(), v));
                    }
                }
            }
        });
        SimFeed { log, task }
    }

    fn updates(&self) -> Vec<(Instant, u64)> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for SimFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_does_not_delay_a_normal_client() {
    // ~100 updates per second per instrument, every instrument in full mode.
    let env = EnvBuilder::new()
        .sim(|s| s.rate = Some(6_100.0))
        .start()
        .await;
    let all: Vec<String> = env.sim.instruments().iter().map(|i| i.symbol()).collect();
    let mut normal = client(&env).await;
    subscribe(&mut normal, &["NSE:SBIN"], "full").await;
    let (normal, _normal_sink) = Recorder::start(normal);

    let mut stuck = stuck_client(&env).await;
    stuck
        .send(Message::text(
            json!({"action": "subscribe", "symbols": all, "mode": "full"}).to_string(),
        ))
        .await
        .unwrap();
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1
            && s.connections[0].subscriptions.len() == all.len()
            && s.connections[0]
                .subscriptions
                .iter()
                .all(|s| s.mode == Mode::Full))
        .await
    );
    let gateway_conn = env.sim_state().connections[0].id;

    // Watch the simulator's own SBIN updates (~100/s) for a few seconds of heavy traffic.
    let feed = SimFeed::start(&env, SBIN).await;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let ok = feed.updates().len() >= 400;
            async move { ok }
        })
        .await
    );
    // Every simulator update reached the normal client within one market step (50 ms) —
    // as that value or a newer one (the hub conflates between the client's writes).
    let reference = feed.updates();
    let ticks = normal.ticks("NSE:SBIN");
    let settled = Instant::now() - Duration::from_millis(200);
    let mut worst = Duration::ZERO;
    for (at, v) in reference.iter().filter(|(t, _)| *t <= settled) {
        let seen = ticks
            .iter()
            .find(|(_, got)| got >= v)
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("the normal client never got SBIN volume {v}"));
        let lag = seen.saturating_duration_since(*at);
        worst = worst.max(lag);
    }
    println!("normal client: worst lag behind the simulator {worst:?} (paused time)");
    assert!(
        worst <= Duration::from_millis(50),
        "normal client lagged {worst:?}"
    );
    assert!(
        ticks.windows(2).all(|w| w[0].1 <= w[1].1),
        "volumes never go back"
    );

    // The stuck client is still connected but far behind: what its socket holds is old.
    let status = env.ws_status().await;
    assert_eq!(status["connections"], 2, "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 0, "{status}");
    let h = env.health().await;
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    assert_eq!(h["feed"]["is_healthy"], true, "{h}");
    assert_eq!(
        env.sim_state().batches_skipped,
        0,
        "the gateway read the feed promptly"
    );
    let now_volume = normal.last_volume("NSE:SBIN").unwrap();
    let stale_first = loop {
        let msg = tokio::time::timeout(WAIT, stuck.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["type"] == "ticker" && v["data"]["symbol"] == "NSE:SBIN" {
            break volume(&v);
        }
    };
    // When did the simulator produce that value? At least a second ago.
    let produced = reference
        .iter()
        .find(|(_, v)| *v >= stale_first)
        .map_or(Instant::now(), |(t, _)| *t);
    assert!(
        produced.elapsed() >= Duration::from_secs(1),
        "the stuck client's backlog starts at {stale_first} (produced {:?} ago; the normal \
         client is at {now_volume}): it was not backed up",
        produced.elapsed()
    );
    let st = env.sim_state();
    let gw = st
        .connections
        .iter()
        .find(|c| c.id == gateway_conn)
        .unwrap();
    assert_eq!(
        gw.subscriptions.len(),
        all.len(),
        "same upstream connection throughout"
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 10. throttle 0 sees every tick; throttle 1000 sees ≤ 1 per symbol per second, the newest
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn throttle_zero_sees_every_tick_and_throttle_1000_sees_the_newest_once_a_second() {
    // ~10 updates per second per instrument (never two in one 50 ms market step).
    let env = EnvBuilder::new().sim(|s| s.speed = 10.0).start().await;
    let symbols = ["NSE:SBIN", "NSE:INFY"];

    // The throttled client subscribes first (so it gets no snapshot from the hub's cache).
    let mut slow = client(&env).await;
    slow.send(json!({"action": "options", "throttle_ms": 1000, "id": 1}))
        .await;
    let ack = slow.next_of("ack", WAIT).await.unwrap();
    assert_eq!(
        (
            ack["action"].as_str(),
            ack["throttle_ms"].as_u64(),
            ack["id"].as_u64()
        ),
        (Some("options"), Some(1000), Some(1)),
        "{ack}"
    );
    subscribe(&mut slow, &symbols, "full").await;
    let (slow, _slow_sink) = Recorder::start(slow);
    let mut every = client(&env).await;
    subscribe(&mut every, &symbols, "full").await;
    let (every, _every_sink) = Recorder::start(every);

    assert!(
        sim_until(&env, WAIT, |s| subs(s)
            == [vec![(INFY, Mode::Full), (SBIN, Mode::Full)]])
        .await
    );
    let conn = env.sim_state().connections[0].id;
    // Let the market run until the unthrottled client has seen plenty of values…
    assert!(
        wait_until(Duration::from_secs(10), || {
            let ok = symbols.iter().all(|s| every.ticks(s).len() >= 40);
            async move { ok }
        })
        .await
    );
    // …then, at a moment when the throttled client has newer values pending (it is between
    // two flushes), freeze the feed (a stall: nothing more arrives until the watchdog
    // replaces the socket after 3 s). Its trailing update must carry the newest value.
    assert!(
        wait_until(Duration::from_secs(2), || {
            let ok = symbols
                .iter()
                .all(|s| slow.last_volume(s) < every.last_volume(s));
            async move { ok }
        })
        .await
    );
    env.fault(Fault::Stall { seconds: 30.0 });
    let stalled_at = Instant::now();
    assert!(
        wait_until(Duration::from_millis(1100), || {
            let ok = stalled_at.elapsed() >= Duration::from_millis(200)
                && symbols
                    .iter()
                    .all(|s| slow.last_volume(s) == every.last_volume(s));
            async move { ok }
        })
        .await,
        "the throttled client's last update is not the newest value"
    );
    let trailing = slow.ticks("NSE:SBIN").last().unwrap().0;
    println!(
        "throttle 1000: newest value delivered {:?} after the feed froze",
        trailing.saturating_duration_since(stalled_at)
    );
    assert!(trailing <= stalled_at + Duration::from_millis(1000));

    // Throttle 0: every value the simulator sent on that connection, strictly increasing.
    let st = env.sim_state();
    let c = st.connections.iter().find(|c| c.id == conn).unwrap();
    assert!(c.stalled);
    let mut distinct = 0;
    for symbol in symbols {
        let ticks = every.ticks(symbol);
        let mut volumes: Vec<u64> = ticks.iter().map(|(_, v)| *v).collect();
        assert!(
            volumes.windows(2).all(|w| w[0] <= w[1]),
            "{symbol}: {volumes:?}"
        );
        volumes.dedup();
        distinct += volumes.len() as u64;
    }
    // The simulator sends two snapshots per instrument on subscribe (quote, then full mode)
    // with the same value; every later packet carries a new value. So all but one packet per
    // symbol must show up as a distinct value: a single conflated update fails this.
    println!(
        "throttle 0: {distinct} distinct values, simulator sent {} packets",
        c.ticks_sent
    );
    assert!(c.ticks_sent >= 80, "{}", c.ticks_sent);
    assert!(
        distinct + symbols.len() as u64 >= c.ticks_sent && distinct <= c.ticks_sent,
        "throttle-0 client saw {distinct} distinct values of {} packets sent",
        c.ticks_sent
    );

    // Throttle 1000: at most one update per symbol per second, each the newest value at the
    // time it was sent.
    for symbol in symbols {
        let got = slow.ticks(symbol);
        let all = every.ticks(symbol);
        assert!(got.len() >= 4, "{symbol}: {} updates", got.len());
        for w in got.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= Duration::from_millis(1000),
                "{symbol}: two updates {:?} apart",
                w[1].0 - w[0].0
            );
        }
        for (at, v) in &got {
            // The newest value the unthrottled client had at that instant (or just before it,
            // when the flush and a new value share the instant).
            let upto: Vec<u64> = all
                .iter()
                .filter(|(t, _)| t <= at)
                .map(|(_, v)| *v)
                .collect();
            let before: Vec<u64> = all
                .iter()
                .filter(|(t, _)| t < at)
                .map(|(_, v)| *v)
                .collect();
            assert!(
                upto.last() == Some(v) || before.last() == Some(v),
                "{symbol}: sent {v} at {at:?}, newest was {:?}",
                upto.last()
            );
        }
    }
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 11. bad input gets an error and the connection stays; a flood is disconnected with 1008
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

    let big = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(70_000));
    c.send_raw(&big).await;
    expect_error(&mut c, "frame_too_large").await;
    still_usable(&mut c, 4).await;

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
// 12. graceful shutdown closes clients with 1001
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_closes_clients_with_1001() {
    let mut env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "quote").await;
    let mut b = client(&env).await;
    assert!(next_tick(&mut a, "NSE:SBIN", WAIT).await.is_some());
    assert!(sim_until(&env, WAIT, |s| s.connections.len() == 1).await);

    env.stop_gateway().await;
    for c in [&mut a, &mut b] {
        let close = loop {
            let v = c.next_within(WAIT).await.expect("a close frame");
            if v["type"] == "close" {
                break v;
            }
        };
        assert_eq!(close["code"], 1001, "{close}");
    }
    // The broker connection was closed too.
    assert!(sim_until(&env, WAIT, |s| s.connections.is_empty()).await);
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// HTTP: /api/quotes and /api/websocket/status
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn quotes_serve_the_latest_values_with_age_and_source_and_status_counts() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN", "NSE:INFY"], "full").await;
    let first = next_tick(&mut c, "NSE:SBIN", WAIT).await.unwrap();
    let last = loop {
        let t = next_tick(&mut c, "NSE:SBIN", WAIT).await.unwrap();
        if volume(&t) > volume(&first) {
            break t;
        }
    };
    let q = env
        .get_json("/api/quotes?symbols=NSE:SBIN,NSE:RELIANCE,NSE:NOPE")
        .await;
    let sbin = &q["data"]["NSE:SBIN"];
    assert_eq!(sbin["ltp"], last["data"]["ltp"], "{q}");
    assert_eq!(sbin["volume"], last["data"]["volume"], "{q}");
    assert_eq!(sbin["src"], "ws");
    assert!(sbin["age_s"].as_f64().unwrap() < 0.1, "{q}");
    assert_eq!(
        q["no_data"],
        json!(["NSE:RELIANCE"]),
        "never subscribed: {q}"
    );
    assert_eq!(q["rejected"][0]["symbol"], "NSE:NOPE", "{q}");

    // Freeze the feed right after that tick: the quote keeps its value and ages with time.
    let frozen_at = Instant::now();
    env.fault(Fault::Stall { seconds: 30.0 });
    let seen = loop {
        let q = env.get_json("/api/quotes?symbols=NSE:SBIN").await;
        if q["data"]["NSE:SBIN"]["age_s"].as_f64().unwrap() >= 2.0 {
            break q;
        }
        assert!(frozen_at.elapsed() < Duration::from_millis(2600), "{q}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let age = seen["data"]["NSE:SBIN"]["age_s"].as_f64().unwrap();
    let elapsed = frozen_at.elapsed().as_secs_f64();
    assert!(
        (age - elapsed).abs() < 0.06,
        "age_s {age} after {elapsed} s"
    );
    assert_eq!(seen["data"]["NSE:SBIN"]["volume"], last["data"]["volume"]);
    assert_eq!(seen["data"]["NSE:SBIN"]["src"], "ws");

    let mut other = client(&env).await;
    subscribe(&mut other, &["NSE:SBIN", "NSE:RELIANCE"], "ltp").await;
    assert!(
        wait_until(WAIT, || async {
            let s = env.ws_status().await;
            s["connections"] == 2 && s["subscribed_instruments"] == 3
        })
        .await,
        "{}",
        env.ws_status().await
    );
    let s = env.ws_status().await;
    assert!(s["upstream"]["ticks_in"].as_u64().unwrap() > 0, "{s}");
    assert!(s["upstream"]["messages_out"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(
        s["upstream"]["shards"].as_array().map(Vec::len),
        Some(1),
        "{s}"
    );
    env.shutdown().await;
}

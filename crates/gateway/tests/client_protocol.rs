//! The client protocol end to end against the in-process simulator (issue 3, item 7):
//! subscribe → ack → ticks → unsubscribe → no more ticks (1), the latest value right after the
//! ack (2), a client that never reads does not delay a normal one (3), throttle 0 sees every
//! tick and throttle 1000 the newest once a second (4), graceful shutdown closes clients with
//! 1001 (5), and `/api/quotes` and `/api/websocket/status`. Bad input and floods are in
//! `client_edges.rs`; what the upstream does with the demand is in `upstream_feed.rs`.
//!
//! Everything timed runs in paused time (`start_paused = true`): the simulator's market, the
//! gateway's throttles, and the clients' arrival timestamps all follow tokio's clock, so
//! delays are measured exactly and cost no real time.
//!
//! A pattern used throughout: at the default pace the simulator updates an instrument at most
//! once every 0.5 s (jittered 0.5–1.5 s). So right after a client receives a tick of a symbol,
//! nothing newer for that symbol is in flight.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Env, EnvBuilder, WAIT, WsClient, client, next_tick, sim_until, snapshot_after_ack, subs,
    subscribe, volume, wait_until,
};
use feedgate_kite::Mode;
use feedgate_sim::Fault;
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

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

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
    let (snap, took) = snapshot_after_ack(&mut b, "NSE:SBIN", "b").await;
    assert!(
        took < Duration::from_millis(100),
        "snapshot took {took:?}: it came from the feed, not the cache"
    );
    assert_eq!(snap["data"]["symbol"], "NSE:SBIN");
    assert_eq!(snap["data"]["src"], "ws");
    assert_eq!(volume(&snap), volume(&latest), "the latest known value");
    assert_eq!(snap["data"]["ltp"], latest["data"]["ltp"]);
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. a client that never reads does not delay a normal one
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
// 4. throttle 0 sees every tick; throttle 1000 sees ≤ 1 per symbol per second, the newest
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
// 5. graceful shutdown closes clients with 1001
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
    // The quote ages while the feed is frozen only without the REST bridge.
    let env = EnvBuilder::new().without_bridge().start().await;
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

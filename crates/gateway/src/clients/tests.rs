//! Client connection tests over an in-memory socket, in paused time.

mod kite;

use super::ClientLimits;
use super::conn::{ClientContext, serve};
use crate::hub::{self, HubConfig, HubHandle};
use crate::model::clock::{SharedClock, TokioClock};
use crate::model::gauges::Gauges;
use crate::model::instruments::{InstrumentSpec, Registry};
use crate::model::read_clock::ReadClock;
use crate::model::tick::{Quote, Source, Tick};
use crate::status::view::{ClientStatus, StatusView};
use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{Sink, Stream};
use serde_json::{Value, json};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The server side of an in-memory WebSocket. It accepts `open` more writes, then none (a
/// client that stopped reading with its receive window full).
struct ChanSocket {
    inbound: mpsc::UnboundedReceiver<Message>,
    outbound: mpsc::UnboundedSender<Message>,
    open: usize,
}

impl Stream for ChanSocket {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inbound.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for ChanSocket {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.open == 0 {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.open -= 1;
        self.outbound
            .send(item)
            .map_err(|_| axum::Error::new(std::io::Error::other("peer gone")))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The client side: send requests, read what the server wrote.
struct Client {
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Message>,
}

impl Client {
    fn send(&self, v: Value) {
        self.tx
            .send(Message::Text(Utf8Bytes::from(v.to_string())))
            .unwrap();
    }

    fn send_raw(&self, s: &str) {
        self.tx.send(Message::Text(Utf8Bytes::from(s))).unwrap();
    }

    /// Next message, or panic after 120 s of (paused) time.
    async fn next(&mut self) -> Value {
        let msg = tokio::time::timeout(Duration::from_secs(120), self.rx.recv())
            .await
            .expect("a message within the deadline")
            .expect("socket open");
        match msg {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(c) => json!({"close": c.map(|c| c.code)}),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Next message of a given type, skipping others (heartbeats, status).
    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == kind || (kind == "close" && v.get("close").is_some()) {
                return v;
            }
        }
    }

    /// Everything already written, without waiting.
    fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            if let Message::Text(t) = m {
                out.push(serde_json::from_str(t.as_str()).unwrap());
            }
        }
        out
    }
}

struct Fixture {
    hub: HubHandle,
    ctx: ClientContext,
    status_tx: watch::Sender<ClientStatus>,
    shutdown: CancellationToken,
    ticks: mpsc::Sender<Vec<Tick>>,
}

fn fixture(limits: ClientLimits, throttle_ms: u64) -> Fixture {
    let clock: SharedClock = Arc::new(TokioClock::starting_at(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+05:30")
            .unwrap()
            .to_utc(),
    ));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (_live_tx, live_rx) = watch::channel(crate::model::live::FeedLive::ALWAYS);
    std::mem::forget(_live_tx);
    let hub = hub::spawn(
        HubConfig::default(),
        live_rx,
        clock.clone(),
        shutdown.clone(),
        &tracker,
    );
    let spec = |token, ts: &str| InstrumentSpec::nse_equity(token, ts, ts);
    let registry = Arc::new(Registry::new([
        spec(779_521, "SBIN"),
        spec(408_065, "INFY"),
    ]));
    let (_reg_tx, reg_rx) = watch::channel(registry);
    std::mem::forget(_reg_tx);
    let (status_tx, status_rx) = watch::channel(ClientStatus::starting());
    let ctx = ClientContext {
        hub: hub.clone(),
        registry: reg_rx,
        limits,
        default_throttle: Duration::from_millis(throttle_ms),
        heartbeat_interval: Duration::from_secs(30),
        status: StatusView {
            status: status_rx,
            gauges: Arc::new(Gauges::default()),
        },
        clock,
        order_updates: false,
    };
    Fixture {
        ticks: hub.tick_sender(),
        hub,
        ctx,
        status_tx,
        shutdown,
    }
}

fn connect(f: &Fixture) -> Client {
    connect_to(f, serve)
}

/// A client of the connection task `task` (`serve` for `/ws/market`, `serve_kite` for `/kite`).
fn connect_to<Fut>(
    f: &Fixture,
    task: impl FnOnce(ChanSocket, ClientContext, CancellationToken, ReadClock) -> Fut,
) -> Client
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let sock = ChanSocket {
        inbound: in_rx,
        outbound: out_tx,
        open: usize::MAX,
    };
    tokio::spawn(task(
        sock,
        f.ctx.clone(),
        f.shutdown.clone(),
        ReadClock::default(),
    ));
    Client {
        tx: in_tx,
        rx: out_rx,
    }
}

fn tick(token: u32, ltp: i64, volume: u64) -> Tick {
    Tick {
        token,
        divisor: 100,
        ltp,
        quote: Some(Quote {
            open: 80_000,
            high: 82_000,
            low: 79_000,
            close: 80_000,
            volume: Some(volume),
            ..Quote::default()
        }),
        full: None,
        received_ms: 0,
        src: Source::Ws,
    }
}

#[tokio::test(start_paused = true)]
async fn status_first_then_ack_snapshot_and_ticks() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    assert_eq!(c.next().await["type"], "connection_status");

    f.ticks.send(vec![tick(779_521, 81_000, 1)]).await.unwrap(); // unsolicited: ignored
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN","NSE:NOPE","INFY"],"id":1}));
    let ack = c.next_of("ack").await;
    assert_eq!(ack["count"], 2);
    assert_eq!(ack["symbols"], json!(["NSE:SBIN", "NSE:INFY"]));
    assert_eq!(
        ack["rejected"],
        json!([{"symbol":"NSE:NOPE","reason":"unknown instrument"}])
    );
    assert_eq!(ack["id"], 1);

    f.ticks.send(vec![tick(779_521, 81_240, 2)]).await.unwrap();
    let t = c.next_of("ticker").await;
    assert_eq!(t["data"]["symbol"], "NSE:SBIN");
    assert_eq!(t["data"]["ltp"], json!(812.4));

    // A second client gets the latest value as a snapshot right after its ack.
    let mut c2 = connect(&f);
    c2.send(json!({"action":"subscribe","symbols":["NSE:SBIN"],"mode":"ltp"}));
    let ack = c2.next_of("ack").await;
    assert_eq!(ack["count"], 1);
    let snap = c2.next().await;
    assert_eq!(
        snap["type"], "ticker",
        "snapshot follows the ack at once: {snap}"
    );
    assert_eq!(snap["data"]["ltp"], json!(812.4));
    assert!(snap["data"].get("open").is_none(), "ltp mode");
}

#[tokio::test(start_paused = true)]
async fn throttle_zero_delivers_every_tick_in_order() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    c.next_of("ack").await;
    for v in 1..=50u64 {
        f.ticks
            .send(vec![tick(779_521, 81_000 + v as i64, v)])
            .await
            .unwrap();
        // Let the client task write before the next tick (a client that keeps up).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let vols: Vec<u64> = c
        .drain()
        .into_iter()
        .filter(|m| m["type"] == "ticker")
        .map(|m| m["data"]["volume"].as_u64().unwrap())
        .collect();
    assert_eq!(vols, (1..=50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn throttle_delivers_at_most_one_update_per_interval_with_the_newest_value() {
    let f = fixture(ClientLimits::default(), 1000);
    let mut c = connect(&f);
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    c.next_of("ack").await;
    let start = tokio::time::Instant::now();
    // 100 ticks over ~3 s.
    for v in 1..=100u64 {
        f.ticks
            .send(vec![tick(779_521, 81_000 + v as i64, v)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got: Vec<(u64, Value)> = c
        .drain()
        .into_iter()
        .filter(|m| m["type"] == "ticker")
        .map(|m| (m["data"]["volume"].as_u64().unwrap(), m))
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        got.len() as f64 <= elapsed.ceil() + 1.0,
        "{} updates in {elapsed:.1} s",
        got.len()
    );
    assert!(got.len() >= 3, "updates keep flowing: {}", got.len());
    assert_eq!(
        got.first().map(|g| g.0),
        Some(1),
        "leading edge: first tick at once"
    );
    assert_eq!(
        got.last().map(|g| g.0),
        Some(100),
        "trailing edge: newest value delivered"
    );
}

/// Sends `n` ticks of SBIN 10 ms apart (volumes `first..first + n`), then waits `settle`;
/// returns the volumes of the tickers the client got.
async fn tick_volumes(f: &Fixture, c: &mut Client, first: u64, n: u64, settle: u64) -> Vec<u64> {
    for v in first..first + n {
        f.ticks
            .send(vec![tick(779_521, 81_000 + v as i64, v)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(settle)).await;
    c.drain()
        .into_iter()
        .filter(|m| m["type"] == "ticker")
        .map(|m| m["data"]["volume"].as_u64().unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn options_change_the_throttle() {
    let f = fixture(ClientLimits::default(), 1000);
    let mut c = connect(&f);
    c.send(json!({"action":"options","throttle_ms":0,"id":"o"}));
    let ack = c.next_of("ack").await;
    assert_eq!(
        ack,
        json!({"type":"ack","action":"options","count":0,"rejected":[],"throttle_ms":0,"subscribed":0,"id":"o"})
    );
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    c.next_of("ack").await;
    // Throttle 0: every tick, although the default (1 s) would let one through in 200 ms.
    assert_eq!(
        tick_volumes(&f, &mut c, 1, 20, 0).await,
        (1..=20).collect::<Vec<_>>()
    );

    // 100 ms: ticks every 10 ms for a second come out about once per 100 ms, the newest last.
    c.send(json!({"action":"options","throttle_ms":100}));
    assert_eq!(c.next_of("ack").await["throttle_ms"], 100);
    let got = tick_volumes(&f, &mut c, 21, 100, 150).await;
    assert!(
        (9..=12).contains(&got.len()),
        "{} updates in 1.15 s at 100 ms: {got:?}",
        got.len()
    );
    assert_eq!(
        got.last(),
        Some(&120),
        "trailing edge: newest value delivered"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_an_error_and_the_connection_stays() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.next_of("connection_status").await;
    c.send_raw("{not json");
    assert_eq!(c.next_of("error").await["code"], "invalid_json");
    c.send(json!({"action":"teleport","id":9}));
    let e = c.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["id"].as_i64()),
        (Some("unknown_action"), Some(9))
    );
    c.tx.send(Message::Binary(vec![1, 2, 3].into())).unwrap();
    assert_eq!(c.next_of("error").await["code"], "unsupported_frame");
    c.send_raw("ping");
    assert_eq!(c.next_of("pong").await, json!({"type":"pong"}));
}

#[tokio::test(start_paused = true)]
async fn too_many_symbols_are_rejected_with_a_reason() {
    let limits = ClientLimits {
        max_symbols: 1,
        ..ClientLimits::default()
    };
    let f = fixture(limits, 0);
    let mut c = connect(&f);
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN","NSE:INFY"]}));
    assert_eq!(c.next_of("error").await["code"], "too_many_symbols");
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    assert_eq!(c.next_of("ack").await["count"], 1);
    c.send(json!({"action":"subscribe","symbols":["NSE:INFY"]}));
    let ack = c.next_of("ack").await;
    assert_eq!(ack["count"], 0);
    assert!(
        ack["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("symbol limit")
    );
}

#[tokio::test(start_paused = true)]
async fn a_flooding_client_is_disconnected_with_a_reason() {
    let limits = ClientLimits {
        rate_per_sec: 5,
        burst: 5,
        flood_drops: 50,
        ..ClientLimits::default()
    };
    let f = fixture(limits, 0);
    let mut c = connect(&f);
    for _ in 0..200 {
        c.send_raw("ping");
    }
    let mut saw_rate_error = false;
    loop {
        let m = c.next().await;
        if m["type"] == "error" && m["code"] == "rate_limited" {
            saw_rate_error = true;
        }
        if let Some(code) = m.get("close") {
            assert_eq!(code, 1008);
            break;
        }
    }
    assert!(saw_rate_error);
    // Others are unaffected.
    let mut ok = connect(&f);
    ok.send_raw("ping");
    ok.next_of("pong").await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_and_status_changes_are_pushed() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.next_of("connection_status").await;
    let hb = c.next_of("heartbeat").await;
    assert_eq!(hb["connections"], 1);
    assert_eq!(hb["connectionHealth"]["state"], "connecting");

    let mut st = ClientStatus::starting();
    st.message = "only the message changed".into();
    f.status_tx.send(st.clone()).unwrap();
    st.market_status = "LIVE";
    st.quality = "EXCELLENT";
    f.status_tx.send(st).unwrap();
    let cs = c.next_of("connection_status").await;
    assert_eq!(cs["market_status"], "LIVE");
    assert_eq!(cs["quality"], "EXCELLENT");
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_clients_with_1001() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.next_of("connection_status").await;
    f.shutdown.cancel();
    assert_eq!(c.next_of("close").await["close"], 1001);
    let _ = &f.hub;
}

#[tokio::test(start_paused = true)]
async fn unsubscribe_stops_ticks_and_reports_unknowns() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    c.next_of("ack").await;
    c.send(json!({"action":"unsubscribe","symbols":["NSE:SBIN","NSE:INFY"]}));
    let ack = c.next_of("ack").await;
    assert_eq!(ack["count"], 1);
    assert_eq!(ack["rejected"][0]["reason"], "not subscribed");
    assert_eq!(ack["subscribed"], 0);
    f.ticks.send(vec![tick(779_521, 1, 1)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(c.drain().iter().all(|m| m["type"] != "ticker"));
}

/// A tick already pending in the outbox when an unsubscribe is read must not be written after
/// its ack: the connection reads the request before it drains (biased select), so before the fix
/// the drain after the ack still carried the pending tick.
#[tokio::test(start_paused = true)]
async fn nothing_of_an_instrument_follows_its_unsubscribe_ack() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect(&f);
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN"]}));
    c.next_of("ack").await;
    f.ticks.send(vec![tick(779_521, 81_000, 1)]).await.unwrap();
    assert_eq!(c.next_of("ticker").await["data"]["volume"], 1);

    // The hub runs first and leaves a tick in the outbox; then the connection reads the request.
    f.ticks.send(vec![tick(779_521, 81_005, 2)]).await.unwrap();
    c.send(json!({"action":"unsubscribe","symbols":["NSE:SBIN"],"id":"u"}));
    loop {
        let m = c.next().await;
        if m["type"] == "ack" {
            assert_eq!(m["id"], "u");
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = c.drain();
    assert!(
        after.iter().all(|m| m["type"] != "ticker"),
        "a tick after the unsubscribe ack: {after:?}"
    );
}

/// The slow-consumer path writes an `error` to a client that is, by definition, not reading:
/// that write must be bounded, or the connection (and its subscriptions) would live forever.
#[tokio::test(start_paused = true)]
async fn a_slow_consumer_that_never_reads_is_let_go() {
    let limits = ClientLimits {
        // Room for one snapshot: the second one of a subscribe overflows.
        outbox_immediate_bytes: 200,
        write_timeout: Duration::from_secs(3600),
        ..ClientLimits::default()
    };
    let f = fixture(limits, 0);
    let now_ms = f.ctx.clock.now_ms();
    let registry = f.ctx.registry.borrow().clone();
    let seeded = [779_521, 408_065]
        .into_iter()
        .map(|t| {
            let inst = registry.by_token(t).unwrap().clone();
            let tick = Tick {
                received_ms: now_ms,
                ..tick(t, 81_000, 1)
            };
            (inst, tick)
        })
        .collect();
    f.hub.seed(seeded).await.unwrap();

    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    // Takes the greeting and the ack, then nothing.
    let sock = ChanSocket {
        inbound: in_rx,
        outbound: out_tx,
        open: 2,
    };
    let conn = tokio::spawn(serve(
        sock,
        f.ctx.clone(),
        f.shutdown.clone(),
        crate::model::read_clock::ReadClock::default(),
    ));
    in_tx
        .send(Message::Text(Utf8Bytes::from(
            json!({"action":"subscribe","symbols":["NSE:SBIN","NSE:INFY"]}).to_string(),
        )))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), conn)
        .await
        .expect("the connection ends although the client never reads")
        .unwrap();
    let mut kinds = Vec::new();
    while let Ok(Message::Text(t)) = out_rx.try_recv() {
        kinds.push(serde_json::from_str::<Value>(t.as_str()).unwrap()["type"].clone());
    }
    assert_eq!(kinds, [json!("connection_status"), json!("ack")]);
    // Its subscriptions are gone.
    assert_eq!(
        f.hub
            .stats()
            .instruments_subscribed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// Order updates: a connection with the flag is a receiver while it lasts (its updates come
/// as they are, between its other messages); one without it is never registered.
#[tokio::test(start_paused = true)]
async fn order_updates_reach_only_flagged_connections_while_they_last() {
    let mut f = fixture(ClientLimits::default(), 0);
    let mut plain = connect(&f);
    assert_eq!(plain.next().await["type"], "connection_status");
    f.ctx.order_updates = true;
    let mut trader = connect(&f);
    assert_eq!(trader.next().await["type"], "connection_status");
    assert_eq!(f.hub.orders().len(), 1, "only the flagged connection");

    let text = r#"{"type":"order","data":{"order_id":"1","status":"OPEN"}}"#;
    assert_eq!(f.hub.orders().push(&Utf8Bytes::from_static(text)), 1);
    let got = trader.next_of("order").await;
    assert_eq!(got["data"]["order_id"], "1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        plain.drain().iter().all(|m| m["type"] != "order"),
        "the plain connection gets none"
    );

    drop(trader);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f.hub.orders().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

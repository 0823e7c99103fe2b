//! What a client sees of a cluster (DESIGN.md §9, issue 16 item 7), process by process: real
//! `feedgate serve` ingest and edge nodes, a real `redis-server`, the simulator counting the
//! broker connections, and `/ws/market` clients (throttle 0) on the edges.
//!
//! - Two edges serve the same ticks (same values per symbol) from one broker connection.
//! - kill -9 of the leader: live ticks resume at every client within the failover bound, no
//!   client is closed, never two broker connections.
//! - An edge killed: its client, reconnecting to the other edge, gets snapshots at once.
//! - Redis down for 10 s: the clients stay, the edge's health says "Redis unreachable", and
//!   live ticks resume once Redis is back.
//!
//! Real time by nature (processes, Redis): every wait is until a condition, with bounds that
//! allow a loaded machine. The measured gaps and recoveries are printed. Needs the built
//! binary (`FEEDGATE_BIN`, set by `./scripts/test`); without it, says so and passes.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::nodes::{Node, World, logs};
use common::redis_server::RedisServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SYMBOLS: [&str; 3] = ["NSE:INFY", "NSE:SBIN", "NSE:RELIANCE"];

/// The failover contract (3 s) plus the lease caveat (a leader that died right after renewing
/// lives ~3.2 s) plus the resubscription and one hop through Redis on a loaded machine.
const FAILOVER_GAP: Duration = Duration::from_millis(4500);

/// One live tick as a client saw it.
struct Seen {
    at: Instant,
    symbol: String,
    /// The tick's market values, comparable across edges (without `src`, and without `seq`
    /// and `epoch`: each edge numbers its own stream for resume).
    values: String,
}

#[derive(Default)]
struct Inbox {
    live: Vec<Seen>,
    /// Last-known values (`stale`), e.g. the hash's after Redis came back.
    stale: usize,
    /// How the connection ended, if it did.
    ended: Option<String>,
}

/// A `/ws/market` client reading in the background.
struct Client {
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection stays")
            .expect("a frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON");
        }
    }
}

/// Until the answer of `kind` to request `id`, returning it and the messages before it.
async fn answer(ws: &mut Ws, id: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let v = next_json(ws).await;
        if v["id"] == id {
            return (v, before);
        }
        before.push(v);
    }
}

async fn request(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string()))
        .await
        .expect("client send");
}

/// A connected client on `node` with throttle 0.
async fn connect(node: &Node) -> Ws {
    let url = format!("ws://127.0.0.1:{}/ws/market", node.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the edge takes clients");
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "connection_status", "{first}");
    request(
        &mut ws,
        json!({"action": "options", "throttle_ms": 0, "id": "opt"}),
    )
    .await;
    let (ack, _) = answer(&mut ws, "opt").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ws
}

fn values(data: &Value) -> String {
    let mut d = data.clone();
    if let Some(o) = d.as_object_mut() {
        for own in ["src", "seq", "epoch"] {
            o.remove(own);
        }
    }
    d.to_string()
}

impl Client {
    /// Connects to `node`, subscribes `symbols` (quote mode) and reads in the background.
    fn start(node: &Node, symbols: &[&str]) -> Client {
        let mut ws = node.rt.block_on(async {
            let mut ws = connect(node).await;
            request(
                &mut ws,
                json!({"action": "subscribe", "symbols": symbols, "mode": "quote", "id": "sub"}),
            )
            .await;
            let (ack, _) = answer(&mut ws, "sub").await;
            assert_eq!(ack["count"], symbols.len(), "{ack}");
            ws
        });
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let sink = inbox.clone();
        let task = node.rt.spawn(async move {
            let ended = loop {
                let msg = match ws.next().await {
                    None => break "stream ended".to_string(),
                    Some(Err(e)) => break format!("error: {e}"),
                    Some(Ok(m)) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(c) => break format!("close {c:?}"),
                    _ => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if v["type"] != "ticker" {
                    continue;
                }
                let mut inbox = sink.lock().unwrap();
                if v["data"]["stale"] == true {
                    inbox.stale += 1;
                } else {
                    inbox.live.push(Seen {
                        at: Instant::now(),
                        symbol: v["data"]["symbol"].as_str().unwrap_or_default().to_string(),
                        values: values(&v["data"]),
                    });
                }
            };
            sink.lock().unwrap().ended = Some(ended);
        });
        Client { inbox, task }
    }

    fn ended(&self) -> Option<String> {
        self.inbox.lock().unwrap().ended.clone()
    }

    /// Live ticks of `symbol` that arrived at or after `since`.
    fn live_since(&self, symbol: &str, since: Instant) -> usize {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .live
            .iter()
            .filter(|s| s.symbol == symbol && s.at >= since)
            .count()
    }

    /// The values of `symbol`'s live ticks that arrived in `[from, to)`.
    fn values_between(&self, symbol: &str, from: Instant, to: Instant) -> Vec<String> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .live
            .iter()
            .filter(|s| s.symbol == symbol && s.at >= from && s.at < to)
            .map(|s| s.values.clone())
            .collect()
    }

    /// The first live tick at or after `since`.
    fn first_live_after(&self, since: Instant) -> Option<Instant> {
        let inbox = self.inbox.lock().unwrap();
        inbox.live.iter().map(|s| s.at).find(|at| *at >= since)
    }

    /// The longest stretch without a live tick from the last one before `from` to the first
    /// one after `until` (both present, else `None`).
    fn longest_gap(&self, from: Instant, until: Instant) -> Option<Duration> {
        let inbox = self.inbox.lock().unwrap();
        let start = inbox.live.iter().rposition(|s| s.at < from)?;
        let end = start + inbox.live[start..].iter().position(|s| s.at > until)?;
        inbox.live[start..=end]
            .windows(2)
            .map(|w| w[1].at.duration_since(w[0].at))
            .max()
    }
}

/// Samples the simulator's broker connections every 5 ms until `done` holds, asserting never
/// more than one and that no client was closed; panics after `within`. Returns the time taken.
fn watch(
    sim: &feedgate_sim::Sim,
    within: Duration,
    nodes: &[&Node],
    clients: &[&Client],
    mut done: impl FnMut(usize) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let n = sim.state().connections.len();
        assert!(n <= 1, "{n} broker connections at once\n{}", logs(nodes));
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(
                c.ended(),
                None,
                "client {i} was disconnected\n{}",
                logs(nodes)
            );
        }
        if done(n) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "timed out after {within:?}\n{}",
            logs(nodes)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is_leader(node: &Node) -> bool {
    node.health()
        .is_some_and(|h| h["cluster"]["is_leader"] == Value::Bool(true))
}

impl World {
    /// Waits (up to 30 s: four processes starting on a loaded machine) until the nodes answer
    /// health and one of them holds the broker connection.
    fn until_up(&self, nodes: &[&Node]) {
        let started = Instant::now();
        while !nodes.iter().all(|n| n.health().is_some()) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nodes not up\n{}",
                logs(nodes)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        watch(&self.sim, Duration::from_secs(30), nodes, &[], |n| n == 1);
    }
}

/// Until every client has had a live tick of every symbol of `symbols` since `since`.
fn until_ticks(
    w: &World,
    within: Duration,
    nodes: &[&Node],
    clients: &[&Client],
    symbols: &[&str],
    since: Instant,
) -> Duration {
    watch(&w.sim, within, nodes, clients, |_| {
        clients
            .iter()
            .all(|c| symbols.iter().all(|s| c.live_since(s, since) > 0))
    })
}

#[test]
fn two_edges_one_broker_connection_and_a_leader_kill_9_then_an_edge_kill() {
    let Some(w) = World::start(400.0) else {
        return;
    };
    let a = w.cluster.node("ingest-a", "ingest", "NSE:INFY");
    let b = w.cluster.node("ingest-b", "ingest", "NSE:INFY");
    let e1 = w.cluster.node("edge-1", "edge", "NSE:INFY");
    let mut e2 = w.cluster.node("edge-2", "edge", "NSE:INFY");
    let all = [&a, &b, &e1, &e2];
    w.until_up(&all);
    let c1 = Client::start(&e1, &SYMBOLS);
    // The second edge's client wants one more symbol: after its edge dies, the other edge
    // must serve it at once.
    let c2 = Client::start(&e2, &[SYMBOLS[0], SYMBOLS[1], SYMBOLS[2], "NSE:TCS"]);
    let t0 = Instant::now();
    let took = until_ticks(&w, Duration::from_secs(15), &all, &[&c1, &c2], &SYMBOLS, t0);
    eprintln!("both edges' clients had live ticks of every symbol {took:?} after subscribing");

    // 1. Same ticks at both edges, one broker connection all along.
    let from = Instant::now();
    watch(&w.sim, Duration::from_secs(10), &all, &[&c1, &c2], |n| {
        assert_eq!(n, 1, "the leader's connection stays\n{}", logs(&all));
        from.elapsed() > Duration::from_secs(3)
    });
    let to = Instant::now();
    // A tick near either end of the window may land on either side of it at the other client.
    let inner = (
        from + Duration::from_millis(500),
        to - Duration::from_millis(500),
    );
    for symbol in SYMBOLS {
        let (v1, v2) = (
            c1.values_between(symbol, inner.0, inner.1),
            c2.values_between(symbol, from, to),
        );
        assert!(!v1.is_empty(), "{symbol}: no ticks at edge-1");
        let missing: Vec<&String> = v1.iter().filter(|v| !v2.contains(v)).collect();
        assert!(
            missing.is_empty(),
            "{symbol}: edge-2 did not see {} of edge-1's {} ticks: {missing:?}",
            missing.len(),
            v1.len()
        );
        let (v1, v2) = (
            c1.values_between(symbol, from, to),
            c2.values_between(symbol, inner.0, inner.1),
        );
        assert!(
            v2.iter().all(|v| v1.contains(v)),
            "{symbol}: edge-1 missed ticks edge-2 saw"
        );
        eprintln!("{symbol}: {} ticks at both edges in the window", v2.len());
    }

    // 2. kill -9 of the leader.
    let (mut leader, standby) = match (is_leader(&a), is_leader(&b)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        other => panic!("one leader expected, got {other:?}\n{}", logs(&all)),
    };
    leader.kill();
    let killed = Instant::now();
    let left = [&standby, &e1, &e2];
    let resumed = until_ticks(
        &w,
        Duration::from_secs(10),
        &left,
        &[&c1, &c2],
        &SYMBOLS,
        killed,
    );
    // Past the first live tick after the kill at each client, the gap is known.
    let gaps: Vec<Duration> = [&c1, &c2]
        .iter()
        .map(|c| {
            c.longest_gap(killed, killed + resumed / 2)
                .expect("ticks around the kill")
        })
        .collect();
    eprintln!(
        "kill -9 of {}: longest gap without a live tick: edge-1 client {:?}, edge-2 client {:?}; every symbol live again at both {resumed:?} after the kill",
        leader.name, gaps[0], gaps[1]
    );
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap < FAILOVER_GAP,
            "client {i}: {gap:?} without ticks\n{}",
            logs(&left)
        );
    }
    assert!(is_leader(&standby), "{}", logs(&left));
    // And it stays one connection, the clients connected.
    let settled = Instant::now();
    watch(&w.sim, Duration::from_secs(5), &left, &[&c1, &c2], |n| {
        assert_eq!(n, 1);
        settled.elapsed() > Duration::from_secs(2)
    });
    drop(leader);

    // 4. An edge killed: its client comes back on the other edge and gets snapshots at once,
    // NSE:TCS (which only the dead edge served) included.
    e2.kill();
    let closed = Instant::now();
    while c2.ended().is_none() {
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "the client saw no end"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("edge-2's client: {:?}", c2.ended());
    let symbols = [SYMBOLS[0], SYMBOLS[1], SYMBOLS[2], "NSE:TCS"];
    let snapshots = w.rt.block_on(async {
        let mut ws = connect(&e1).await;
        let asked = Instant::now();
        request(
            &mut ws,
            json!({"action": "subscribe", "symbols": symbols, "mode": "quote", "id": "again"}),
        )
        .await;
        let (ack, before) = answer(&mut ws, "again").await;
        assert_eq!(ack["count"], symbols.len(), "{ack}");
        assert!(before.iter().all(|m| m["type"] != "ticker"), "{before:?}");
        // Right after the ack, one snapshot per symbol, before anything else.
        let mut got = Vec::new();
        for _ in symbols {
            let m = next_json(&mut ws).await;
            assert_eq!(m["type"], "ticker", "a snapshot right after the ack: {m}");
            got.push(m["data"]["symbol"].as_str().unwrap().to_string());
        }
        got.sort();
        (got, asked.elapsed())
    });
    let mut want: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(snapshots.0, want);
    eprintln!(
        "reconnected on edge-1: {} snapshots {:?} after the subscribe",
        want.len(),
        snapshots.1
    );
    assert_eq!(c1.ended(), None, "edge-1's client stays");
    drop(c1);
    drop(c2);
    drop(e1);
    drop(e2);
    drop(standby);
}

#[test]
fn redis_down_for_10_s_keeps_the_clients_and_ticks_resume_after() {
    let Some(mut w) = World::start(400.0) else {
        return;
    };
    let a = w.cluster.node("ingest-a", "ingest", "NSE:INFY");
    let b = w.cluster.node("ingest-b", "ingest", "NSE:INFY");
    let edge = w.cluster.node("edge-1", "edge", "NSE:INFY");
    let all = [&a, &b, &edge];
    w.until_up(&all);
    let c = Client::start(&edge, &SYMBOLS);
    until_ticks(
        &w,
        Duration::from_secs(15),
        &all,
        &[&c],
        &SYMBOLS,
        Instant::now(),
    );

    let redis = w.redis.take().expect("redis");
    let port = redis.port();
    let url = redis.url();
    drop(redis);
    let down = Instant::now();
    // The edge says so, with the URL and what to do.
    let mut health = Value::Null;
    let noticed = watch(&w.sim, Duration::from_secs(5), &all, &[&c], |_| {
        health = edge.health().unwrap_or_default();
        health["priority_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Redis unreachable"))
    });
    eprintln!("the edge's health said Redis unreachable {noticed:?} after it stopped");
    let message = health["priority_message"].as_str().unwrap();
    assert!(
        message.contains(&url) && message.contains("FEEDGATE_REDIS_URL"),
        "{message}"
    );
    assert_eq!(health["priority_status"], "FEED_DISCONNECTED", "{health}");
    assert_eq!(health["cluster"]["redis_ok"], false, "{health}");
    // 10 s without Redis: the client stays, the leader steps down (no broker connection
    // without a lease), never two.
    watch(&w.sim, Duration::from_secs(12), &all, &[&c], |_| {
        down.elapsed() >= Duration::from_secs(10)
    });
    assert_eq!(
        c.first_live_after(down + Duration::from_secs(4)),
        None,
        "no live ticks through a Redis that is down"
    );

    let _redis = RedisServer::start_on(port, None).expect("redis back on its port");
    let back = Instant::now();
    // Measured ~3.1 s: the relay's backoff (up to 2 s) and a fresh election on the empty
    // Redis, then the resubscription; 8 s allows a loaded machine.
    let resumed = until_ticks(&w, Duration::from_secs(8), &all, &[&c], &SYMBOLS, back);
    let first = c.first_live_after(back).expect("a live tick") - back;
    eprintln!(
        "Redis back: first live tick at the edge's client {first:?}, every symbol live {resumed:?} after"
    );
    watch(&w.sim, Duration::from_secs(5), &all, &[&c], |_| {
        edge.health().is_some_and(|h| {
            h["cluster"]["redis_ok"] == true
                && h["priority_message"]
                    .as_str()
                    .is_some_and(|m| !m.contains("Redis"))
        })
    });
    eprintln!(
        "the edge's health recovered {:?} after Redis came back",
        back.elapsed()
    );
}

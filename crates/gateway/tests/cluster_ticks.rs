//! Ticks through a real `redis-server` (DESIGN.md §9): the codec's batches survive PUBLISH and
//! the hash; a leader (`ingest,edge`) publishes what its broker feed delivers and an edge's
//! `/ws/market` client receives the same ticks as the leader's own client; a new edge serves
//! the hash's latest values as snapshots while no tick flows at all. Real time throughout
//! (Redis runs on its own clock).

mod common;

use common::redis_server::{self, RedisServer};
use common::ws::{WsClient, subscribe};
use common::{Env, EnvBuilder};
use feedgate_gateway::cluster::ticks::{CHANNEL, LATEST, codec};
use feedgate_gateway::model::tick::{Level, Quote, Source, Tick};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const SYMBOL: &str = "NSE:SBIN";

fn tick(token: u32, ltp: i64) -> Tick {
    Tick {
        token,
        divisor: 100,
        ltp,
        quote: Some(Quote {
            open: ltp - 50,
            high: ltp + 75,
            low: ltp - 120,
            close: ltp - 10,
            volume: Some(1_234_567),
            last_qty: Some(5),
            avg_price: Some(ltp - 3),
            buy_qty: None,
            sell_qty: Some(99),
        }),
        full: Some(feedgate_gateway::model::tick::Full {
            exchange_ts: Some(1_796_000_000),
            last_trade_ts: None,
            oi: Some(0),
            oi_day_high: None,
            oi_day_low: None,
            depth: Some(feedgate_gateway::model::tick::Depth {
                buy: [Level {
                    price: ltp - 5,
                    quantity: 10,
                    orders: 2,
                }; 5],
                sell: [Level::default(); 5],
            }),
        }),
        received_ms: 1_796_000_000_123,
        src: Source::Ws,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_survives_publish_and_the_hash() {
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(CHANNEL).await.unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let batch: Vec<Tick> = (0..50)
        .map(|i| tick(256_265 + i, 152_300 + i64::from(i)))
        .collect();
    let () = redis::pipe()
        .cmd("HSET")
        .arg(LATEST)
        .arg("256265")
        .arg(codec::encode(&batch[..1]))
        .ignore()
        .cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(codec::encode(&batch))
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), pubsub.on_message().next())
        .await
        .expect("the batch arrives")
        .expect("a message");
    assert_eq!(codec::decode(msg.get_payload_bytes()), Ok(batch.clone()));
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg(LATEST)
        .arg("256265")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(codec::decode(&stored), Ok(vec![batch[0]]));
}

/// A gateway in `role`, in the cluster on `redis`; `seed` makes its own simulator's prices
/// differ from the leader's (an edge must never show them).
async fn node(redis: &RedisServer, role: &str, name: &str, seed: u64) -> Env {
    EnvBuilder::new()
        .var("FEEDGATE_ROLE", role)
        .var("FEEDGATE_REDIS_URL", &redis.url())
        .var("FEEDGATE_NODE", name)
        .var("FEEDGATE_SECRET_KEY", redis_server::SECRET_KEY)
        .var("FEEDGATE_RECORD", "off")
        .sim(|s| {
            s.seed = seed;
            s.rate = Some(400.0);
        })
        .start()
        .await
}

async fn wait_until(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !ok().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `data` of every ticker message `c` receives for `span`, without the node's `epoch`
/// and the client stream's `seq`.
async fn tickers(c: &mut WsClient, span: Duration) -> Vec<Value> {
    let end = tokio::time::Instant::now() + span;
    let mut out = Vec::new();
    while let Some(mut m) = c.next_of("ticker", end - tokio::time::Instant::now()).await {
        if let Some(d) = m["data"].as_object_mut() {
            d.remove("epoch");
            d.remove("seq");
        }
        out.push(m["data"].clone());
        if tokio::time::Instant::now() >= end {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_serves_the_leaders_ticks_and_a_new_edge_its_latest_values() {
    let redis = RedisServer::start();
    let mut leader = node(&redis, "ingest,edge", "lead", 1).await;
    wait_until("leadership", Duration::from_secs(5), async || {
        leader.health().await["cluster"]["is_leader"] == true
    })
    .await;
    let edge = node(&redis, "edge", "edge-1", 7).await;
    wait_until("the edge subscribed", Duration::from_secs(5), async || {
        edge.health().await["cluster"]["ticks"]["subscribed"] == true
    })
    .await;

    let mut on_leader = leader.client().await;
    subscribe(&mut on_leader, &[SYMBOL], "full").await;
    let mut on_edge = edge.client().await;
    subscribe(&mut on_edge, &[SYMBOL], "full").await;
    let (seen_leader, seen_edge) = tokio::join!(
        tickers(&mut on_leader, Duration::from_secs(4)),
        tickers(&mut on_edge, Duration::from_secs(4)),
    );
    let leader_set: HashSet<String> = seen_leader.iter().map(Value::to_string).collect();
    let shared = seen_edge
        .iter()
        .filter(|d| leader_set.contains(&d.to_string()))
        .count();
    let health = edge.health().await;
    assert!(
        seen_leader.len() >= 10,
        "the leader's client got {} ticks",
        seen_leader.len()
    );
    // Both clients joined within a moment: all but the first few edge ticks are the leader's
    // own, field for field (price, depth, `ts`, freshness).
    assert!(
        shared + 3 >= seen_edge.len() && shared * 10 >= seen_leader.len() * 8,
        "{shared} shared of {} on the edge, {} on the leader\nedge: {:?}\nleader: {:?}\nedge health: {health}",
        seen_edge.len(),
        seen_leader.len(),
        seen_edge.iter().take(3).collect::<Vec<_>>(),
        seen_leader.iter().take(3).collect::<Vec<_>>(),
    );
    assert!(
        seen_edge.iter().all(|d| d["stale"] != true),
        "live on the edge: {:?}",
        seen_edge.first()
    );
    assert_eq!(health["cluster"]["redis_ok"], true, "{health}");
    assert_eq!(edge.upgrades(), (0, 0), "the edge opens no broker socket");
    assert_eq!(
        health["feed"]["from"], "lead",
        "the edge shows the leader's feed: {health}"
    );
    assert!(
        health["cluster"]["ticks"]["received_ticks"].as_u64() > Some(0),
        "{health}"
    );
    // The health names the live edges (DESIGN.md §9), read from their demand heartbeats.
    wait_until(
        "the edges in the health",
        Duration::from_secs(6),
        async || leader.health().await["cluster"]["edges"] == serde_json::json!(["edge-1", "lead"]),
    )
    .await;
    let leader_health = leader.health().await;
    assert!(
        leader_health["cluster"]["ticks"]["published_ticks"].as_u64() > Some(0),
        "{leader_health}"
    );
    assert_eq!(
        leader_health["cluster"]["ticks"]["received_ticks"], 0,
        "the leader feeds nothing of its own back: {leader_health}"
    );

    // No tick flows any more: the leader is gone. A new edge's client still gets the latest
    // value at once, from the hash (its own simulator, seeded differently, knows other
    // prices).
    leader.stop_gateway().await;
    let last_seen = seen_leader.last().cloned().expect("a tick");
    let late = node(&redis, "edge", "edge-2", 11).await;
    wait_until(
        "the new edge subscribed",
        Duration::from_secs(5),
        async || late.health().await["cluster"]["ticks"]["subscribed"] == true,
    )
    .await;
    let mut c = late.client().await;
    let asked = Instant::now();
    subscribe(&mut c, &[SYMBOL], "full").await;
    let snap = c
        .next_of("ticker", Duration::from_secs(2))
        .await
        .expect("a snapshot");
    eprintln!("snapshot from the hash after {:?}", asked.elapsed());
    let snap = &snap["data"];
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let token = last_seen["token"].as_u64().expect("a token") as u32;
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg(LATEST)
        .arg(token.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    let stored = codec::decode(&stored).expect("a stored batch")[0];
    let price = |p: i64| p as f64 / f64::from(stored.divisor);
    assert_eq!(snap["ltp"].as_f64(), Some(price(stored.ltp)), "{snap}");
    assert_eq!(snap["volume"].as_u64(), stored.volume(), "{snap}");
    assert!(
        snap["volume"].as_u64() >= last_seen["volume"].as_u64(),
        "no older than what the leader's client saw: {snap} vs {last_seen}"
    );
    assert!(snap["depth"].is_object(), "full mode, with depth: {snap}");
    late.shutdown().await;
    edge.shutdown().await;
    leader.shutdown().await;
}

/// A leader's first publication replaces the whole latest-value hash: an instrument no node
/// knows any more (an expired contract a previous term left in it) is gone, also when the new
/// leader loaded the hash before it led.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_rewrites_the_hash_without_what_it_does_not_hold() {
    let redis = RedisServer::start();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let left_behind = codec::encode(&[tick(999_999, 100)]);
    let () = redis::cmd("HSET")
        .arg(LATEST)
        .arg("999999")
        .arg(left_behind)
        .query_async(&mut conn)
        .await
        .unwrap();
    let leader = node(&redis, "ingest,edge", "lead", 1).await;
    // Redis answers: no moment of "unreachable" while the first subscription is being made.
    let first = leader.health().await;
    assert_eq!(first["cluster"]["redis_ok"], true, "{first}");
    let mut c = leader.client().await;
    subscribe(&mut c, &[SYMBOL], "quote").await;
    wait_until(
        "the first publication",
        Duration::from_secs(10),
        async || leader.health().await["cluster"]["ticks"]["published_ticks"].as_u64() > Some(0),
    )
    .await;
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(LATEST)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!fields.is_empty(), "the leader's values are in the hash");
    assert!(
        !fields.iter().any(|f| f == "999999"),
        "the left-behind value is gone: {fields:?}"
    );
    leader.shutdown().await;
}

/// How the leader's batches travel.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    PubSub,
    Streams,
}

const STREAM: &str = "feedgate:ticks:stream";

/// Redis's CPU time so far (user + system, seconds), from `/proc`.
fn redis_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

async fn info_field(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").query_async(conn).await.expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in INFO"))
}

/// One edge's consumer: counts the ticks it decodes.
async fn consume(
    url: String,
    transport: Transport,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::Ordering;
    let client = redis::Client::open(url).expect("redis");
    match transport {
        Transport::PubSub => {
            let mut pubsub = client.get_async_pubsub().await.expect("redis");
            pubsub.subscribe(CHANNEL).await.expect("redis");
            let mut messages = pubsub.into_on_message();
            while let Some(m) = messages.next().await {
                let n = codec::decode(m.get_payload_bytes()).expect("a batch").len();
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        Transport::Streams => {
            // A blocking read needs a connection of its own.
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("redis");
            let mut last = "$".to_string();
            loop {
                let reply: redis::Value = redis::cmd("XREAD")
                    .arg("BLOCK")
                    // Below the connection's response timeout.
                    .arg(200)
                    .arg("STREAMS")
                    .arg(STREAM)
                    .arg(&last)
                    .query_async(&mut conn)
                    .await
                    .expect("redis");
                let Ok(reply) = redis::from_redis_value::<
                    Vec<(String, Vec<(String, Vec<(String, Vec<u8>)>)>)>,
                >(reply) else {
                    continue;
                };
                for (_, entries) in reply {
                    for (id, fields) in entries {
                        for (_, bytes) in fields {
                            let n = codec::decode(&bytes).expect("a batch").len();
                            count.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        last = id;
                    }
                }
            }
        }
    }
}

/// Pub/sub against Streams at 10 000 full ticks/s (with depth) in 50-tick batches every 5 ms
/// over 500 instruments, with the latest-value HSET pipelined in both, to two edges: Redis's
/// CPU and bytes. The numbers and the choice are in docs/ARCHITECTURE.md ("Ticks through
/// Redis"). Run: `cargo test -p feedgate-gateway --test cluster_ticks -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_pubsub_against_streams() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const SECONDS: u64 = 10;
    const BATCH: usize = 50;
    const EDGES: usize = 2;
    for transport in [Transport::PubSub, Transport::Streams] {
        let redis = RedisServer::start();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let pid = info_field(&mut conn, "process_id").await as u32;
        let received = Arc::new(AtomicU64::new(0));
        let consumers: Vec<_> = (0..EDGES)
            .map(|_| tokio::spawn(consume(redis.url(), transport, received.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (cpu0, in0, out0) = (
            redis_cpu_s(pid),
            info_field(&mut conn, "total_net_input_bytes").await,
            info_field(&mut conn, "total_net_output_bytes").await,
        );
        let mut every = tokio::time::interval(Duration::from_millis(5));
        let started = Instant::now();
        let (mut sent, mut payload) = (0u64, 0u64);
        let mut i: u32 = 0;
        while started.elapsed() < Duration::from_secs(SECONDS) {
            every.tick().await;
            let batch: Vec<Tick> = (0..BATCH)
                .map(|_| {
                    i = i.wrapping_add(1);
                    let mut t = tick(100_000 + i % 500, 152_300 + i64::from(i % 97));
                    t.received_ms += i64::from(i);
                    t
                })
                .collect();
            let bytes = codec::encode(&batch);
            payload += bytes.len() as u64;
            let mut pipe = redis::pipe();
            let hset = pipe.cmd("HSET").arg(LATEST);
            for t in &batch {
                hset.arg(t.token.to_string())
                    .arg(codec::encode(std::slice::from_ref(t)));
            }
            hset.ignore();
            match transport {
                Transport::PubSub => pipe.cmd("PUBLISH").arg(CHANNEL).arg(&bytes).ignore(),
                // A minute of history at this rate, trimmed lazily.
                Transport::Streams => pipe
                    .cmd("XADD")
                    .arg(STREAM)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(12_000)
                    .arg("*")
                    .arg("b")
                    .arg(&bytes)
                    .ignore(),
            };
            let () = pipe.query_async(&mut conn).await.unwrap();
            sent += BATCH as u64;
        }
        let elapsed = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu = redis_cpu_s(pid) - cpu0;
        let net_in = info_field(&mut conn, "total_net_input_bytes").await - in0;
        let net_out = info_field(&mut conn, "total_net_output_bytes").await - out0;
        let memory = info_field(&mut conn, "used_memory").await;
        for c in consumers {
            c.abort();
        }
        let per_s = |v: f64| v / elapsed;
        eprintln!(
            "{transport:?}: {:.0} ticks/s sent, {} of {} delivered to {EDGES} edges; redis CPU {:.1} % of a core; \
             in {:.0} kB/s, out {:.0} kB/s; payload {:.1} bytes/tick; used_memory {:.1} MB",
            per_s(sent as f64),
            received.load(Ordering::Relaxed),
            sent * EDGES as u64,
            100.0 * cpu / elapsed,
            per_s(net_in as f64) / 1000.0,
            per_s(net_out as f64) / 1000.0,
            payload as f64 / sent as f64,
            memory as f64 / 1e6,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_keeps_its_clients_while_redis_is_down_and_resumes_after() {
    let redis = RedisServer::start();
    let port = redis.port();
    let leader = node(&redis, "ingest,edge", "lead", 1).await;
    let edge = node(&redis, "edge", "edge-1", 7).await;
    wait_until("leadership", Duration::from_secs(5), async || {
        leader.health().await["cluster"]["is_leader"] == true
    })
    .await;
    let mut on_leader = leader.client().await;
    subscribe(&mut on_leader, &[SYMBOL], "quote").await;
    let mut on_edge = edge.client().await;
    subscribe(&mut on_edge, &[SYMBOL], "quote").await;
    assert!(
        !tickers(&mut on_edge, Duration::from_secs(1))
            .await
            .is_empty()
    );

    drop(redis);
    wait_until(
        "the edge sees Redis gone",
        Duration::from_secs(3),
        async || {
            let h = edge.health().await;
            h["cluster"]["redis_ok"] == false && h["cluster"]["ticks"]["subscribed"] == false
        },
    )
    .await;
    // The client stays; what it is sent now is marked as last-known, never a close.
    let during: Vec<Value> = {
        let mut out = Vec::new();
        while let Some(m) = on_edge.next_within(Duration::from_millis(1500)).await {
            assert_ne!(m["type"], "close", "the edge keeps its clients: {m}");
            out.push(m);
        }
        out
    };
    assert!(
        during
            .iter()
            .filter(|m| m["type"] == "ticker")
            .all(|m| m["data"]["stale"] == true),
        "{during:?}"
    );

    let _redis = RedisServer::start_on(port, None).expect("redis back on its port");
    let back = Instant::now();
    // First the hash's values (from before the outage: last-known), then live ticks once the
    // leader leads again.
    loop {
        let tick = on_edge
            .next_of("ticker", Duration::from_secs(10))
            .await
            .expect("ticks again");
        if tick["data"]["stale"] != true {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "still stale: {tick}"
        );
    }
    eprintln!(
        "live ticks at the edge {:?} after Redis came back",
        back.elapsed()
    );
    let h = edge.health().await;
    assert_eq!(h["cluster"]["redis_ok"], true, "{h}");
    edge.shutdown().await;
    leader.shutdown().await;
}

//! Ticks through a real `redis-server` (DESIGN.md §9): the codec's batches survive PUBLISH and
//! the hash; a leader (`ingest,edge`) publishes what its broker feed delivers and an edge's
//! `/ws/market` client receives the same ticks as the leader's own client; a new edge serves
//! the hash's latest values as snapshots while no tick flows at all. Real time throughout
//! (Redis runs on its own clock).

mod common;

use common::redis_server::RedisServer;
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
    let batch: Vec<Tick> = (0..50).map(|i| tick(256_265 + i, 152_300 + i64::from(i))).collect();
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
    assert_eq!(health["feed"]["connections"], 0, "the edge holds no broker socket");
    assert!(health["cluster"]["ticks"]["received_ticks"].as_u64() > Some(0), "{health}");
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
    wait_until("the new edge subscribed", Duration::from_secs(5), async || {
        late.health().await["cluster"]["ticks"]["subscribed"] == true
    })
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

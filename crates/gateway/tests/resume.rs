//! Gap-free resume (DESIGN.md §12) against the simulator, in paused time: a throttle-0 client
//! away for 10 s comes back with `resume` and its stream (before and after) has every `seq`
//! once, in order, with the values a client that never left received; one of its instruments
//! had no other subscriber (it lingered upstream). After a gateway restart the epoch differs
//! and the resume says it is incomplete.

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const S5: Duration = Duration::from_secs(5);

/// `(symbol, seq) → (ltp, volume)` of every ticker read within `window`, and the epoch seen.
async fn read_for(
    c: &mut WsClient,
    window: Duration,
    into: &mut BTreeMap<(String, u64), (Value, Value)>,
) -> Option<u64> {
    let end = tokio::time::Instant::now() + window;
    let mut epoch = None;
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return epoch;
        }
        let Some(m) = c.next_within(left).await else {
            return epoch;
        };
        if m["type"] != "ticker" {
            continue;
        }
        let d = &m["data"];
        let symbol = d["symbol"].as_str().expect("symbol").to_string();
        let seq = d["seq"].as_u64().expect("every ticker carries seq");
        epoch = d["epoch"].as_u64();
        let old = into.insert(
            (symbol.clone(), seq),
            (d["ltp"].clone(), d["volume"].clone()),
        );
        assert!(old.is_none(), "{symbol} seq {seq} twice");
    }
}

async fn throttle0(env: &Env, symbols: &[&str]) -> WsClient {
    let mut c = client(env).await;
    c.send(json!({"action":"options","throttle_ms":0})).await;
    c.next_of("ack", S5).await.expect("ack");
    subscribe(&mut c, symbols, "quote").await;
    c
}

fn seqs(seen: &BTreeMap<(String, u64), (Value, Value)>, symbol: &str) -> Vec<u64> {
    seen.keys()
        .filter(|(s, _)| s == symbol)
        .map(|(_, n)| *n)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_client_away_for_ten_seconds_misses_nothing() {
    let env = EnvBuilder::new().start().await;
    // The reference never leaves; it has SBIN only, so INFY has no one else while B is away.
    let mut reference = throttle0(&env, &["NSE:SBIN"]).await;
    let mut b = throttle0(&env, &["NSE:SBIN", "NSE:INFY"]).await;
    let mut seen_ref = BTreeMap::new();
    let mut seen_b = BTreeMap::new();
    let epoch = read_for(&mut b, Duration::from_secs(5), &mut seen_b)
        .await
        .expect("ticks");
    drop(b);
    read_for(&mut reference, Duration::from_secs(10), &mut seen_ref).await;

    let last: serde_json::Map<String, Value> = ["NSE:SBIN", "NSE:INFY"]
        .iter()
        .map(|s| {
            (
                s.to_string(),
                json!(seqs(&seen_b, s).last().copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut b = client(&env).await;
    b.send(json!({"action":"options","throttle_ms":0})).await;
    b.next_of("ack", S5).await.expect("ack");
    b.send(json!({"action":"resume","epoch":epoch,"seq":last,"mode":"quote"}))
        .await;
    let reply = b.next_of("resume", S5).await.expect("a resume reply");
    assert_eq!(reply["complete"], true, "{reply}");
    assert!(
        reply["replayed"].as_u64().unwrap_or(0) >= 10,
        "10 s of two instruments: {reply}"
    );
    let tail = tokio::spawn(async move {
        let mut seen = BTreeMap::new();
        read_for(&mut b, Duration::from_secs(5), &mut seen).await;
        seen
    });
    read_for(&mut reference, Duration::from_secs(5), &mut seen_ref).await;
    for (k, v) in tail.await.expect("reader") {
        assert!(
            seen_b.insert(k.clone(), v).is_none(),
            "{k:?} before and after the resume"
        );
    }
    for symbol in ["NSE:SBIN", "NSE:INFY"] {
        let s = seqs(&seen_b, symbol);
        let want: Vec<u64> = (s[0]..=s[s.len() - 1]).collect();
        assert_eq!(s, want, "{symbol}: every seq once, no gap");
        assert!(s.len() > 15, "{symbol}: {} values over 20 s", s.len());
    }
    let common: Vec<_> = seen_b
        .keys()
        .filter(|k| seen_ref.contains_key(*k))
        .collect();
    assert!(
        common.len() > 10,
        "overlap with the reference: {}",
        common.len()
    );
    for k in common {
        assert_eq!(
            seen_b[k], seen_ref[k],
            "{k:?}: the same value as a client that never left"
        );
    }
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_the_epoch_differs_and_the_resume_is_incomplete() {
    let env = EnvBuilder::new().start().await;
    let mut c = throttle0(&env, &["NSE:SBIN"]).await;
    let status = env.ws_status().await;
    assert!(status.is_object());
    let mut seen = BTreeMap::new();
    let epoch = read_for(&mut c, Duration::from_secs(3), &mut seen)
        .await
        .expect("ticks");
    let mut c = client(&env).await;
    c.send(json!({"action":"options","throttle_ms":0})).await;
    c.next_of("ack", S5).await.expect("ack");
    c.send(json!({"action":"resume","epoch":epoch + 1,"seq":{"NSE:SBIN":3},"mode":"quote"}))
        .await;
    let reply = c.next_of("resume", S5).await.expect("a resume reply");
    assert_eq!(reply["complete"], false, "{reply}");
    assert!(
        reply["reason"].as_str().unwrap_or("").contains("epoch"),
        "{reply}"
    );
    let t = c.next_of("ticker", S5).await.expect("the current value");
    assert_eq!(t["data"]["epoch"], epoch);
    env.shutdown().await;
}

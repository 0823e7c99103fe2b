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

/// Updates per second of the whole simulated market: about 17 per second per instrument, at
/// most one per instrument in each of the simulator's 50 ms batches (two would be conflated
/// for a client reading between batches, a `seq` jump that is not the resume's doing).
const FAST: f64 = 1_000.0;
/// Long enough at [`FAST`] for hundreds of values per instrument, far more than the ring's 8.
const AWAY: Duration = Duration::from_secs(15);

/// Every ticker's whole `data` by `(symbol, seq)`, read within `window`.
async fn read_data(c: &mut WsClient, window: Duration, into: &mut BTreeMap<(String, u64), Value>) {
    let end = tokio::time::Instant::now() + window;
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let Some(m) = c.next_within(left).await else {
            return;
        };
        if m["type"] != "ticker" {
            continue;
        }
        let d = m["data"].clone();
        let symbol = d["symbol"].as_str().expect("symbol").to_string();
        let seq = d["seq"].as_u64().expect("every ticker carries seq");
        assert!(
            into.insert((symbol.clone(), seq), d).is_none(),
            "{symbol} seq {seq} twice"
        );
    }
}

/// A throttle-0 client (SBIN and INFY; a reference client that never leaves has SBIN) goes away
/// for `away` and resumes; returns the resume reply, everything it saw (before and after) and
/// what the reference saw.
async fn away_and_back(
    env: &Env,
    away: Duration,
) -> (
    Value,
    BTreeMap<(String, u64), Value>,
    BTreeMap<(String, u64), Value>,
) {
    let mut reference = throttle0(env, &["NSE:SBIN"]).await;
    let mut b = throttle0(env, &["NSE:SBIN", "NSE:INFY"]).await;
    let mut seen_ref = BTreeMap::new();
    let mut seen_b = BTreeMap::new();
    read_data(&mut b, Duration::from_secs(2), &mut seen_b).await;
    let epoch = seen_b.values().next().expect("ticks")["epoch"].clone();
    drop(b);
    read_data(&mut reference, away, &mut seen_ref).await;
    let last: serde_json::Map<String, Value> = ["NSE:SBIN", "NSE:INFY"]
        .iter()
        .map(|s| {
            let last = seen_b.keys().filter(|(sym, _)| sym == s).map(|(_, n)| *n);
            (s.to_string(), json!(last.max().unwrap_or(0)))
        })
        .collect();
    let mut b = client(env).await;
    b.send(json!({"action":"options","throttle_ms":0})).await;
    b.next_of("ack", S5).await.expect("ack");
    b.send(json!({"action":"resume","epoch":epoch,"seq":last,"mode":"quote"}))
        .await;
    let reply = b.next_of("resume", S5).await.expect("a resume reply");
    let tail = tokio::spawn(async move {
        let mut seen = BTreeMap::new();
        read_data(&mut b, Duration::from_secs(2), &mut seen).await;
        seen
    });
    read_data(&mut reference, Duration::from_secs(2), &mut seen_ref).await;
    for (k, v) in tail.await.expect("reader") {
        assert!(
            seen_b.insert(k.clone(), v).is_none(),
            "{k:?} before and after the resume"
        );
    }
    (reply, seen_b, seen_ref)
}

fn seq_list(seen: &BTreeMap<(String, u64), Value>, symbol: &str) -> Vec<u64> {
    seen.keys()
        .filter(|(s, _)| s == symbol)
        .map(|(_, n)| *n)
        .collect()
}

/// With a ring of 8 values, a client away for 15 s of a fast market misses hundreds of values
/// per instrument; the recording gives every one of them back, each once and in order, equal
/// to what a client that never left received.
#[tokio::test(start_paused = true)]
async fn a_resume_past_the_ring_is_filled_from_the_recording() {
    let env = EnvBuilder::new()
        .var("FEEDGATE_RESUME_BUFFER", "8")
        .without_bridge()
        .sim(|s| s.rate = Some(FAST))
        .start()
        .await;
    let (reply, seen_b, seen_ref) = away_and_back(&env, AWAY).await;
    assert_eq!(reply["complete"], true, "{reply}");
    assert_eq!(reply["missing"], json!({}), "{reply}");
    let from_recording = reply["from_recording"].as_u64().unwrap_or(0);
    assert!(from_recording >= 200, "hundreds missed: {reply}");
    for symbol in ["NSE:SBIN", "NSE:INFY"] {
        let s = seq_list(&seen_b, symbol);
        let want: Vec<u64> = (s[0]..=s[s.len() - 1]).collect();
        assert_eq!(s, want, "{symbol}: every seq once, no gap");
    }
    let common: Vec<_> = seen_b
        .keys()
        .filter(|k| seen_ref.contains_key(*k))
        .collect();
    assert!(
        common.len() >= 200,
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

/// Recording off: what the ring no longer holds is reported missing, as before.
#[tokio::test(start_paused = true)]
async fn without_the_recording_a_resume_past_the_ring_is_incomplete() {
    let env = EnvBuilder::new()
        .var("FEEDGATE_RESUME_BUFFER", "8")
        .var("FEEDGATE_RECORD", "off")
        .without_bridge()
        .sim(|s| s.rate = Some(FAST))
        .start()
        .await;
    let (reply, seen_b, _) = away_and_back(&env, AWAY).await;
    assert_eq!(reply["complete"], false, "{reply}");
    assert_eq!(reply["from_recording"], 0, "{reply}");
    for symbol in ["NSE:SBIN", "NSE:INFY"] {
        let [from, to] = [0, 1].map(|i| reply["missing"][symbol][i].as_u64().expect("a range"));
        assert!(to >= from + 100, "{symbol}: {reply}");
        let s = seq_list(&seen_b, symbol);
        assert!(
            s.iter().all(|n| *n < from || *n > to),
            "{symbol}: nothing of the missing range is sent"
        );
        let after: Vec<u64> = s.iter().copied().filter(|n| *n > to).collect();
        let want: Vec<u64> = (to + 1..=to + after.len() as u64).collect();
        assert_eq!(
            after, want,
            "{symbol}: the kept values and live ones follow, each once"
        );
    }
    env.shutdown().await;
}

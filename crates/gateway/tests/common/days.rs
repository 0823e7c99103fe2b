//! A trading day and the evenings after it, on a data directory that survives restarts: a live
//! session that ends with its final values ([`live_session`]), moving the gateway's clock on
//! ([`advance_to`]), freezing the market ([`quiesce`]), subscribing in `quote` mode with
//! candles if asked ([`subscribe`]), the first tick of each symbol ([`first_ticks`]), and what
//! a value delivered while the feed is not live must look like ([`assert_last_known`]).
//!
//! Clients subscribe in `quote` mode: Kite's quote packets carry no exchange timestamp, so tick
//! times (and candle minutes) come from the gateway's clock, which starts at the chosen instant.
//!
//! [`subscribe`] shares its name with [`super::ws::subscribe`] (any mode, no candles), which
//! owns the name at the top of `common`; test files import this one as `common::days::subscribe`.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use super::{Env, EnvBuilder, WAIT, WsClient, client, wait_until};
use chrono::{DateTime, FixedOffset};
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tempfile::TempDir;
use tokio::time::Instant;

pub fn ist(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// Subscribes (`quote` mode, candles if asked) and returns the ack.
pub async fn subscribe(c: &mut WsClient, symbols: &[&str], candles: Option<&str>) -> Value {
    let mut req = json!({"action": "subscribe", "symbols": symbols, "mode": "quote"});
    if let Some(i) = candles {
        req["candles"] = json!(i);
    }
    c.send(req).await;
    let ack = c.next_of("ack", WAIT).await.expect("subscribe ack");
    assert_eq!(ack["count"], symbols.len(), "{ack}");
    ack
}

/// The first ticker of each symbol, in any order, within `deadline`.
pub async fn first_ticks(
    c: &mut WsClient,
    symbols: &[&str],
    deadline: Duration,
) -> BTreeMap<String, Value> {
    let end = Instant::now() + deadline;
    let mut got = BTreeMap::new();
    while got.len() < symbols.len() {
        let left = end.saturating_duration_since(Instant::now());
        let Some(v) = c.next_of("ticker", left).await else {
            panic!("tickers for {symbols:?}: only {:?} arrived", got.keys());
        };
        let sym = v["data"]["symbol"].as_str().unwrap().to_string();
        assert!(symbols.contains(&sym.as_str()), "unasked symbol {sym}");
        got.entry(sym).or_insert_with(|| v["data"].clone());
    }
    got
}

pub async fn quotes(env: &Env, symbols: &[&str]) -> Value {
    env.get_json(&format!("/api/quotes?symbols={}", symbols.join(",")))
        .await
}

/// Lets the gateway's wall clock reach `at` (paused time: costs nothing).
pub async fn advance_to(env: &Env, at: &str) {
    let left = (ist(at).to_utc() - env.clock.now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Freezes the simulated market and waits until every tick it sent has reached the hub, so
/// the hub's latest values are final.
pub async fn quiesce(env: &Env) {
    env.fault(Fault::Stall { seconds: 86_400.0 });
    let hub = env.gw().hub.stats().clone();
    assert!(
        wait_until(WAIT, || {
            let sent = env.sim_state().ticks_sent;
            let got = hub.ticks_in.load(Ordering::Relaxed);
            async move { sent > 0 && sent == got }
        })
        .await,
        "every tick sent reached the hub"
    );
}

/// A trading-hours session on a fresh data directory (Monday 10:00 IST, `DEV_MODE` off so the
/// real calendar says LIVE): a client watches `symbols` until each has a live value and the
/// clock reaches `until`; the market is then frozen. Returns the data directory after a
/// graceful shutdown and the final values as `/api/quotes` showed them.
pub async fn live_session(symbols: &[&str], until: &str) -> (TempDir, Value) {
    let env = EnvBuilder::new()
        .without_bridge()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T10:00:00+05:30")
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, symbols, None).await;
    for (sym, t) in first_ticks(&mut c, symbols, WAIT).await {
        assert_eq!(t["src"], "ws", "{sym}: {t}");
        assert!(t.get("stale").is_none(), "live values are not stale: {t}");
    }
    advance_to(&env, until).await;
    quiesce(&env).await;
    let day = quotes(&env, symbols).await;
    for s in symbols {
        assert_eq!(day["data"][s]["src"], "ws", "{day}");
    }
    (env.into_data_dir().await, day)
}

/// Whole seconds from a value's `ts` (second precision) to `now`.
fn seconds_since(ts: &Value, now: &str) -> i64 {
    (ist(now) - ist(ts.as_str().unwrap())).num_seconds()
}

/// A value delivered while the feed is not live: the value of `day`, marked as a last-known one
/// of `src` with its age at `now`.
pub fn assert_last_known(got: &Value, day: &Value, src: &str, now: &str) {
    assert_eq!(got["src"], src, "{got}");
    assert_eq!(got["stale"], true, "{got}");
    assert_eq!(got["ltp"], day["ltp"], "the last value: {got} vs {day}");
    assert_eq!(got["ts"], day["ts"], "its own time, not now: {got}");
    let want = seconds_since(&day["ts"], now);
    let age = got["age_s"].as_f64().unwrap();
    // `ts` has whole seconds, the age milliseconds: within one second of each other.
    assert!(
        (age - want as f64).abs() <= 1.0,
        "age_s {age} at {now} for a value of {}; expected about {want}",
        day["ts"]
    );
}

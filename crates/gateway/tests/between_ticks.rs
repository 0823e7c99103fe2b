//! Integration tests of "between the ticks" (issue 8, item 4) against the in-process simulator:
//! last known values across restarts and outside market hours (1, 2), the closed-hours REST
//! snapshot (3), session candles at IST minutes under any host `TZ` (4), the close-of-day
//! candle file and its read-back (5), what a crash (`kill -9`) can leave on disk (6), candles
//! pushed over the WebSocket (7) and a host clock ahead of the exchange (8).
//!
//! Timed tests run in paused time (`start_paused = true`): the simulator, the gateway, its
//! scheduler and clock all follow tokio's clock, so a trading day's close or a night costs no
//! real time. With `DEV_MODE=false` the real calendar decides: 2026-11-23 is a Monday, 11-24 a
//! holiday (Guru Nanak Jayanti), 11-28 a Saturday.
//!
//! Clients subscribe in `quote` mode: Kite's quote packets carry no exchange timestamp, so tick
//! times (and candle minutes) come from the gateway's clock, which starts at the chosen
//! instant. The simulator's clock starts at the real time of the run, so its `full`-mode
//! exchange timestamps only fit a gateway clock started near it (test 8 does that on purpose).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use common::{
    Capture, Env, EnvBuilder, TokenSetup, WAIT, WsClient, client, drop_in_token_file, next_tick,
    wait_until,
};
use feedgate_gateway::model::candle::Candle;
use feedgate_gateway::model::instruments::{Instrument, InstrumentSpec, Registry};
use feedgate_gateway::model::tick::{Quote, Source, Tick};
use feedgate_gateway::store::atomic::TEMP_PREFIX;
use feedgate_gateway::store::candle_files::{CandleStore, DayCandles};
use feedgate_gateway::store::last_values::LastValues;
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tempfile::TempDir;
use tokio::time::Instant;

const SBIN: &str = "NSE:SBIN";
const INFY: &str = "NSE:INFY";
const RELIANCE: &str = "NSE:RELIANCE";
const SBIN_TOKEN: u32 = 779_521;

/// Monday evening, market closed.
const NIGHT: &str = "2026-11-23T21:00:00+05:30";

const CSV_HEADER: &str = "symbol,token,time,open,high,low,close,volume";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn ist(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// Subscribes (`quote` mode, candles if asked) and returns the ack.
async fn subscribe(c: &mut WsClient, symbols: &[&str], candles: Option<&str>) -> Value {
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
async fn first_ticks(
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

async fn quotes(env: &Env, symbols: &[&str]) -> Value {
    env.get_json(&format!("/api/quotes?symbols={}", symbols.join(",")))
        .await
}

/// Lets the gateway's wall clock reach `at` (paused time: costs nothing).
async fn advance_to(env: &Env, at: &str) {
    let left = (ist(at).to_utc() - env.clock.now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Freezes the simulated market and waits until every tick it sent has reached the hub, so
/// the hub's latest values are final.
async fn quiesce(env: &Env) {
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
async fn live_session(symbols: &[&str], until: &str) -> (TempDir, Value) {
    let env = EnvBuilder::new()
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
fn assert_last_known(got: &Value, day: &Value, src: &str, now: &str) {
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

fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("candles")] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    out.push(e.path().display().to_string());
                }
            }
        }
    }
    out
}

fn candle_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("candles"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A candle (WebSocket message, `/api/candles` entry) as comparable text:
/// `time open high low close volume`, numbers as the gateway printed them.
fn candle_text(v: &Value) -> String {
    format!(
        "{} {} {} {} {} {}",
        v["t"].as_str().unwrap(),
        v["open"],
        v["high"],
        v["low"],
        v["close"],
        v["volume"]
    )
}

/// The rows of one symbol in a candle CSV, as [`candle_text`]; panics on a malformed row.
fn csv_rows(text: &str, symbol: &str) -> Vec<String> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 8, "malformed row {l:?}");
            (f[0] == symbol).then(|| f[2..].join(" "))
        })
        .collect()
}

/// The start of the `minutes`-long IST interval containing a candle time.
fn bucket_start(t: &str, minutes: u32) -> String {
    let t = ist(t);
    let m = t.minute() - t.minute() % minutes;
    t.with_minute(m).unwrap().to_rfc3339()
}

/// Aggregates 1-minute candles (as JSON) the way the contract says 5m/15m are built.
fn aggregate(ones: &[Value], minutes: u32) -> Vec<String> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for c in ones {
        let b = bucket_start(c["t"].as_str().unwrap(), minutes);
        match out.last_mut() {
            Some((t, agg)) if *t == b => {
                if c["high"].as_f64() > agg["high"].as_f64() {
                    agg["high"] = c["high"].clone();
                }
                if c["low"].as_f64() < agg["low"].as_f64() {
                    agg["low"] = c["low"].clone();
                }
                agg["close"] = c["close"].clone();
                agg["volume"] =
                    json!(agg["volume"].as_u64().unwrap() + c["volume"].as_u64().unwrap());
            }
            _ => {
                let mut agg = c.clone();
                agg["t"] = json!(b);
                out.push((b, agg));
            }
        }
    }
    out.iter().map(|(_, c)| candle_text(c)).collect()
}

/// A CSV row as the JSON candle it stands for (for aggregating file rows).
fn row_json(row: &str) -> Value {
    let f: Vec<&str> = row.split(' ').collect();
    let num = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    json!({"t": f[0], "open": num(f[1]), "high": num(f[2]), "low": num(f[3]), "close": num(f[4]),
           "volume": num(f[5])})
}

/// Everything the gateway logs at info and above, from every thread of this test binary (one
/// global subscriber; tests pick their lines by their own data directory).
fn log_capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Capture::default();
        let _ = c.install(tracing_subscriber::EnvFilter::new("info"));
        c
    })
}

// ---------------------------------------------------------------------------------------------
// 1. A restart keeps last known values
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_last_known_values() {
    let (dir, day) = live_session(&[SBIN, INFY], "2026-11-23T10:00:20+05:30").await;
    let path = dir.path().join("last_values.json");
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut saved: Vec<&str> = file["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["symbol"].as_str().unwrap())
        .collect();
    saved.sort_unstable();
    assert_eq!(saved, [INFY, SBIN], "saved at the graceful shutdown");
    eprintln!(
        "last_values.json: {} bytes for {} values",
        std::fs::metadata(&path).unwrap().len(),
        saved.len()
    );

    // That evening: a new gateway (and simulator) on the same directory, the real calendar.
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .data_dir(dir)
        .start()
        .await;
    assert_eq!(env.health().await["market"]["phase"], "CLOSED");
    let mut c = client(&env).await;
    let asked = Instant::now();
    subscribe(&mut c, &[SBIN, INFY], None).await;
    let got = first_ticks(&mut c, &[SBIN, INFY], WAIT).await;
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "delivered at once, not after a fetch: {:?}",
        asked.elapsed()
    );
    for (sym, t) in &got {
        assert_last_known(t, &day["data"][sym.as_str()], "cache", NIGHT);
    }
    eprintln!(
        "after the restart: SBIN {} from the cache, age_s {}",
        got[SBIN]["ltp"], got[SBIN]["age_s"]
    );

    let q = quotes(&env, &[SBIN, INFY]).await;
    assert_eq!(q["no_data"], json!([]), "{q}");
    for s in [SBIN, INFY] {
        assert_last_known(&q["data"][s], &day["data"][s], "cache", NIGHT);
    }
    assert_eq!(env.upgrades(), (0, 0), "no feed at night");
    assert_eq!(
        env.quote_requests(),
        (0, 0),
        "the cache answered; no REST call"
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Subscribing while closed delivers cached values flagged as not live
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn subscribing_while_closed_gets_cached_values_flagged_not_live() {
    let (mut dir, day) = live_session(&[SBIN, INFY], "2026-11-23T10:00:20+05:30").await;
    // Every state in which the feed does not run, each a restart on the same directory (the
    // values are saved again at each shutdown and must keep their age).
    let cases = [
        (
            "weekday night",
            "2026-11-23T21:00:00+05:30",
            TokenSetup::Minted,
            "CLOSED",
            "MARKET_SESSION",
        ),
        (
            "holiday",
            "2026-11-24T11:00:00+05:30",
            TokenSetup::Minted,
            "CLOSED",
            "MARKET_SESSION",
        ),
        (
            "login required in market hours",
            "2026-11-25T11:00:00+05:30",
            TokenSetup::None,
            "LIVE",
            "AUTH_REQUIRED",
        ),
        (
            "weekend",
            "2026-11-28T11:00:00+05:30",
            TokenSetup::Minted,
            "CLOSED",
            "MARKET_SESSION",
        ),
    ];
    for (name, at, token, phase, priority) in cases {
        let env = EnvBuilder::new()
            .var("DEV_MODE", "false")
            .start_at(at)
            .token(token)
            .data_dir(dir)
            .start()
            .await;
        let h = env.health().await;
        assert_eq!(h["market"]["phase"], phase, "{name}: {h}");
        assert_eq!(h["market"]["holiday"].is_string(), name == "holiday", "{h}");
        let mut c = client(&env).await;
        let asked = Instant::now();
        subscribe(&mut c, &[SBIN, INFY], None).await;
        let got = first_ticks(&mut c, &[SBIN, INFY], WAIT).await;
        assert!(
            asked.elapsed() < Duration::from_millis(100),
            "{name}: at once"
        );
        for (sym, t) in &got {
            assert_last_known(t, &day["data"][sym.as_str()], "cache", at);
        }
        // Nothing live follows, however long the client waits.
        let more = next_tick(&mut c, SBIN, Duration::from_secs(120)).await;
        assert!(more.is_none(), "{name}: no live value: {more:?}");
        assert_eq!(env.upgrades(), (0, 0), "{name}: no WebSocket upgrade");
        assert_eq!(env.quote_requests(), (0, 0), "{name}: no REST call");
        let h = env.health().await;
        assert_eq!(h["priority_status"], priority, "{name}: {h}");
        assert_ne!(h["feed"]["state"], "connected", "{name}: {h}");
        eprintln!("{name}: SBIN age_s {}", got[SBIN]["age_s"]);
        dir = env.into_data_dir().await;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The REST snapshot is used once, not per client
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn one_rest_snapshot_serves_every_client() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .start()
        .await;
    assert!(
        wait_until(WAIT, || async {
            env.health().await["auth"]["state"] == "valid"
        })
        .await,
        "the token is usable"
    );
    let mut a = client(&env).await;
    let mut b = client(&env).await;
    // Both ask before either has an answer, for overlapping instruments.
    let asked = Instant::now();
    subscribe(&mut a, &[SBIN, INFY], None).await;
    subscribe(&mut b, &[INFY, RELIANCE], None).await;
    let got_a = first_ticks(&mut a, &[SBIN, INFY], WAIT).await;
    let got_b = first_ticks(&mut b, &[INFY, RELIANCE], WAIT).await;
    eprintln!(
        "snapshot delivered {:.2} s after the subscribes",
        asked.elapsed().as_secs_f64()
    );
    for (sym, t) in got_a.iter().chain(&got_b) {
        assert_eq!(t["src"], "rest", "{sym}: {t}");
        assert_eq!(t["stale"], true, "{sym}: {t}");
        assert!(t["age_s"].as_u64().unwrap() <= 1, "fresh: {t}");
    }
    assert_eq!(got_a[INFY]["ltp"], got_b[INFY]["ltp"], "the same snapshot");
    assert_eq!(
        env.quote_requests(),
        (1, 0),
        "one quote request for three instruments and two clients"
    );

    // Later, a third client: the hub's copy, no new request.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let mut c = client(&env).await;
    let asked = Instant::now();
    subscribe(&mut c, &[SBIN, INFY, RELIANCE], None).await;
    let got_c = first_ticks(&mut c, &[SBIN, INFY, RELIANCE], WAIT).await;
    assert!(asked.elapsed() < Duration::from_millis(100), "at once");
    for (sym, t) in &got_c {
        let first = got_a.get(sym).unwrap_or_else(|| &got_b[sym]);
        assert_eq!(t["src"], "rest", "{t}");
        assert_eq!(t["stale"], true, "{t}");
        assert_eq!(t["ltp"], first["ltp"], "{t}");
        let age = t["age_s"].as_u64().unwrap();
        assert!((30..=31).contains(&age), "aged with the clock: {t}");
    }
    assert_eq!(env.quote_requests(), (1, 0), "still one request");
    let q = quotes(&env, &[SBIN, INFY, RELIANCE]).await;
    for s in [SBIN, INFY, RELIANCE] {
        assert_eq!(q["data"][s]["src"], "rest", "{q}");
    }
    assert_eq!(env.upgrades(), (0, 0));
    assert!(
        candle_files(env.data_dir.path()).is_empty(),
        "a closed-hours snapshot is not a trade"
    );

    // Snapshots are cached across a restart too: the next gateway asks nothing.
    let dir = env.into_data_dir().await;
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T22:00:00+05:30")
        .data_dir(dir)
        .start()
        .await;
    let mut d = client(&env).await;
    subscribe(&mut d, &[SBIN, INFY, RELIANCE], None).await;
    for (sym, t) in first_ticks(&mut d, &[SBIN, INFY, RELIANCE], WAIT).await {
        assert_eq!(t["src"], "cache", "{sym}: {t}");
        assert_eq!(t["ltp"], got_c[&sym]["ltp"], "{t}");
    }
    assert_eq!(env.quote_requests(), (0, 0));
    assert!(candle_files(env.data_dir.path()).is_empty());
    env.shutdown().await;
}

/// Without a usable token there is no snapshot; the request is not forgotten: it is made once
/// a login brings a token, for the clients that asked before.
#[tokio::test(start_paused = true)]
async fn a_snapshot_asked_for_before_the_evening_login_comes_after_it() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .token(TokenSetup::None)
        .start()
        .await;
    let auth_is = |want: &'static str| {
        let env = &env;
        move || async move { env.health().await["auth"]["state"] == want }
    };
    assert!(wait_until(WAIT, auth_is("required")).await);
    let mut a = client(&env).await;
    subscribe(&mut a, &[SBIN, INFY], None).await;
    let nothing = next_tick(&mut a, SBIN, Duration::from_secs(60)).await;
    assert!(nothing.is_none(), "no value anywhere yet: {nothing:?}");
    assert_eq!(env.quote_requests(), (0, 0), "no REST call without a token");

    // The evening login (here a token dropped into the token file; the browser login ends the
    // same way).
    let token = json!({"broker": "kite", "access_token": env.mint_token()});
    drop_in_token_file(&env, &token.to_string());
    assert!(wait_until(Duration::from_secs(10), auth_is("valid")).await);
    let got = first_ticks(&mut a, &[SBIN, INFY], Duration::from_secs(5)).await;
    for (sym, t) in &got {
        assert_eq!(
            (&t["src"], &t["stale"]),
            (&json!("rest"), &json!(true)),
            "{sym}: {t}"
        );
    }
    assert_eq!(env.quote_requests(), (1, 0), "one request, after the login");
    let mut b = client(&env).await;
    subscribe(&mut b, &[SBIN, INFY], None).await;
    let again = first_ticks(&mut b, &[SBIN, INFY], Duration::from_millis(100)).await;
    assert_eq!(again[SBIN]["ltp"], got[SBIN]["ltp"]);
    assert_eq!(env.quote_requests(), (1, 0));
    assert_eq!(env.upgrades(), (0, 0));
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Candle boundaries at IST minutes under any host TZ
// ---------------------------------------------------------------------------------------------

const TZ_OUT_ENV: &str = "FEEDGATE_CANDLE_TZ_PROBE_OUT";
const TZ_NON_IST_ENV: &str = "FEEDGATE_CANDLE_TZ_PROBE_NON_IST";

/// Candles across IST midnight (23:57:30 → 00:01:30, `DEV_MODE` so the feed runs): the
/// WebSocket `candle` messages, `/api/candles` for today and yesterday, and the backup files.
/// Asserts the IST answers and returns them as text (compared across host timezones). At these
/// instants UTC and New York are still on 2026-11-23, so a host-local day boundary would show.
async fn candles_across_ist_midnight() -> String {
    let env = EnvBuilder::new()
        .start_at("2026-11-23T23:57:30+05:30")
        .start()
        .await;
    let mut ones = client(&env).await;
    subscribe(&mut ones, &[SBIN], Some("1m")).await;
    let mut fifteens = client(&env).await;
    subscribe(&mut fifteens, &[SBIN], Some("15m")).await;
    let mut out = Vec::new();

    let mut got = Vec::new();
    while got.len() < 4 {
        let c = ones
            .next_of("candle", Duration::from_secs(70))
            .await
            .expect("a candle each minute");
        assert_eq!(
            (&c["symbol"], &c["interval"]),
            (&json!(SBIN), &json!("1m")),
            "{c}"
        );
        got.push(c["t"].as_str().unwrap().to_string());
    }
    assert_eq!(
        got,
        [
            "2026-11-23T23:57:00+05:30",
            "2026-11-23T23:58:00+05:30",
            "2026-11-23T23:59:00+05:30",
            "2026-11-24T00:00:00+05:30",
        ],
        "one candle per IST minute, the last minute of the day included"
    );
    out.push(format!("ws 1m: {got:?}"));
    let q = fifteens
        .next_of("candle", WAIT)
        .await
        .expect("the 15m candle");
    assert_eq!(q["t"], "2026-11-23T23:45:00+05:30", "{q}");
    assert_eq!(q["interval"], "15m", "{q}");
    out.push(format!("ws 15m: {}", q["t"]));

    advance_to(&env, "2026-11-24T00:01:30+05:30").await;
    let (today, date) = env.candles("symbol=NSE:SBIN&interval=1m").await;
    let times: Vec<&str> = today.iter().map(|c| c["t"].as_str().unwrap()).collect();
    assert_eq!(date, "2026-11-24");
    assert_eq!(
        times,
        ["2026-11-24T00:00:00+05:30", "2026-11-24T00:01:00+05:30"],
        "today is the IST day"
    );
    out.push(format!("api today {date}: {times:?}"));
    let (yesterday, date) = env
        .candles("symbol=NSE:SBIN&interval=1m&date=2026-11-23")
        .await;
    let times: Vec<&str> = yesterday.iter().map(|c| c["t"].as_str().unwrap()).collect();
    assert_eq!(date, "2026-11-23");
    assert_eq!(
        times,
        [
            "2026-11-23T23:57:00+05:30",
            "2026-11-23T23:58:00+05:30",
            "2026-11-23T23:59:00+05:30"
        ]
    );
    out.push(format!("api yesterday {date}: {times:?}"));
    let (q, _) = env
        .candles("symbol=NSE:SBIN&interval=15m&date=2026-11-23")
        .await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["t"], "2026-11-23T23:45:00+05:30");
    for c in today.iter().chain(&yesterday).chain(&q) {
        let t = c["t"].as_str().unwrap();
        assert!(t.ends_with(":00+05:30"), "{t}");
    }

    let file_times = |dir: &Path, f: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("candles").join(f)).unwrap();
        csv_rows(&text, SBIN)
            .iter()
            .map(|r| r.split(' ').next().unwrap().to_string())
            .collect()
    };
    // The feed ran through midnight (no close): the days were backed up when the IST day
    // changed (00:00:30, the archive's minute), without waiting for a shutdown.
    let files = candle_files(env.data_dir.path());
    assert_eq!(
        files,
        ["2026-11-23.csv", "2026-11-24.csv"],
        "named by IST date"
    );
    assert_eq!(file_times(env.data_dir.path(), &files[0]), got[..3]);
    assert_eq!(file_times(env.data_dir.path(), &files[1]), got[3..]);
    let dir = env.into_data_dir().await;
    assert_eq!(candle_files(dir.path()), files);
    for f in &files {
        let times = file_times(dir.path(), f);
        assert!(
            times
                .iter()
                .all(|t| t.starts_with(&f[..10]) && t.ends_with(":00+05:30")),
            "{f}: {times:?}"
        );
        out.push(format!("file {f}: {times:?}"));
    }
    out.join("\n")
}

/// Runs [`candles_across_ist_midnight`] in this process; as the child of the test below, also
/// proves its host timezone is not IST and writes the answers where the parent reads them.
#[tokio::test(start_paused = true)]
async fn candle_times_probe() {
    if std::env::var_os(TZ_NON_IST_ENV).is_some() {
        let offset = chrono::Local::now().offset().local_minus_utc();
        assert_ne!(
            offset, 19_800,
            "the child's local timezone is IST; the probe would prove nothing"
        );
    }
    let out = candles_across_ist_midnight().await;
    if let Some(path) = std::env::var_os(TZ_OUT_ENV) {
        std::fs::write(path, out).unwrap();
    }
}

#[test]
fn candle_boundaries_are_ist_minutes_under_any_host_tz() {
    let here = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(candles_across_ist_midnight());
    let exe = std::env::current_exe().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for tz in ["UTC", "America/New_York"] {
        let out: PathBuf = scratch.path().join(tz.replace('/', "_"));
        let result = std::process::Command::new(&exe)
            .args([
                "--exact",
                "candle_times_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TZ", tz)
            .env(TZ_OUT_ENV, &out)
            .env(TZ_NON_IST_ENV, "1")
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "TZ={tz}: child failed\n{}\n{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        // The file exists only if the child really ran the probe (a filter matching nothing
        // would succeed without writing it).
        let there = std::fs::read_to_string(&out).unwrap();
        assert_eq!(there, here, "TZ={tz}");
    }
    eprintln!("{here}");
}

// ---------------------------------------------------------------------------------------------
// 5. The candle file written at close, read back after a restart
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_days_candles_are_written_at_close_and_read_back_after_a_restart() {
    let csv = |dir: &Path| dir.join("candles").join("2026-11-23.csv");

    // An earlier run of the day, restarted at 15:53:30: its minutes are on disk and must
    // survive the close-time write of the next run.
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T15:50:00+05:30")
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, &[SBIN], Some("1m")).await;
    advance_to(&env, "2026-11-23T15:53:30+05:30").await;
    let dir = env.into_data_dir().await;
    let earlier = csv_rows(&std::fs::read_to_string(csv(dir.path())).unwrap(), SBIN);
    let times: Vec<&str> = earlier.iter().map(|r| &r[11..16]).collect();
    assert_eq!(
        times,
        ["15:50", "15:51", "15:52", "15:53"],
        "saved at shutdown"
    );

    // 15:55 on a trading day, scheduler on: the feed runs until 16:05.
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T15:55:00+05:30")
        .data_dir(dir)
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, &[SBIN], Some("1m")).await;
    let mut pushed: Vec<Value> = Vec::new();
    let mut written: Option<(DateTime<Utc>, Vec<u8>)> = None;
    let end = ist("2026-11-23T16:07:00+05:30").to_utc();
    let before = std::fs::read(csv(env.data_dir.path())).unwrap();
    while env.clock.now() < end {
        if let Some(m) = c.next_within(Duration::from_millis(200)).await
            && m["type"] == "candle"
        {
            // Pushed at the minute's close (plus the hub's half-second grace).
            let t = ist(m["t"].as_str().unwrap()).to_utc();
            let lag = (env.clock.now() - t).num_milliseconds();
            assert!(
                (60_000..=61_000).contains(&lag),
                "{m} pushed {lag} ms after its start"
            );
            pushed.push(m);
        }
        if written.is_none() {
            let now_bytes = std::fs::read(csv(env.data_dir.path())).unwrap();
            if now_bytes != before {
                written = Some((env.clock.now(), now_bytes));
            }
        }
    }
    let (at, close_bytes) = written.expect("the file is written when the feed stops");
    let stop = ist("2026-11-23T16:05:00+05:30").to_utc();
    assert!(
        at >= stop && at - stop < chrono::Duration::seconds(2),
        "written as the scheduler stopped the feed, at {at}"
    );
    assert_eq!(env.upgrades().0, 1);
    let pushed_text: Vec<String> = pushed.iter().map(candle_text).collect();
    let times: Vec<&str> = pushed_text.iter().map(|r| &r[11..16]).collect();
    assert!(
        times.starts_with(&[
            "15:55", "15:56", "15:57", "15:58", "15:59", "16:00", "16:01", "16:02", "16:03",
            "16:04"
        ]),
        "one candle per minute until the feed stopped: {times:?}"
    );
    assert!(times.len() <= 11, "{times:?}");

    let text = String::from_utf8(close_bytes.clone()).unwrap();
    assert!(text.starts_with(&format!("{CSV_HEADER}\n")), "{text}");
    let rows = csv_rows(&text, SBIN);
    let session: Vec<String> = rows
        .iter()
        .filter(|r| &r[11..16] >= "15:55")
        .cloned()
        .collect();
    assert_eq!(
        &rows[..earlier.len()],
        &earlier[..],
        "the earlier run's minutes are kept"
    );
    assert_eq!(rows.len(), earlier.len() + session.len());
    // Every minute that closed before the feed stopped is in the file exactly as pushed; a
    // minute the stop cut short (16:05) may be there, partial.
    assert_eq!(session[..10], pushed_text[..10]);
    assert!(session.len() <= 11, "{session:?}");
    eprintln!(
        "close-time file: {} bytes, {} rows for SBIN ({} from the earlier run), written at {}",
        close_bytes.len(),
        rows.len(),
        earlier.len(),
        at.with_timezone(&FixedOffset::east_opt(19_800).unwrap())
    );

    // A crash now (no save at shutdown) leaves the close-time file as it was.
    let dir = env.crash().await;
    assert_eq!(std::fs::read(csv(dir.path())).unwrap(), close_bytes);
    assert!(temp_files(dir.path()).is_empty());

    // The next evening (a holiday): a new gateway reads the day back.
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-24T20:00:00+05:30")
        .data_dir(dir)
        .start()
        .await;
    let (ones, date) = env.candles("symbol=NSE:SBIN&interval=1m").await;
    assert_eq!(date, "2026-11-23", "the last session on disk");
    let ones_text: Vec<String> = ones.iter().map(candle_text).collect();
    assert_eq!(ones_text, rows, "newest last, as written");
    let file_json: Vec<Value> = rows.iter().map(|r| row_json(r)).collect();
    for interval in [5, 15] {
        let (agg, _) = env
            .candles(&format!("symbol=NSE:SBIN&interval={interval}m"))
            .await;
        let agg: Vec<String> = agg.iter().map(candle_text).collect();
        assert_eq!(agg, aggregate(&file_json, interval), "{interval}m");
        if interval == 5 {
            let times: Vec<&str> = agg.iter().map(|r| &r[11..16]).collect();
            assert_eq!(&times[..3], ["15:50", "15:55", "16:00"]);
        }
    }
    let (dated, date) = env
        .candles("symbol=NSE:SBIN&interval=1m&date=2026-11-23")
        .await;
    assert_eq!((dated.len(), date.as_str()), (rows.len(), "2026-11-23"));
    let (none, date) = env
        .candles("symbol=NSE:SBIN&interval=1m&date=2026-11-20")
        .await;
    assert_eq!((none.len(), date.as_str()), (0, "2026-11-20"));
    let (none, _) = env
        .candles("symbol=NSE:SBIN&interval=1m&date=2026-11-24")
        .await;
    assert!(none.is_empty(), "nothing traded on the holiday: {none:?}");

    // A client at night: SBIN from the cache, INFY by a REST snapshot. Neither is a trade: no
    // candle appears and the day's file is not touched, even by the shutdown save.
    let mut c = client(&env).await;
    subscribe(&mut c, &[SBIN, INFY], Some("1m")).await;
    let got = first_ticks(&mut c, &[SBIN, INFY], WAIT).await;
    assert_eq!(
        (&got[SBIN]["src"], &got[INFY]["src"]),
        (&json!("cache"), &json!("rest"))
    );
    advance_to(&env, "2026-11-24T20:03:00+05:30").await;
    assert!(c.next_of("candle", Duration::from_secs(1)).await.is_none());
    let (infy, _) = env.candles("symbol=NSE:INFY&interval=1m").await;
    assert!(infy.is_empty(), "{infy:?}");
    let dir = env.into_data_dir().await;
    assert_eq!(candle_files(dir.path()), ["2026-11-23.csv"]);
    assert_eq!(std::fs::read(csv(dir.path())).unwrap(), close_bytes);
}

// ---------------------------------------------------------------------------------------------
// 6. What a crash can leave never blocks start-up
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn crash_leftovers_and_torn_files_never_block_start_up() {
    let logs = log_capture();
    let (dir, _) = live_session(&[SBIN], "2026-11-23T10:03:30+05:30").await;
    let lkv = dir.path().join("last_values.json");
    let csv = dir.path().join("candles").join("2026-11-23.csv");
    let good_rows = csv_rows(&std::fs::read_to_string(&csv).unwrap(), SBIN);
    assert_eq!(good_rows.len(), 4, "10:00–10:03: {good_rows:?}");

    // What a crash leaves: temp files of an interrupted atomic write, and torn files as an older
    // non-atomic writer killed mid-write would have left them.
    let lkv_bytes = std::fs::read(&lkv).unwrap();
    std::fs::write(&lkv, &lkv_bytes[..lkv_bytes.len() / 2]).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let last_line = text.trim_end().rfind('\n').unwrap() + 1;
    let cut = last_line + (text.len() - last_line) / 2;
    std::fs::write(&csv, &text[..cut]).unwrap();
    std::fs::write(
        dir.path().join(format!("{TEMP_PREFIX}Xk3f9a")),
        &lkv_bytes[..40],
    )
    .unwrap();
    std::fs::write(
        dir.path()
            .join("candles")
            .join(format!("{TEMP_PREFIX}Qw7Zr2")),
        &text[..30],
    )
    .unwrap();
    assert_eq!(temp_files(dir.path()).len(), 2);
    let torn_row = &text[last_line..cut];
    eprintln!(
        "damage: last_values.json {} → {} bytes, candle file {} → {} bytes (torn row {torn_row:?})",
        lkv_bytes.len(),
        lkv_bytes.len() / 2,
        text.len(),
        cut
    );

    // The gateway restarts later that morning (a crash-restart mid-session).
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T10:05:00+05:30")
        .data_dir(dir)
        .start()
        .await;
    let dir_text = env.data_dir.path().display().to_string();
    assert!(
        temp_files(env.data_dir.path()).is_empty(),
        "swept at start-up"
    );
    let warned = logs.lines_with(&format!("{dir_text}/last_values.json"));
    assert!(
        warned
            .iter()
            .any(|l| l.contains("WARN") && l.contains("damaged")),
        "the damaged file is reported: {warned:?}"
    );
    let mut c = client(&env).await;
    subscribe(&mut c, &[SBIN], None).await;
    let t = next_tick(&mut c, SBIN, WAIT).await.expect("serves");
    assert_eq!(t["data"]["src"], "ws", "{t}");
    advance_to(&env, "2026-11-23T10:07:30+05:30").await;
    quiesce(&env).await;
    let morning = quotes(&env, &[SBIN]).await;
    let dir = env.into_data_dir().await;

    // Good files again: the values parse, the day's file keeps every intact row of before (the
    // torn one dropped, with a warning) plus this run's.
    let file: Value = serde_json::from_slice(&std::fs::read(&lkv).unwrap()).unwrap();
    assert_eq!(file["values"][0]["symbol"], SBIN);
    let rows = csv_rows(&std::fs::read_to_string(&csv).unwrap(), SBIN);
    let times: Vec<&str> = rows.iter().map(|r| &r[11..16]).collect();
    assert_eq!(
        times,
        ["10:00", "10:01", "10:02", "10:05", "10:06", "10:07"]
    );
    assert_eq!(rows[..3], good_rows[..3]);
    let warned = logs.lines_with(&format!("{dir_text}/candles/2026-11-23.csv"));
    assert!(
        warned
            .iter()
            .any(|l| l.contains("WARN") && l.contains("malformed")),
        "the torn row is reported: {warned:?}"
    );

    // And a restart that evening serves both.
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .data_dir(dir)
        .start()
        .await;
    let (api, _) = env.candles("symbol=NSE:SBIN&interval=1m").await;
    assert_eq!(api.iter().map(candle_text).collect::<Vec<_>>(), rows);
    let mut c = client(&env).await;
    subscribe(&mut c, &[SBIN], None).await;
    let t = next_tick(&mut c, SBIN, WAIT).await.unwrap();
    assert_last_known(&t["data"], &morning["data"][SBIN], "cache", NIGHT);
    env.shutdown().await;
}

const CRASH_DIR_ENV: &str = "FEEDGATE_CRASH_WRITER_DIR";
/// The writer's first round number (each child continues where the last one was killed).
const CRASH_FROM_ENV: &str = "FEEDGATE_CRASH_WRITER_FROM";
/// Instruments with a day of candles in the writer's file.
const WRITER_CANDLE_INSTRUMENTS: usize = 20;
/// Values in the writer's file: SBIN plus instruments the gateway does not know (ignored at
/// load), so each save is large and a kill lands inside one.
const WRITER_FILLER: u32 = 4_000;
const WRITER_DAY: &str = "2026-11-23";

fn writer_instruments() -> Vec<Arc<Instrument>> {
    let spec = |token: u32, ts: String| InstrumentSpec::nse_equity(token, ts.clone(), ts);
    let registry = Registry::new(
        std::iter::once(spec(SBIN_TOKEN, "SBIN".into()))
            .chain((0..WRITER_FILLER).map(|i| spec(90_000_000 + i, format!("FILLER{i}")))),
    );
    std::iter::once(SBIN_TOKEN)
        .chain((0..WRITER_FILLER).map(|i| 90_000_000 + i))
        .map(|t| registry.by_token(t).unwrap().clone())
        .collect()
}

/// The value the writer saves for SBIN in its `n`-th round: 800.00 + n paise.
fn writer_ltp(n: i64) -> i64 {
    80_000 + n
}

/// Not a test of its own: the child process of the test below, which kills it. Saves last known
/// values and a day of candles through the gateway's own persistence, as fast as it can, until
/// killed. Without its environment variable it returns at once.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let from: i64 = std::env::var(CRASH_FROM_ENV).unwrap().parse().unwrap();
    let insts = writer_instruments();
    let values = LastValues::new(&dir);
    let store = CandleStore::new(&dir);
    let day = WRITER_DAY.parse().unwrap();
    // 2026-11-23 09:15 IST.
    let open = 1_795_398_300;
    for n in from.. {
        let items: Vec<(Arc<Instrument>, Tick)> = insts
            .iter()
            .map(|i| {
                let tick = Tick {
                    token: i.token,
                    divisor: 100,
                    ltp: writer_ltp(n),
                    quote: Some(Quote {
                        close: 79_000,
                        volume: Some(n as u64),
                        ..Quote::default()
                    }),
                    full: None,
                    received_ms: (open + 6 * 3600) * 1000 + n,
                    src: Source::Ws,
                };
                (i.clone(), tick)
            })
            .collect();
        // `saved_at_ms` counts the rounds, for the parent to watch.
        values.save(&items, n).unwrap();
        let rows: Vec<DayCandles> = insts
            .iter()
            .take(WRITER_CANDLE_INSTRUMENTS)
            .map(|i| DayCandles {
                symbol: i.symbol.to_string(),
                token: i.token,
                divisor: 100,
                candles: (0..375)
                    .map(|m| Candle {
                        t: open + m * 60,
                        open: writer_ltp(n),
                        high: writer_ltp(n) + 5,
                        low: writer_ltp(n) - 5,
                        close: writer_ltp(n),
                        volume: n as u64,
                    })
                    .collect(),
            })
            .collect();
        store.write(day, &rows).unwrap();
    }
}

#[test]
fn a_kill_9_in_the_middle_of_saving_never_blocks_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let lkv = dir.path().join("last_values.json");
    let exe = std::env::current_exe().unwrap();
    let mut kills = Vec::new();
    let saved_round = || {
        std::fs::read(&lkv)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map_or(0, |v| v["saved_at_ms"].as_i64().unwrap())
    };
    // A write's temp file lives about a millisecond of the writer's ~70 ms round, so the
    // kill is aimed: SIGKILL the moment a temp file exists, and again until one kill is caught
    // mid-write (the temp file is left behind).
    for _ in 0..10 {
        let from = saved_round() + 1;
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_DIR_ENV, dir.path())
            .env(CRASH_FROM_ENV, from.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        // Let it complete a few rounds (condition polling in real time).
        while saved_round() < from + 2 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the writer saves"
            );
            assert!(child.try_wait().unwrap().is_none(), "the writer runs");
            std::thread::sleep(Duration::from_millis(2));
        }
        while temp_files(dir.path()).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the writer writes"
            );
            std::hint::spin_loop();
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let left = temp_files(dir.path());
        kills.push((started.elapsed(), saved_round() - from + 1, left.len()));
        if !left.is_empty() {
            break;
        }
    }
    eprintln!("kill -9 rounds (time alive, complete saves, temp files left): {kills:?}");
    assert!(
        kills.iter().any(|(.., n)| *n > 0),
        "a kill landed inside a write (else this test proves nothing): {kills:?}"
    );

    // Whatever the kill interrupted, the files in place are whole.
    let file: Value = serde_json::from_slice(&std::fs::read(&lkv).unwrap()).unwrap();
    let round = file["saved_at_ms"].as_i64().unwrap();
    assert_eq!(
        file["values"].as_array().unwrap().len(),
        WRITER_FILLER as usize + 1
    );
    let text =
        std::fs::read_to_string(dir.path().join("candles").join(format!("{WRITER_DAY}.csv")))
            .unwrap();
    let rows = csv_rows(&text, SBIN);
    assert_eq!(rows.len(), 375);
    assert_eq!(
        text.lines().count(),
        1 + 375 * WRITER_CANDLE_INSTRUMENTS,
        "every row whole"
    );
    eprintln!(
        "after the kill: last_values.json {} bytes (round {round}), candle file {} bytes",
        std::fs::metadata(&lkv).unwrap().len(),
        text.len()
    );

    // A gateway starts on the directory that evening and serves what was saved.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let env = EnvBuilder::new()
                .var("DEV_MODE", "false")
                .start_at(NIGHT)
                .data_dir(dir)
                .start()
                .await;
            assert!(
                temp_files(env.data_dir.path()).is_empty(),
                "swept at start-up"
            );
            let q = quotes(&env, &[SBIN]).await;
            let sbin = &q["data"][SBIN];
            assert_eq!(sbin["src"], "cache", "{q}");
            let ltp = (sbin["ltp"].as_f64().unwrap() * 100.0).round() as i64;
            assert_eq!(ltp, writer_ltp(round), "the last complete save");
            let (api, date) = env.candles("symbol=NSE:SBIN&interval=1m").await;
            assert_eq!((api.len(), date.as_str()), (375, WRITER_DAY));
            env.shutdown().await;
        });
}

/// `target/debug/feedgate`, if built (`cargo build -p feedgate`).
fn feedgate_binary() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/feedgate");
    p.exists().then_some(p)
}

/// The real binary: `feedgate serve` on a data directory against a simulator, killed with
/// SIGKILL during (or right around) the shutdown save SIGTERM starts, then started again on the
/// same directory: it must start and serve each time. Needs `cargo build -p feedgate`; without
/// the binary it says so and passes.
#[test]
fn the_feedgate_binary_killed_while_saving_starts_again() {
    let Some(bin) = feedgate_binary() else {
        eprintln!("SKIPPED: target/debug/feedgate is not built (cargo build -p feedgate)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sim_shutdown = tokio_util::sync::CancellationToken::new();
    let sim = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        feedgate_sim::Sim::start(
            feedgate_sim::SimConfig::default(),
            listener,
            sim_shutdown.clone(),
        )
        .await
        .unwrap()
    });
    let token = sim.mint_access_token();
    let http = reqwest::Client::new();
    let spawn = |port: u16| {
        let defaults = feedgate_sim::SimConfig::default();
        std::process::Command::new(&bin)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("FEEDGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FEEDGATE_DATA_DIR", dir.path())
            .env("FEEDGATE_INSTRUMENTS", "NSE:SBIN,NSE:INFY")
            .env("FEEDGATE_LOG", "warn")
            .env("DEV_MODE", "true")
            .env("KITE_API_URL", sim.base_url())
            .env("KITE_WS_URL", sim.ws_url())
            .env(
                "KITE_LOGIN_URL",
                format!("{}/connect/login", sim.base_url()),
            )
            .env("ZERODHA_API_KEY", &defaults.api_key)
            .env("ZERODHA_API_SECRET", &defaults.api_secret)
            .env("ZERODHA_ACCESS_TOKEN", &token)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    // Serves once `/api/quotes` has SBIN (live, or from the cache at first).
    let serving = |port: u16, child: &mut std::process::Child| {
        let started = std::time::Instant::now();
        loop {
            let url = format!("http://127.0.0.1:{port}/api/quotes?symbols=NSE:SBIN");
            let got = rt.block_on(async {
                let r = http.get(&url).send().await.ok()?;
                r.json::<Value>().await.ok()
            });
            if let Some(v) = got
                && v["data"][SBIN]["ltp"].is_number()
            {
                return (started.elapsed(), v["data"][SBIN]["src"].clone());
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "feedgate exited at start-up"
            );
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "feedgate serves"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut log = Vec::new();
    for budget_ms in [0u64, 20, 20] {
        let port = free_port();
        let mut child = spawn(port);
        let (up, src) = serving(port, &mut child);
        // SIGTERM starts the shutdown save; SIGKILL the moment a temp file shows the save
        // writing (or when the budget runs out).
        let term = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let t0 = std::time::Instant::now();
        let mut seen = false;
        while t0.elapsed() < Duration::from_millis(budget_ms) {
            if !temp_files(dir.path()).is_empty() {
                seen = true;
                break;
            }
            std::hint::spin_loop();
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        log.push(format!(
            "serving after {:.2} s (first SBIN src {src}); SIGKILL {:.1} ms after SIGTERM (temp file seen: {seen}): {status}; temp files left {}",
            up.as_secs_f64(),
            t0.elapsed().as_secs_f64() * 1000.0,
            temp_files(dir.path()).len()
        ));
        if let Ok(b) = std::fs::read(dir.path().join("last_values.json")) {
            serde_json::from_slice::<Value>(&b).expect("never a torn values file");
        }
    }
    // Once more, then a clean stop: it starts, serves and leaves good files.
    let port = free_port();
    let mut child = spawn(port);
    let (up, src) = serving(port, &mut child);
    assert!(temp_files(dir.path()).is_empty(), "swept at start-up");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit: {status}");
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("last_values.json")).unwrap())
            .unwrap();
    assert!(file["values"].as_array().unwrap().len() >= 2);
    log.push(format!(
        "final start serving after {:.2} s (first SBIN src {src})",
        up.as_secs_f64()
    ));
    eprintln!("{}", log.join("\n"));
    sim_shutdown.cancel();
}

// ---------------------------------------------------------------------------------------------
// 7. Aggregated candles over the WebSocket
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn five_minute_candles_are_pushed_at_each_five_minute_close() {
    let env = EnvBuilder::new()
        .start_at("2026-11-23T10:03:30+05:30")
        .start()
        .await;
    let mut fives = client(&env).await;
    subscribe(&mut fives, &[SBIN], Some("5m")).await;
    let mut ones = client(&env).await;
    subscribe(&mut ones, &[SBIN], Some("1m")).await;

    let end = ist("2026-11-23T10:12:30+05:30").to_utc();
    let mut got_fives: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let mut got_ones: Vec<Value> = Vec::new();
    while env.clock.now() < end {
        tokio::select! {
            Some(m) = fives.next_within(Duration::from_millis(500)) => {
                if m["type"] == "candle" {
                    got_fives.push((env.clock.now(), m));
                }
            }
            Some(m) = ones.next_within(Duration::from_millis(500)) => {
                if m["type"] == "candle" {
                    got_ones.push(m);
                }
            }
            else => {}
        }
    }
    let times: Vec<&str> = got_fives
        .iter()
        .map(|(_, m)| m["t"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        ["2026-11-23T10:00:00+05:30", "2026-11-23T10:05:00+05:30"],
        "one candle per five minutes, none at the other minute closes"
    );
    for (at, m) in &got_fives {
        assert_eq!(m["interval"], "5m", "{m}");
        assert_eq!(m["symbol"], SBIN, "{m}");
        let close = ist(m["t"].as_str().unwrap()).to_utc() + chrono::Duration::minutes(5);
        let lag = (*at - close).num_milliseconds();
        assert!(
            (0..=1_000).contains(&lag),
            "{m} pushed {lag} ms after its close"
        );
    }
    // The same OHLCV as `/api/candles?interval=5m` and as the 1-minute candles aggregated.
    let pushed: Vec<String> = got_fives.iter().map(|(_, m)| candle_text(m)).collect();
    let (api, _) = env.candles("symbol=NSE:SBIN&interval=5m").await;
    let api: Vec<String> = api.iter().map(candle_text).collect();
    assert_eq!(api[..2], pushed[..], "as served by /api/candles");
    let ones_times: Vec<&str> = got_ones
        .iter()
        .map(|m| &m["t"].as_str().unwrap()[11..16])
        .collect();
    assert_eq!(
        ones_times,
        [
            "10:03", "10:04", "10:05", "10:06", "10:07", "10:08", "10:09", "10:10", "10:11"
        ]
    );
    let from_ones = aggregate(&got_ones, 5);
    assert_eq!(
        from_ones[..2],
        pushed[..],
        "the 1-minute candles aggregated"
    );
    eprintln!("5m candles: {pushed:?}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 8. A host clock ahead of the exchange
// ---------------------------------------------------------------------------------------------

/// In `full` mode candles go by the exchange's timestamps, while the hub's timer closes minutes
/// by the host clock. With the host 2 s ahead, each minute is closed by the timer before its
/// last ticks arrive; they must not open a second candle for the closed minute.
#[tokio::test(start_paused = true)]
async fn a_host_clock_ahead_of_the_exchange_makes_no_second_candle_for_a_minute() {
    // The simulator stamps ticks with the real time of the run (its clock starts at it); the
    // gateway's clock starts 2 s ahead of that.
    let env = EnvBuilder::new()
        .start_at_utc(Utc::now() + chrono::Duration::seconds(2))
        .start()
        .await;
    let mut c = client(&env).await;
    c.send(json!({"action": "subscribe", "symbols": [SBIN], "mode": "full", "candles": "1m"}))
        .await;
    c.next_of("ack", WAIT).await.expect("ack");
    let mut pushed: Vec<String> = Vec::new();
    while pushed.len() < 4 {
        let m = c
            .next_of("candle", Duration::from_secs(70))
            .await
            .expect("a candle a minute");
        pushed.push(m["t"].as_str().unwrap().to_string());
    }
    // The candles' day (the run's real date; the gateway's clock may be past midnight already).
    let date = &pushed[0][..10];
    let (api, _) = env
        .candles(&format!("symbol=NSE:SBIN&interval=1m&date={date}"))
        .await;
    let served: Vec<&str> = api.iter().map(|c| c["t"].as_str().unwrap()).collect();
    eprintln!("skewed host: pushed {pushed:?}, served {served:?}");
    for w in pushed.windows(2) {
        assert_eq!(
            (ist(&w[1]) - ist(&w[0])).num_seconds(),
            60,
            "one candle per minute, each once: {pushed:?}"
        );
    }
    assert!(
        served.windows(2).all(|w| w[0] < w[1]),
        "no minute twice: {served:?}"
    );
    let same_day: Vec<&str> = pushed
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with(date))
        .collect();
    assert_eq!(served[..same_day.len()], same_day[..]);
    env.shutdown().await;
}

//! Closed-hours data paths, against the in-process simulator in paused time: a restart keeps
//! last known values (1); subscribing while the feed does not run (night, holiday, weekend,
//! login required) delivers them at once, flagged as not live (2); one closed-hours REST
//! snapshot serves every client and waits for a login if there is no token (3); a snapshot
//! whose token expired overnight is reported to auth and fetched after the login (4);
//! `/api/candles` without a date searches only the newest day files and warns once per damaged
//! file (5).
//!
//! With `DEV_MODE=false` the real calendar decides: 2026-11-23 is a Monday, 11-24 a holiday
//! (Guru Nanak Jayanti), 11-28 a Saturday.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::days::subscribe;
use common::{
    Capture, Env, EnvBuilder, TokenSetup, WAIT, assert_last_known, candle_files, client,
    drop_in_token_file, first_ticks, live_session, next_tick, quotes, wait_until,
};
use feedgate_gateway::model::candle::Candle;
use feedgate_gateway::store::candle_files::{CandleStore, DayCandles, RECENT_DAYS};
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::Instant;

const SBIN: &str = "NSE:SBIN";
const INFY: &str = "NSE:INFY";
const RELIANCE: &str = "NSE:RELIANCE";

/// Monday evening, market closed.
const NIGHT: &str = "2026-11-23T21:00:00+05:30";

/// Everything the gateway logs at warn and above, from every thread of this test binary (one
/// global subscriber; tests pick their lines by their own data directory).
fn log_capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Capture::default();
        let _ = c.install(tracing_subscriber::EnvFilter::new("warn"));
        c
    })
}

async fn auth_state(env: &Env) -> Value {
    env.health().await["auth"]["state"].clone()
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
// 4. A snapshot with a token that expired overnight
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_snapshot_rejected_for_its_token_is_reported_and_fetched_after_the_login() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .start()
        .await;
    assert!(wait_until(WAIT, || async { auth_state(&env).await == "valid" }).await);
    // The broker ends the session overnight; nothing has used the token since.
    env.fault(Fault::ExpireToken);
    let mut c = client(&env).await;
    c.send(json!({"action": "subscribe", "symbols": [SBIN], "mode": "quote"}))
        .await;
    c.next_of("ack", WAIT).await.expect("ack");
    assert!(
        wait_until(WAIT, || async { auth_state(&env).await == "expired" }).await,
        "the rejection reached auth, so the dashboard asks for a login"
    );
    assert!(
        next_tick(&mut c, SBIN, Duration::from_secs(60))
            .await
            .is_none()
    );

    // The login: the request made before it is fetched with the new token.
    let token = json!({"broker": "kite", "access_token": env.mint_token()});
    drop_in_token_file(&env, &token.to_string());
    let tick = next_tick(&mut c, SBIN, Duration::from_secs(10))
        .await
        .expect("the snapshot after the login");
    assert_eq!(
        (&tick["data"]["src"], &tick["data"]["stale"]),
        (&json!("rest"), &json!(true)),
        "{tick}"
    );
    assert_eq!(env.quote_requests(), (1, 0), "one accepted quote request");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. `/api/candles` without a date: the newest day files only, one warning per damaged file
// ---------------------------------------------------------------------------------------------

fn minute(t: i64, price: i64) -> Candle {
    Candle {
        t,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: 10,
    }
}

#[tokio::test(start_paused = true)]
async fn candles_without_a_date_search_only_the_newest_days() {
    let logs = log_capture();
    let dir = tempfile::tempdir().unwrap();
    let store = CandleStore::new(dir.path());
    // Twelve sessions on disk, newest 2026-11-20. Every day has INFY; RELIANCE only the
    // oldest day still searched, SBIN only a day before that.
    let newest = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let days: Vec<_> = (0..12).map(|i| newest - chrono::Days::new(i)).collect();
    // 09:15 IST of the newest day.
    let open = 1_795_146_300;
    for (i, day) in days.iter().enumerate() {
        let t = open - i as i64 * 86_400;
        let mut rows = vec![DayCandles {
            symbol: "NSE:INFY".into(),
            token: 408_065,
            divisor: 100,
            candles: vec![minute(t, 150_000)],
        }];
        let only = match i {
            i if i == RECENT_DAYS - 1 => Some(("NSE:RELIANCE", 738_561)),
            i if i == RECENT_DAYS => Some((SBIN, 779_521)),
            _ => None,
        };
        if let Some((symbol, token)) = only {
            rows.push(DayCandles {
                symbol: symbol.into(),
                token,
                divisor: 100,
                candles: vec![minute(t, 81_240)],
            });
        }
        store.write(*day, &rows).unwrap();
    }
    // A torn row in the newest file.
    let damaged = store.path(newest);
    let mut text = std::fs::read_to_string(&damaged).unwrap();
    text.push_str("NSE:INFY,408065,not-a-time,1,1,1,1,1\n");
    std::fs::write(&damaged, text).unwrap();

    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .data_dir(dir)
        .start()
        .await;
    let candles = |query: &'static str| {
        let env = &env;
        async move {
            let (rows, date) = env.candles(query).await;
            (rows.len(), date)
        }
    };
    let reliance_day = days[RECENT_DAYS - 1].to_string();
    let sbin_day = days[RECENT_DAYS].to_string();
    assert_eq!(
        candles("symbol=NSE:RELIANCE").await,
        (1, reliance_day),
        "the oldest day searched"
    );
    let (n, _) = candles("symbol=NSE:SBIN").await;
    assert_eq!(
        n, 0,
        "older than the newest {RECENT_DAYS} days: not searched"
    );
    assert_eq!(
        candles("symbol=NSE:SBIN&date=2026-11-10").await,
        (1, sbin_day),
        "a date asked for is read whatever its age"
    );
    for _ in 0..3 {
        assert_eq!(candles("symbol=NSE:INFY").await.0, 1);
        candles("symbol=NSE:SBIN").await;
    }
    let damaged = damaged.display().to_string();
    let warnings: Vec<String> = logs
        .lines_with("skipped malformed rows in a candle file")
        .into_iter()
        .filter(|l| l.contains(&damaged))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    env.shutdown().await;
}

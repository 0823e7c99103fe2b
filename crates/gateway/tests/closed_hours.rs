//! Closed-hours data paths, against the in-process simulator in
//! paused time: a closed-hours snapshot whose token expired overnight is reported to auth and
//! fetched after the login (1), and `/api/candles` without a date searches only the newest day
//! files and warns once per damaged file (2).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Capture, Env, EnvBuilder, WAIT, client, drop_in_token_file, next_tick, wait_until};
use feedgate_gateway::model::candle::Candle;
use feedgate_gateway::store::candle_files::{CandleStore, DayCandles, RECENT_DAYS};
use feedgate_sim::Fault;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

const SBIN: &str = "NSE:SBIN";

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
// 1. A snapshot with a token that expired overnight
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
// 2. `/api/candles` without a date: the newest day files only, one warning per damaged file
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

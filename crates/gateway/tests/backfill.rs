//! History backfill end to end, against the in-process simulator in paused time: a gateway
//! restarted at 11:00 shows the whole session in `/api/candles` — every minute from 09:15 once,
//! the minutes before the restart from the broker's historical API equal to what the simulator
//! streamed and to what the first run built from the ticks, the minutes after it live.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::DateTime;
use common::{Broker, Env, EnvBuilder, WAIT, advance_to, client};
use serde_json::{Value, json};
use std::time::Duration;

const SBIN: &str = "NSE:SBIN";
const SBIN_TOKEN: u32 = 779_521;

/// One candle as comparable numbers: (start, open, high, low, close, volume).
type Row = (i64, f64, f64, f64, f64, u64);

fn api_row(c: &Value) -> Row {
    let t = DateTime::parse_from_rfc3339(c["t"].as_str().unwrap()).unwrap();
    let p = |k: &str| c[k].as_f64().unwrap();
    (
        t.timestamp(),
        p("open"),
        p("high"),
        p("low"),
        p("close"),
        c["volume"].as_u64().unwrap(),
    )
}

fn kite_row(c: &Value) -> Row {
    let t = DateTime::parse_from_str(c[0].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%z").unwrap();
    let p = |i: usize| c[i].as_f64().unwrap();
    (
        t.timestamp(),
        p(1),
        p(2),
        p(3),
        p(4),
        c[5].as_u64().unwrap(),
    )
}

async fn minutes(env: &Env) -> Vec<Row> {
    env.candles(&format!("symbol={SBIN}&interval=1m"))
        .await
        .0
        .iter()
        .map(api_row)
        .collect()
}

/// What the simulator's historical API says SBIN did today up to now.
async fn broker_minutes(env: &Env) -> Vec<Row> {
    let url = format!(
        "{}/instruments/historical/{SBIN_TOKEN}/minute?from=2026-11-23+00:00:00&to=2026-11-23+23:59:59",
        env.sim.base_url()
    );
    // The simulator's Kite side, whichever broker the gateway uses: one market behind both.
    let auth = format!(
        "token {}:{}",
        env.config.kite.api_key,
        env.sim.mint_access_token()
    );
    let body: Value = env
        .http
        .get(url)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(kite_row)
        .collect()
}

/// A client in `full` mode (exchange timestamps: candle minutes are the simulator's), reading
/// everything in the background so the gateway never drops it as slow; ends with the socket.
async fn watch(env: &Env) -> tokio::task::JoinHandle<()> {
    let mut c = client(env).await;
    c.send(json!({"action": "subscribe", "symbols": [SBIN], "mode": "full", "candles": "1m"}))
        .await;
    c.next_of("ack", WAIT).await.expect("subscribe ack");
    tokio::spawn(async move {
        while let Some(m) = c.next_within(Duration::from_secs(3600)).await {
            if m["type"] == "close" {
                break;
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_restart_at_eleven_shows_the_whole_session() {
    restart_at_eleven(Broker::Kite).await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_at_eleven_shows_the_whole_session_with_fyers() {
    restart_at_eleven(Broker::Fyers).await;
}

async fn restart_at_eleven(kind: Broker) {
    let mut env = EnvBuilder::new()
        .broker(kind)
        .var("DEV_MODE", "false")
        .start_at("2026-11-23T09:15:00+05:30")
        .start()
        .await;
    let c = watch(&env).await;
    advance_to(&env, "2026-11-23T11:00:20+05:30").await;
    let first_run = minutes(&env).await;
    c.abort();
    let first = first_run.first().unwrap().0;
    assert_eq!(
        first, 1_795_405_500,
        "the first run's minutes start at 09:15"
    );
    let gaps: Vec<i64> = first_run
        .windows(2)
        .filter(|w| w[1].0 - w[0].0 != 60)
        .map(|w| (w[0].0 - first) / 60)
        .collect();
    assert_eq!(
        first_run.len(),
        106,
        "09:15..=11:00; gaps after minutes {gaps:?}"
    );

    env.restart_gateway().await;
    let _c = watch(&env).await;
    advance_to(&env, "2026-11-23T11:03:30+05:30").await;
    let after = minutes(&env).await;
    let calls = env.sim_state().history_requests;
    let broker = broker_minutes(&env).await;

    let times: Vec<i64> = after.iter().map(|r| r.0).collect();
    let expected: Vec<i64> = (0..=108).map(|m| first + m * 60).collect();
    assert_eq!(
        times, expected,
        "every minute 09:15..=11:03 once, oldest first"
    );

    // Before the restart's first live minute (11:00) the minutes are the broker's, which are
    // what the first run built from the simulator's ticks (its first minute lacks the volume
    // traded before it saw SBIN, and its last was cut short by the restart).
    let restart_minute = first + 105 * 60;
    let backfilled: Vec<&Row> = after.iter().filter(|r| r.0 < restart_minute).collect();
    let from_broker: Vec<&Row> = broker.iter().filter(|r| r.0 < restart_minute).collect();
    assert_eq!(backfilled, from_broker);
    if kind == Broker::Kite {
        assert_eq!(
            &after[1..105],
            &first_run[1..105],
            "09:16..=10:59 as the first run had them"
        );
        let prices = |r: &Row| (r.0, r.1, r.2, r.3, r.4);
        assert_eq!(
            prices(&after[0]),
            prices(&first_run[0]),
            "09:15 as the first run had it"
        );
    } else {
        // Fyers' live candles open a minute with the last price before it (its feed sends the
        // unchanged price stamped in the new minute), so open/high/low may differ from the
        // trades' own; closes and volumes agree.
        let close_volume = |r: &[Row]| r.iter().map(|r| (r.0, r.4, r.5)).collect::<Vec<_>>();
        assert_eq!(
            close_volume(&after[1..105]),
            close_volume(&first_run[1..105])
        );
    }
    // After the restart: live minutes, equal to the broker's where complete.
    let key = |r: &Row| match kind {
        Broker::Kite => *r,
        // See above.
        Broker::Fyers => (r.0, 0.0, 0.0, 0.0, r.4, r.5),
    };
    for (live, b) in after[106..108].iter().zip(&broker[106..108]) {
        assert_eq!(
            key(live),
            key(b),
            "a complete live minute after the restart"
        );
    }
    eprintln!(
        "{}: restart at 11:00:20: {} minutes backfilled, {} historical calls",
        kind.name(),
        backfilled.len(),
        calls
    );
    assert_eq!(calls, 2, "one historical call per run for SBIN");
    spans_of_days(&env, &after).await;
}

/// `GET /api/candles?…&from=&to=` against the session `today` (the simulator has no earlier
/// days: the broker answers them empty).
async fn spans_of_days(env: &Env, today: &[Row]) {
    let get = |q: String| async move {
        let resp = env
            .get(&format!("/api/candles?symbol={SBIN}&interval=1m&{q}"))
            .await;
        assert_eq!(resp.status(), 200, "{q}");
        let h = |k: &str| {
            resp.headers()
                .get(k)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let meta = (
            h("x-candles-from"),
            h("x-candles-to"),
            h("x-candles-partial"),
        );
        let body: Value = resp.json().await.unwrap();
        let rows: Vec<Row> = body.as_array().unwrap().iter().map(api_row).collect();
        (rows, meta)
    };
    // Past the second of the test's own historical call: no 429 (a 429 is retried once anyway).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = env.sim_state().history_requests;
    // Friday to now: three days nothing local holds, asked of the broker (empty: a weekend and a
    // day before the simulator started), then today from the hub.
    let (rows, meta) = get("from=2026-11-20".into()).await;
    assert_eq!(&rows[..today.len() - 1], &today[..today.len() - 1]);
    let day = |d: &str| Some(d.to_string());
    assert_eq!(meta, (day("2026-11-20"), day("2026-11-23"), None));
    assert_eq!(env.sim_state().history_requests, calls + 3);
    // Within today, by instants.
    let (rows, _) =
        get("from=2026-11-23T09:30:00%2B05:30&to=2026-11-23T09:59:59%2B05:30".into()).await;
    assert_eq!(rows, today[15..45], "09:30..=09:59");
    // More days than a request may ask the broker for: what is known, marked partial.
    let (rows, meta) = get("from=2026-11-10&to=2026-11-23".into()).await;
    assert_eq!(rows.len(), today.len());
    assert_eq!(meta.2.as_deref(), Some("true"));
    let bad = env
        .get(&format!("/api/candles?symbol={SBIN}&from=2026-09-01"))
        .await;
    assert_eq!(bad.status(), 400, "over 31 days");
}

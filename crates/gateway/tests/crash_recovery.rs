//! What a crash can leave in the data directory never blocks start-up, against the
//! in-process simulator: leftover temp files and torn files (as a non-atomic writer killed
//! mid-write would leave them) are swept or skipped with a warning; a `kill -9` in the middle
//! of saving (a child process of this test binary saving through the gateway's own
//! persistence) leaves whole files; and the real `feedgate` binary killed while it saves at
//! shutdown starts again on the same directory.
//!
//! Gateways run in paused time (`start_paused = true`); with `DEV_MODE=false` the real calendar
//! decides: 2026-11-23 is a Monday.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::data_dir::feedgate_binary;
use common::days::subscribe;
use common::{
    Capture, EnvBuilder, WAIT, advance_to, assert_last_known, candle_text, client, csv_rows,
    live_session, next_tick, quiesce, quotes, temp_files,
};
use feedgate_gateway::model::candle::Candle;
use feedgate_gateway::model::instruments::{Instrument, InstrumentSpec, Registry};
use feedgate_gateway::model::tick::{Quote, Source, Tick};
use feedgate_gateway::store::atomic::TEMP_PREFIX;
use feedgate_gateway::store::candle_files::{CandleStore, DayCandles};
use feedgate_gateway::store::last_values::LastValues;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const SBIN: &str = "NSE:SBIN";
const SBIN_TOKEN: u32 = 779_521;

/// Monday evening, market closed.
const NIGHT: &str = "2026-11-23T21:00:00+05:30";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

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
// What a crash can leave never blocks start-up
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
        .without_bridge()
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

/// The real binary: `feedgate serve` on a data directory against a simulator, killed with
/// SIGKILL during (or right around) the shutdown save SIGTERM starts, then started again on the
/// same directory: it must start and serve each time. Needs the built binary (`FEEDGATE_BIN`,
/// set by `./scripts/test`); a bare `cargo test` without one says so and passes.
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

//! Replay (issue 17 item 2, DESIGN.md §12): a day recorded from a fast simulator (in paused
//! time), replayed through the normal gateway (in real time), reaches a `/ws/market` client as
//! it was recorded: the gateway takes every recorded tick, the client's are recorded ticks in
//! recorded order (the hub conflates what arrives faster than the client reads, by design) and
//! end on the recorded last values, at the recorded time and market phase; a torn recording
//! replays up to the tear.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::recorded::{Seen, seen_from_client};
use common::ws::WsClient;
use common::{EnvBuilder, MARKET_OPEN, client, instant, subscribe};
use feedgate_gateway::config::GatewayConfig;
use feedgate_gateway::replay::clock::Speed;
use feedgate_gateway::replay::feed::Summary;
use feedgate_gateway::runtime::replay::{Replay, ReplayDeps, ReplayPlan};
use feedgate_gateway::store::instrument_cache::InstrumentCache;
use feedgate_gateway::store::recording::reader::DamageKind;
use feedgate_gateway::store::recording::root;
use feedgate_session::MarketPhase;
use feedgate_sim::Fault;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const SYMBOLS: [&str; 5] = [
    "NSE:SBIN",
    "NSE:INFY",
    "NSE:RELIANCE",
    "NSE:TCS",
    "NSE:HDFCBANK",
];

/// Records `seconds` of a 20,000 ticks/s simulator with a full-mode client of [`SYMBOLS`]
/// connected; hands back the data directory and the recorded day.
async fn record(seconds: u64) -> (tempfile::TempDir, chrono::NaiveDate) {
    let env = EnvBuilder::new()
        .without_bridge()
        .sim(|s| s.rate = Some(20_000.0))
        .start()
        .await;
    let date = feedgate_session::ist::ist_date(env.clock.now());
    let mut c = client(&env).await;
    subscribe(&mut c, &SYMBOLS, "full").await;
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until && c.next_within(Duration::from_secs(1)).await.is_some() {}
    // Freeze the market so the last batch is recorded whole, then stop.
    env.fault(Fault::Stall { seconds: 2.5 });
    while c.next_within(Duration::from_millis(1500)).await.is_some() {}
    let dir = env.into_data_dir().await;
    // The replay runs on real time: a paused clock jumps whenever the runtime waits on the
    // loopback socket a saturated replay fills, past the gateway's 3 s liveness timeout.
    tokio::time::resume();
    (dir, date)
}

/// A replay of `date` in `recorded` at `speed`, held until the caller releases it; with its own
/// data directory, as `feedgate replay` has.
async fn replay(
    recorded: &Path,
    date: chrono::NaiveDate,
    speed: Speed,
) -> (Replay, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vars: BTreeMap<String, String> = [
        (
            "FEEDGATE_LISTEN",
            listener.local_addr().unwrap().to_string(),
        ),
        ("FEEDGATE_DATA_DIR", scratch.path().display().to_string()),
        ("FEEDGATE_INSTRUMENTS", String::new()),
        ("TICK_THROTTLE_MS", "0".into()),
        ("ZERODHA_API_KEY", "replay-test".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = GatewayConfig::from_vars(&vars).unwrap();
    let (_, instruments) = InstrumentCache::new(recorded, "kite")
        .read()
        .unwrap()
        .unwrap();
    let deps = ReplayDeps {
        plan: ReplayPlan {
            recordings: root(recorded),
            date,
            from_ns: i64::MIN,
            to_ns: i64::MAX,
            speed,
            hold: true,
        },
        config,
        instruments,
        calendar: Arc::new(feedgate_session::Calendar::builtin()),
        extra_routes: None,
    };
    (Replay::start(deps, listener).await.unwrap(), scratch)
}

async fn replay_client(r: &Replay) -> WsClient {
    let url = format!("ws://{}/ws/market", r.gateway.local_addr());
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = WsClient { ws };
    let first = c.next_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["type"], "connection_status", "{first}");
    subscribe(&mut c, &SYMBOLS, "full").await;
    c
}

/// How many ticks the replay's gateway has taken from its upstream.
async fn ticks_in(r: &Replay) -> u64 {
    let url = format!("http://{}/api/websocket/status", r.gateway.local_addr());
    let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    v["upstream"]["ticks_in"].as_u64().unwrap()
}

/// Releases the replay and collects the client's live ticks per token until the replay ended,
/// the gateway took every tick sent, and the client has been quiet for a while.
async fn receive_all(r: &Replay, c: &mut WsClient) -> (BTreeMap<u64, Vec<Seen>>, Summary) {
    r.release();
    let mut got: BTreeMap<u64, Vec<Seen>> = BTreeMap::new();
    let mut summary = None;
    let mut quiet = 0;
    loop {
        tokio::select! {
            s = r.ticker.finished(), if summary.is_none() => summary = Some(s),
            m = c.next_within(Duration::from_secs(2)) => match m {
                Some(m) if m["type"] == "ticker" && m["data"]["src"] == "ws" => {
                    let s = seen_from_client(&m["data"]);
                    got.entry(s.0).or_default().push(s);
                }
                Some(_) => {}
                None if summary.as_ref().is_some_and(|s| s.ticks > 0) => {
                    let sent = summary.as_ref().map_or(0, |s| s.ticks);
                    let taken = ticks_in(r).await;
                    assert!(taken <= sent, "{taken} ticks taken, {sent} sent");
                    quiet += 1;
                    assert!(quiet < 10, "the gateway took {taken} of {sent} ticks sent");
                    if taken == sent {
                        break;
                    }
                }
                None => {}
            },
        }
    }
    (got, summary.unwrap())
}

/// Ticks per token as decoded from the recording, all of them (no conflation).
fn every_recorded(dir: &Path, date: chrono::NaiveDate) -> BTreeMap<u64, Vec<Seen>> {
    let day =
        feedgate_gateway::store::recording::reader::DayRecording::open(&root(dir), date).unwrap();
    let mut decoder = feedgate_gateway::brokers::recorded::RecordedDecoder::new();
    let (mut out, mut ticks): (BTreeMap<u64, Vec<Seen>>, _) = (BTreeMap::new(), Vec::new());
    for rf in day.frames(i64::MIN, i64::MAX) {
        decoder.decode(&rf, &mut ticks).unwrap();
        for t in ticks.drain(..) {
            let s = common::recorded::seen_from_tick(&t);
            out.entry(s.0).or_default().push(s);
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn at_speed_one_a_client_receives_exactly_the_recorded_ticks_at_the_recorded_time() {
    let (dir, date) = record(3).await;
    let all = every_recorded(dir.path(), date);
    let raw: usize = all.values().map(Vec::len).sum();
    assert!(raw > 900, "a fast feed was recorded: {raw} ticks");
    let (r, _scratch) = replay(dir.path(), date, Speed::Times(1.0)).await;
    let mut c = replay_client(&r).await;
    let started = std::time::Instant::now();
    let (got, summary) = receive_all(&r, &mut c).await;
    assert_eq!(summary.ticks, raw as u64, "{summary:?}");
    assert!(summary.damage.is_empty(), "{summary:?}");
    assert_recorded(&got, &all);
    // As long as it was recorded (the 2.5 s stall included), not faster.
    let span = summary.last_ns - r.origin_ns;
    assert!(
        started.elapsed().as_nanos() as i64 >= span,
        "{span} ns recorded"
    );
    // The gateway's clock is the recorded one: its market phase is that of the recorded
    // morning (no DEV_MODE here), and as much recorded time passed as real time did.
    assert_eq!(r.gateway.market.borrow().phase, MarketPhase::Live);
    let origin = chrono::DateTime::from_timestamp_nanos(r.origin_ns);
    assert!(
        (origin - instant(MARKET_OPEN)).num_seconds().abs() < 10,
        "{origin}"
    );
    r.shutdown(Duration::from_secs(5)).await;
}

/// Every token ticked; each one's ticks are recorded ones in recorded order, ending on the last
/// recorded value.
fn assert_recorded(got: &BTreeMap<u64, Vec<Seen>>, all: &BTreeMap<u64, Vec<Seen>>) {
    assert_eq!(got.len(), SYMBOLS.len(), "every symbol ticked");
    for (token, have) in got {
        let want = &all[token];
        assert!(
            is_subsequence(have, want),
            "token {token}: recorded ticks, in order"
        );
        assert_eq!(
            have.last(),
            want.last(),
            "token {token}: ends on the recorded value"
        );
    }
}

/// `have` is `want` with some elements left out (the hub's conflation at full speed).
fn is_subsequence(have: &[Seen], want: &[Seen]) -> bool {
    let mut it = want.iter();
    have.iter().all(|h| it.any(|w| w == h))
}

#[tokio::test(start_paused = true)]
async fn at_max_speed_every_tick_is_a_recorded_one_in_order_ending_on_the_recorded_values() {
    let (dir, date) = record(3).await;
    let all = every_recorded(dir.path(), date);
    let raw: usize = all.values().map(Vec::len).sum();
    let (r, _scratch) = replay(dir.path(), date, Speed::Max).await;
    let mut c = replay_client(&r).await;
    let (got, summary) = receive_all(&r, &mut c).await;
    assert_eq!(summary.ticks, raw as u64, "{summary:?}");
    assert_recorded(&got, &all);
    // The clock stepped with the frames: it stands at the last one's receive time.
    assert_eq!(r.clock.now_ns(), summary.last_ns);
    // After the range the recorded market is still open but sends nothing more: that is the
    // recording's end, not a failing broker, so no REST bridge starts (it would after 1 s).
    let health = format!("http://{}/api/system/health", r.gateway.local_addr());
    let quiet_until = std::time::Instant::now() + Duration::from_millis(2500);
    while std::time::Instant::now() < quiet_until {
        let h: serde_json::Value = reqwest::get(&health).await.unwrap().json().await.unwrap();
        assert_eq!(h["feed"]["rest_bridge"], false, "{h}");
        assert_eq!(h["feed"]["reconnect_attempts"], 0, "{h}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "replay at max speed: {} ticks in {:?}, {:.0} ticks/s",
        summary.ticks,
        summary.wall,
        summary.ticks_per_second()
    );
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_torn_recording_replays_up_to_the_tear_and_says_so() {
    let (dir, date) = record(3).await;
    let whole: usize = every_recorded(dir.path(), date)
        .values()
        .map(Vec::len)
        .sum();
    // Tear the last block in half, as a kill in the middle of its write would.
    let day_dir = root(dir.path()).join(date.format("%Y-%m-%d").to_string());
    let segment = day_dir.join("seg-000001.fgr");
    let bytes = std::fs::read(&segment).unwrap();
    let index = std::fs::read(segment.with_extension("idx")).unwrap();
    let last = index.len() / 32 - 1;
    let offset = u64::from_le_bytes(index[last * 32..last * 32 + 8].try_into().unwrap()) as usize;
    std::fs::write(&segment, &bytes[..offset + (bytes.len() - offset) / 2]).unwrap();
    let before_tear = every_recorded(dir.path(), date);
    let torn: usize = before_tear.values().map(Vec::len).sum();
    assert!(torn > 0 && torn < whole, "{torn} of {whole}");

    let (r, _scratch) = replay(dir.path(), date, Speed::Max).await;
    let mut c = replay_client(&r).await;
    let (got, summary) = receive_all(&r, &mut c).await;
    assert_eq!(summary.ticks, torn as u64, "{summary:?}");
    assert!(
        matches!(summary.damage.as_slice(), [d] if matches!(d.problem, DamageKind::TornTail(_))),
        "{summary:?}"
    );
    for (token, have) in &got {
        assert_eq!(have.last(), before_tear[token].last(), "token {token}");
    }
    r.shutdown(Duration::from_secs(5)).await;
}

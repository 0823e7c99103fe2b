//! The soak: whole trading days in paused time against the in-process simulator, with the
//! injected clock, as a user lives them. Each day the previous token expires at 06:00 IST; the
//! 08:50 check must report that a login is needed; a scripted user logs in through the login
//! page at a random minute (some days after the open); the live session suffers a broker fault
//! every few minutes (drop, stall, WebSocket-only refusal, malformed frame, heartbeat flood,
//! token expiry followed by a re-login, a spell of HTTP 429s); the close writes the day's candle
//! file. Weekends and holidays come as the calendar has them.
//!
//! Measured per day, as the client sees it: stuck time (a subscribed instrument without a tick
//! for over a minute while the market expects data and a usable token exists: must be 0), the
//! stale share of live time (no tick for over 2 s under the same conditions), the REST calls
//! and 429s (none beyond the injected ones), and WebSocket attempts with a rejected token (at
//! most one per expiry). `FEEDGATE_SOAK_DAYS` (default 1: one trading day with about forty
//! faults, the CI run) and `FEEDGATE_SOAK_SEED` choose the run; `FEEDGATE_SOAK_DAYS=N cargo
//! test --release -p feedgate-gateway --test soak -- --nocapture` is the longer soak the README
//! reports. (A day costs about a minute of CPU in a debug build and most of it is the
//! simulator's market: 100 days in CI time needs a cheaper simulated night and market.)

mod common;

use chrono::{
    DateTime, Datelike, Duration as Days, FixedOffset, NaiveDate, TimeZone, Utc, Weekday,
};
use common::login::{LoginChecks, login};
use common::{EnvBuilder, WsClient, client, days};
use feedgate_sim::Fault;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

const SYMBOLS: [&str; 10] = [
    "NSE:SBIN",
    "NSE:INFY",
    "NSE:RELIANCE",
    "NSE:TCS",
    "NSE:HDFCBANK",
    "NSE:ICICIBANK",
    "NSE:ITC",
    "NSE:LT",
    "NSE:AXISBANK",
    "NSE:KOTAKBANK",
];

/// No tick for this long while one is due: stale (the definition).
const STALE_AFTER: Duration = Duration::from_secs(2);
/// No tick for this long while one is due: stuck (nothing is going to bring data back).
const STUCK_AFTER: Duration = Duration::from_secs(60);

/// A seeded random source for the day's script (xorshift: reproducible, no dependency).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A whole number in `[lo, hi)`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    /// A real number in `[lo, hi)`.
    fn real(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 1800).expect("IST")
}

fn at(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    ist()
        .from_local_datetime(&day.and_hms_opt(hh, mm, 0).expect("time"))
        .single()
        .expect("IST has no gaps")
        .to_utc()
}

/// What one day produced.
#[derive(Debug, Default, Clone)]
struct DayReport {
    trading: bool,
    live_s: f64,
    stale_s: f64,
    stuck_s: f64,
    faults: HashMap<&'static str, u32>,
    login_required_at_check: bool,
    candle_file: bool,
}

/// The client's view: when each symbol last ticked.
struct Watch {
    client: WsClient,
    last: HashMap<String, Instant>,
}

impl Watch {
    /// Reads what arrived by now without waiting.
    async fn drain(&mut self) {
        while let Some(v) = self.client.next_within(Duration::ZERO).await {
            self.note(&v);
        }
    }

    fn note(&mut self, v: &Value) {
        assert_ne!(v["type"], "close", "the gateway closed the client: {v}");
        if v["type"] == "ticker"
            && v["data"]["src"] != "cache"
            && let Some(s) = v["data"]["symbol"].as_str()
        {
            self.last.insert(s.to_string(), Instant::now());
        }
    }

    /// The longest any symbol has gone without a tick.
    fn worst_silence(&self) -> Duration {
        SYMBOLS
            .iter()
            .map(|s| self.last.get(*s).map_or(Duration::MAX, |t| t.elapsed()))
            .max()
            .unwrap_or_default()
    }

    /// Forgets the silence before now (the market opens, a login arrives).
    fn restart(&mut self) {
        for s in SYMBOLS {
            self.last.insert(s.to_string(), Instant::now());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn soak() {
    let days: u32 = std::env::var("FEEDGATE_SOAK_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seed: u64 = std::env::var("FEEDGATE_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut rng = Dice(seed | 1);
    let first = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at_utc(at(first, 5, 30))
        .start()
        .await;
    let mut c = client(&env).await;
    days::subscribe(&mut c, &SYMBOLS, Some("1m")).await;
    let mut watch = Watch {
        client: c,
        last: HashMap::new(),
    };
    let wall = std::time::Instant::now();
    let mut reports = Vec::new();
    for d in 0..days {
        let day = first + Days::days(i64::from(d));
        let r = run_day(&env, &mut watch, day, &mut rng).await;
        eprintln!("{day} {r:?}");
        reports.push(r);
    }
    summarise(&env, &reports, wall.elapsed());
    env.shutdown().await;
}

fn summarise(env: &common::Env, reports: &[DayReport], wall: std::time::Duration) {
    let live: f64 = reports.iter().map(|r| r.live_s).sum();
    let stale: f64 = reports.iter().map(|r| r.stale_s).sum();
    let stuck: f64 = reports.iter().map(|r| r.stuck_s).sum();
    let s = env.sim_state();
    eprintln!(
        "soak: {} days ({} trading) in {:.1} s: live {:.0} s, stale {:.2} % ({stale:.0} s), stuck {stuck:.0} s, REST quote calls {}, rate-limited {}",
        reports.len(),
        reports.iter().filter(|r| r.trading).count(),
        wall.as_secs_f64(),
        live,
        100.0 * stale / live.max(1.0),
        s.quote_requests,
        s.quote_rate_limited,
    );
    assert_eq!(
        s.quote_rate_limited, 0,
        "never over the broker's rate limit"
    );
    // Each expiry (the morning's and every injected one) may cost one refused WebSocket
    // attempt, which classifies it; never a storm.
    let expiries: u32 = reports
        .iter()
        .map(|r| u32::from(r.trading) + r.faults.get("expire_token").copied().unwrap_or(0))
        .sum();
    eprintln!(
        "soak: {} WebSocket attempts refused for a rejected token over {expiries} expiries",
        s.upgrades.refused.bad_token
    );
    assert!(s.upgrades.refused.bad_token <= u64::from(expiries));
    assert_eq!(stuck, 0.0, "no stuck states");
    assert!(
        stale / live.max(1.0) <= 0.001,
        "stale share {:.3} %",
        100.0 * stale / live.max(1.0)
    );
    for r in reports.iter().filter(|r| r.trading) {
        assert!(
            r.login_required_at_check,
            "the 08:50 check reports the expired token"
        );
        assert!(r.candle_file, "the close writes the day's candle file");
    }
}

async fn run_day(
    env: &common::Env,
    watch: &mut Watch,
    day: NaiveDate,
    rng: &mut Dice,
) -> DayReport {
    let mut r = DayReport::default();
    advance_to(env, watch, at(day, 6, 0)).await;
    env.fault(Fault::ExpireToken);
    advance_to(env, watch, at(day, 8, 52)).await;
    let h = env.health().await;
    r.trading =
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && h["market"]["holiday"].is_null();
    if !r.trading {
        return r;
    }
    r.login_required_at_check = h["priority_status"] == "AUTH_REQUIRED";
    let login_at = at(day, 8, 53) + Days::minutes(rng.int(0, 50));
    advance_to(env, watch, login_at).await;
    login(env, LoginChecks::Flow).await;
    live_session(env, watch, day, rng, &mut r).await;
    advance_to(env, watch, at(day, 16, 10)).await;
    r.candle_file = written(
        &env.data_dir
            .path()
            .join("candles")
            .join(format!("{day}.csv")),
    );

    r
}

/// The live session, sampled every second, with a fault every few minutes.
async fn live_session(
    env: &common::Env,
    watch: &mut Watch,
    day: NaiveDate,
    rng: &mut Dice,
    r: &mut DayReport,
) {
    let open = at(day, 9, 15);
    let close = at(day, 15, 30);
    if env.clock.now() < open {
        advance_to(env, watch, open).await;
    }
    watch.drain().await;
    watch.restart();
    let mut next_fault = env.clock.now() + Days::seconds(rng.int(120, 900));
    let mut relogin: Option<DateTime<Utc>> = None;
    while env.clock.now() < close {
        tokio::time::sleep(Duration::from_secs(1)).await;
        watch.drain().await;
        let now = env.clock.now();
        if relogin.is_some_and(|t| now >= t) {
            relogin = None;
            login(env, LoginChecks::Flow).await;
            watch.restart();
        }
        if relogin.is_none() {
            r.live_s += 1.0;
            let silence = watch.worst_silence();
            if silence > STALE_AFTER {
                r.stale_s += 1.0;
            }
            if silence > STUCK_AFTER {
                if r.stuck_s == 0.0 {
                    // Say what the gateway thought, once per day.
                    eprintln!(
                        "{day} stuck at {}: health {} shards {:?}",
                        env.clock.now(),
                        env.health().await,
                        *env.gw().upstream.shards.borrow()
                    );
                }
                r.stuck_s += 1.0;
            }
        }
        if now >= next_fault {
            let kind = inject(env, rng);
            *r.faults.entry(kind).or_default() += 1;
            if kind == "expire_token" {
                relogin = Some(now + Days::seconds(rng.int(30, 300)));
            }
            next_fault = now + Days::seconds(rng.int(120, 900));
        }
    }
}

/// One fault drawn at random; returns its kind.
fn inject(env: &common::Env, rng: &mut Dice) -> &'static str {
    let (kind, fault) = match rng.int(0, 7) {
        0 => ("drop", Fault::Drop),
        1 => (
            "stall",
            Fault::Stall {
                seconds: rng.real(2.0, 8.0),
            },
        ),
        2 => (
            "reject_ws",
            Fault::RejectWs {
                seconds: rng.real(10.0, 60.0),
            },
        ),
        3 => ("malformed", Fault::Malformed),
        4 => (
            "heartbeat_flood",
            Fault::HeartbeatFlood {
                seconds: rng.real(5.0, 30.0),
            },
        ),
        5 => (
            "rest_429",
            Fault::Rest429 {
                seconds: rng.real(2.0, 10.0),
            },
        ),
        _ => ("expire_token", Fault::ExpireToken),
    };
    env.fault(fault);
    kind
}

/// Whether `path` exists once the gateway's file writes (on the blocking pool, in real time
/// while the test's time is paused) have had a moment.
fn written(path: &std::path::Path) -> bool {
    for _ in 0..300 {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Lets the clock reach `t`, reading the client every minute as a live dashboard would (a
/// client that stops reading is disconnected by the gateway, rightly).
async fn advance_to(env: &common::Env, watch: &mut Watch, t: DateTime<Utc>) {
    loop {
        let left = (t - env.clock.now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
        watch.drain().await;
    }
}

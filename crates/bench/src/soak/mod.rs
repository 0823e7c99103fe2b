//! The soak (issue 13): whole trading days in paused time against the in-process simulator and
//! gateway, with the injected clock, as a user lives them ([`day`]): the token expires every
//! morning, the 08:50 check must say so, a scripted user logs in, the live session suffers a
//! broker fault every few minutes (drop, stall, WebSocket-only refusal, malformed frame,
//! heartbeat flood, token expiry and re-login, a spell of HTTP 429s), the close writes the
//! day's candle file; weekends and holidays come as the calendar has them.
//!
//! Measured as the client sees it ([`report`]): stuck time (a subscribed symbol without a tick
//! for over a minute while one is due: must be 0), the stale share of live time (over 2 s),
//! each fault's time to data, REST calls and 429s, WebSocket attempts with a rejected token.
//! `feedgate-bench soak --days N --seed S` prints the report; the test suite runs one day.
//!
//! Paused time is what makes a day cost seconds: the run must be on a current-thread runtime
//! started paused ([`run_paused`] builds one), where tokio jumps to the next timer whenever
//! every task waits.

mod client;
mod day;
mod env;
pub mod report;
pub mod script;

use anyhow::Context;
use chrono::{Duration as Span, NaiveDate};
use client::Watch;
use env::SoakEnv;
use report::SoakReport;
use script::{Dice, at};

/// The client's symbols.
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

/// One soak run.
#[derive(Debug, Clone)]
pub struct SoakSpec {
    /// Calendar days, weekends and holidays included.
    pub days: u32,
    pub seed: u64,
    pub first_day: NaiveDate,
}

impl SoakSpec {
    /// `days` from Monday 2026-11-23 (a holiday, Guru Nanak Jayanti, falls on the 24th).
    pub fn new(days: u32, seed: u64) -> Self {
        Self {
            days,
            seed,
            first_day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default(),
        }
    }
}

/// Runs the soak on the current runtime, which must be a paused current-thread one (a
/// `#[tokio::test(start_paused = true)]`, or [`run_paused`]); `each_day` sees the report so far
/// after every day (its last day is the one just run), so a long run can be read before it ends.
pub async fn run(
    spec: &SoakSpec,
    mut each_day: impl FnMut(&SoakReport),
) -> anyhow::Result<SoakReport> {
    let wall = std::time::Instant::now();
    let mut dice = Dice::new(spec.seed);
    let env = SoakEnv::start(at(spec.first_day, 5, 30)).await?;
    let mut watch = Watch::subscribe(env.gateway_addr(), &SYMBOLS).await?;
    let mut report = SoakReport {
        seed: spec.seed,
        days: Vec::new(),
        faults: Vec::new(),
        quote_requests: 0,
        rate_limited: 0,
        refused_bad_token: 0,
        wall: wall.elapsed(),
    };
    for d in 0..spec.days {
        let day = spec.first_day + Span::days(i64::from(d));
        let r = day::run_day(&env, &mut watch, day, &mut dice, &mut report.faults)
            .await
            .with_context(|| format!("soak day {day}"))?;
        report.days.push(r);
        let sim = env.sim_state();
        report.quote_requests = sim.quote_requests;
        report.rate_limited = sim.quote_rate_limited;
        report.refused_bad_token = sim.upgrades.refused.bad_token;
        report.wall = wall.elapsed();
        each_day(&report);
    }
    env.shutdown().await;
    Ok(report)
}

/// Runs the soak on a paused current-thread runtime of its own.
pub fn run_paused(
    spec: &SoakSpec,
    each_day: impl FnMut(&SoakReport),
) -> anyhow::Result<SoakReport> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .context("tokio runtime")?;
    rt.block_on(run(spec, each_day))
}

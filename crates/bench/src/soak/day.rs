//! One simulated day as a user lives it: the previous token expires at 06:00 IST; the 08:50
//! check must report that a login is needed; the user logs in at a random minute (some days
//! after the open); the live session, sampled every second, suffers a fault every 2–15 minutes
//! (an `expire_token` is followed by a re-login 30 s–5 min later); the close must write the
//! day's candle file. Weekends and holidays only expire the token.

use super::client::Watch;
use super::env::SoakEnv;
use super::report::{DayReport, FaultRecord};
use super::script::{Dice, at};
use anyhow::Context;
use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, Utc, Weekday};
use feedgate_sim::Fault;
use std::time::Duration;
use tokio::time::Instant;

/// No tick for this long while one is due: stale (the definition).
pub const STALE_AFTER: Duration = Duration::from_secs(2);
/// No tick for this long while one is due: stuck (nothing is going to bring data back).
pub const STUCK_AFTER: Duration = Duration::from_secs(60);
/// No fault is injected this close to the close, so that each one's recovery is measured
/// before it (an expiry's re-login comes up to 5 minutes later).
const QUIET_BEFORE_CLOSE: Span = Span::minutes(7);

/// Runs `day`; its faults are appended to `faults`.
pub async fn run_day(
    env: &SoakEnv,
    watch: &mut Watch,
    day: NaiveDate,
    dice: &mut Dice,
    faults: &mut Vec<FaultRecord>,
) -> anyhow::Result<DayReport> {
    let mut r = DayReport {
        day,
        ..DayReport::default()
    };
    advance_to(env, watch, at(day, 6, 0)).await?;
    env.fault(Fault::ExpireToken)?;
    advance_to(env, watch, at(day, 8, 52)).await?;
    let h = env.health().await?;
    r.trading =
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && h["market"]["holiday"].is_null();
    if !r.trading {
        return Ok(r);
    }
    r.login_required_at_check = h["priority_status"] == "AUTH_REQUIRED";
    let login_at = at(day, 8, 53) + Span::minutes(dice.int(0, 50));
    advance_to(env, watch, login_at).await?;
    env.login().await.context("the morning login")?;
    live_session(env, watch, day, dice, &mut r, faults).await?;
    advance_to(env, watch, at(day, 16, 10)).await?;
    r.candle_file = written(&env.candle_file(day));
    Ok(r)
}

/// The live session, sampled every second.
async fn live_session(
    env: &SoakEnv,
    watch: &mut Watch,
    day: NaiveDate,
    dice: &mut Dice,
    r: &mut DayReport,
    faults: &mut Vec<FaultRecord>,
) -> anyhow::Result<()> {
    let (open, close) = (at(day, 9, 15), at(day, 15, 30));
    if env.clock.now() < open {
        advance_to(env, watch, open).await?;
    }
    watch.restart();
    let mut next_fault = env.clock.now() + Span::seconds(dice.int(120, 900));
    // The pending re-login, and the faults whose time to data counts from it: the expiry it
    // answers and any fault injected meanwhile (until the login the broker refuses
    // everything and nothing can be delivered).
    let mut relogin: Option<DateTime<Utc>> = None;
    let mut after_login: Vec<usize> = Vec::new();
    while env.clock.now() < close {
        watch
            .read_until(Instant::now() + Duration::from_secs(1))
            .await?;
        let now = env.clock.now();
        if relogin.is_some_and(|when| now >= when) {
            relogin = None;
            env.login().await.context("the re-login")?;
            for id in after_login.drain(..) {
                watch.measure_from_now(id);
            }
            watch.restart();
        }
        if relogin.is_none() {
            sample(env, watch, r).await;
        }
        for (id, took) in watch.recovered() {
            if let Some(f) = faults.get_mut(id) {
                f.time_to_data = Some(took.as_secs_f64());
            }
        }
        if now >= next_fault && close - now > QUIET_BEFORE_CLOSE {
            let (kind, fault) = dice.fault();
            env.fault(fault)?;
            *r.faults.entry(kind).or_default() += 1;
            let id = faults.len();
            faults.push(FaultRecord {
                kind,
                at: now,
                time_to_data: None,
            });
            if kind == "expire_token" {
                relogin = Some(now + Span::seconds(dice.int(30, 300)));
            }
            if relogin.is_some() {
                after_login.push(id);
            } else {
                watch.measure_from_now(id);
            }
            next_fault = now + Span::seconds(dice.int(120, 900));
        }
    }
    Ok(())
}

/// One second of live time: stale if a symbol has gone [`STALE_AFTER`] without a fresh tick,
/// stuck after [`STUCK_AFTER`] (noted once a day with what the gateway thought).
async fn sample(env: &SoakEnv, watch: &Watch, r: &mut DayReport) {
    r.live_s += 1.0;
    let silence = watch.worst_silence();
    if silence > STALE_AFTER {
        r.stale_s += 1.0;
    }
    if silence > STUCK_AFTER {
        if r.stuck_note.is_none() {
            let health = env
                .health()
                .await
                .map_or_else(|e| e.to_string(), |h| h.to_string());
            r.stuck_note = Some(format!(
                "stuck at {}: health {health} shards {}",
                env.clock.now(),
                env.shards()
            ));
        }
        r.stuck_s += 1.0;
    }
}

/// Whether `path` exists once the gateway's file writes (on the blocking pool, in real time
/// while tokio's time is paused) have had a moment.
fn written(path: &std::path::Path) -> bool {
    for _ in 0..300 {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Lets the clock reach `t` while the client reads, as a live dashboard does (a client that
/// stops reading is disconnected by the gateway, rightly).
async fn advance_to(env: &SoakEnv, watch: &mut Watch, t: DateTime<Utc>) -> anyhow::Result<()> {
    let left = (t - env.clock.now()).to_std().unwrap_or_default();
    watch.read_until(Instant::now() + left).await?;
    Ok(())
}

//! `chaos` (issue 13): a real-time run of the gateway (its own process, as in every scenario)
//! against the simulator with one client subscribed to 10 symbols (quote mode, throttle 0),
//! while the harness injects a broker fault every 12–25 s from a seeded schedule
//! ([`faults`]); `expire_token` is followed by a re-login through the login pages ([`login`]).
//! What the client saw is reduced to per-fault gaps and times to data and the run's stale share
//! ([`analysis`]); the gateway's health document is polled every second and the simulator's
//! counters read at the end. Nothing is asserted about the figures: the table puts them beside
//! the targets ([`table`]).

pub mod analysis;
mod client;
pub mod faults;
use feedgate_bench::login;
pub mod table;

use crate::bed::{Bed, BedSpec};
use crate::gateway::http_get;
use analysis::{Tick, Window};
use anyhow::{Context, bail};
use client::{ClientLog, Progress};
use faults::{Draw, Kind, Schedule};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Subscribed symbols, all synthetic.
const SYMBOLS: usize = 10;
/// Ticks per second per symbol: with the simulator's 50 ms batches, every symbol in every batch,
/// so a normal interval is 50 ms and any longer one is the gateway's doing.
const TICKS_PER_SYMBOL: f64 = 20.0;
/// The first fault comes this long after every symbol ticked (normal intervals to compare with).
const FIRST_FAULT_AFTER: Duration = Duration::from_secs(3);
/// No fault starts this close to the end, so the last one has time to recover.
const QUIET_END: Duration = Duration::from_secs(4);

/// One chaos run.
#[derive(Debug, Clone)]
pub struct ChaosSpec {
    pub duration: Duration,
    pub seed: u64,
    /// Kinds to draw from (unavailable ones already left out).
    pub kinds: Vec<Kind>,
    /// Seconds between two faults.
    pub interval: RangeInclusive<f64>,
}

/// One injected fault and what the client saw around it (seconds since the run's start).
#[derive(Debug, Clone)]
pub struct FaultOutcome {
    pub kind: Kind,
    pub at: f64,
    pub seconds: Option<f64>,
    /// `expire_token`: when the re-login completed, or why it failed.
    pub login: Option<Result<f64, String>>,
    pub gap: Option<f64>,
    pub time_to_data: Option<f64>,
}

/// Everything the table shows.
#[derive(Debug, Clone)]
pub struct ChaosResult {
    pub spec: ChaosSpec,
    pub run_secs: f64,
    pub faults: Vec<FaultOutcome>,
    pub stale_share: f64,
    /// Median and longest normal interval between two ticks of a symbol.
    pub normal_median: f64,
    pub normal_max: f64,
    pub fresh_ticks: usize,
    pub by_src: BTreeMap<String, u64>,
    pub client_errors: u64,
    pub client_ended: Option<String>,
    /// Seconds of health polls per feed mode, feed state and auth state.
    pub health: BTreeMap<String, BTreeMap<String, u32>>,
    /// The simulator's counters, as `name value` notes.
    pub sim: Vec<String>,
}

/// A fault as injected, with instants.
#[derive(Debug)]
struct Injected {
    draw: Draw,
    at: Instant,
    login: Option<Result<Instant, String>>,
}

pub async fn run(spec: ChaosSpec) -> anyhow::Result<ChaosResult> {
    if spec.kinds.is_empty() {
        bail!("no fault kind to draw from");
    }
    let bed = Bed::start(BedSpec {
        universe: SYMBOLS,
        rate: Some(TICKS_PER_SYMBOL * SYMBOLS as f64),
        throttle_ms: 0,
        gateway_threads: None,
        batch: None,
        login: true,
        record: true,
    })
    .await?;
    let result = drive(&bed, &spec).await;
    bed.finish().await;
    result
}

/// The run on a started bed: client, health poller, faults; then the figures.
async fn drive(bed: &Bed, spec: &ChaosSpec) -> anyhow::Result<ChaosResult> {
    let stop = CancellationToken::new();
    let progress = Arc::new(Progress::default());
    let client = tokio::spawn(client::run(
        bed.gw.addr,
        bed.market.symbols.clone(),
        bed.ctl.log.clone(),
        progress.clone(),
        stop.clone(),
    ));
    let ready = wait_for_every_symbol(&progress, Duration::from_secs(30)).await;
    let health = tokio::spawn(poll_health(bed.gw.addr, stop.clone()));
    let t0 = Instant::now();
    let injected = match ready {
        Ok(()) => inject(bed, spec, t0).await,
        Err(e) => Err(e),
    };
    stop.cancel();
    let log = client.await.context("the client task")?;
    let health = health.await.context("the health poller")?;
    let injected = injected?;
    let run_secs = t0.elapsed().as_secs_f64();
    let sim = sim_counters(&bed.market.sim.state());
    Ok(summarize(spec, t0, run_secs, &injected, log, health, sim))
}

async fn wait_for_every_symbol(progress: &Progress, limit: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + limit;
    while progress.symbols_seen.load(Ordering::Relaxed) < SYMBOLS {
        if Instant::now() >= end {
            let seen = progress.symbols_seen.load(Ordering::Relaxed);
            bail!("only {seen} of {SYMBOLS} symbols ticked within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Injects the schedule's faults until the run's end; returns them.
async fn inject(bed: &Bed, spec: &ChaosSpec, t0: Instant) -> anyhow::Result<Vec<Injected>> {
    let end = t0 + spec.duration;
    let mut schedule = Schedule::new(spec.seed, spec.kinds.clone(), spec.interval.clone());
    let http = login::browser()?;
    let mut out = Vec::new();
    let mut next = t0 + FIRST_FAULT_AFTER;
    while next + QUIET_END <= end {
        tokio::time::sleep_until(next.into()).await;
        let Some(draw) = schedule.next() else { break };
        let fault = draw
            .kind
            .fault(draw.seconds)
            .with_context(|| format!("{} is not in this simulator", draw.kind.name()))?;
        let at = Instant::now();
        bed.market
            .sim
            .fault(fault)
            .map_err(|e| anyhow::anyhow!("injecting {}: {e}", draw.kind.name()))?;
        eprintln!(
            "chaos: {:>7.1} s  {}{}",
            (at - t0).as_secs_f64(),
            draw.kind.name(),
            draw.seconds.map_or(String::new(), |s| format!(" {s:.1} s"))
        );
        let login = match draw.relogin_after {
            Some(delay) => Some(relogin(&http, bed.gw.addr, delay).await),
            None => None,
        };
        out.push(Injected { draw, at, login });
        next += Duration::from_secs_f64(draw.next_after);
    }
    tokio::time::sleep_until(end.into()).await;
    Ok(out)
}

/// Waits `delay` seconds, logs in; the instant the login completed.
async fn relogin(
    http: &reqwest::Client,
    gateway: SocketAddr,
    delay: f64,
) -> Result<Instant, String> {
    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
    match login::login(http, gateway).await {
        Ok(()) => Ok(Instant::now()),
        Err(e) => {
            eprintln!("chaos: re-login failed: {e:#}");
            Err(format!("{e:#}"))
        }
    }
}

/// Polls `/api/system/health` every second until `stop`; counts the feed modes and states and
/// the auth states seen.
async fn poll_health(
    gateway: SocketAddr,
    stop: CancellationToken,
) -> BTreeMap<String, BTreeMap<String, u32>> {
    let mut seen: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return seen,
            _ = tick.tick() => {}
        }
        let doc = http_get(gateway, "/api/system/health").await.ok();
        let doc: Option<serde_json::Value> = doc.and_then(|d| serde_json::from_str(&d).ok());
        for (section, field, label) in [
            ("feed", "mode", "feed mode"),
            ("feed", "state", "feed state"),
            ("auth", "state", "auth state"),
        ] {
            let value = doc
                .as_ref()
                .and_then(|d| d.get(section)?.get(field)?.as_str().map(str::to_string))
                .unwrap_or_else(|| "(no answer)".into());
            *seen
                .entry(label.into())
                .or_default()
                .entry(value)
                .or_default() += 1;
        }
    }
}

/// The simulator's counters worth a note.
fn sim_counters(s: &feedgate_sim::SimState) -> Vec<String> {
    let r = &s.upgrades.refused;
    vec![
        format!("ticker upgrades accepted {}", s.upgrades.accepted),
        format!(
            "refused: bad token {}, reject_ws {}, too many connections {}",
            r.bad_token, r.reject_ws, r.too_many_connections
        ),
        format!(
            "REST quote calls {} ({} answered 429)",
            s.quote_requests, s.quote_rate_limited
        ),
        format!("heartbeats sent {}", s.heartbeats_sent),
    ]
}

/// Seconds from `t0` (negative before it).
fn secs(t0: Instant, t: Instant) -> f64 {
    match t.checked_duration_since(t0) {
        Some(d) => d.as_secs_f64(),
        None => -(t0 - t).as_secs_f64(),
    }
}

/// The per-symbol ticks in seconds since `t0`.
fn per_symbol(t0: Instant, log: &ClientLog) -> Vec<Vec<Tick>> {
    let mut symbols = vec![Vec::new(); SYMBOLS];
    for r in &log.ticks {
        if let Some(v) = symbols.get_mut(r.symbol) {
            v.push(Tick {
                at: secs(t0, r.at),
                sent: r.sent.map(|s| secs(t0, s)),
            });
        }
    }
    symbols
}

/// A fault's window (see [`analysis`]).
fn window(t0: Instant, f: &Injected) -> Window {
    let start = secs(t0, f.at);
    let login = match &f.login {
        Some(Ok(done)) => Some(secs(t0, *done)),
        _ => None,
    };
    let end = login.unwrap_or(start + f.draw.seconds.unwrap_or(0.0));
    Window {
        start,
        end,
        reference: login.unwrap_or(start),
    }
}

fn summarize(
    spec: &ChaosSpec,
    t0: Instant,
    run_secs: f64,
    injected: &[Injected],
    log: ClientLog,
    health: BTreeMap<String, BTreeMap<String, u32>>,
    sim: Vec<String>,
) -> ChaosResult {
    let symbols = per_symbol(t0, &log);
    let windows: Vec<Window> = injected.iter().map(|f| window(t0, f)).collect();
    let faults = injected
        .iter()
        .zip(&windows)
        .map(|(f, w)| {
            let time_to_data = analysis::time_to_data(&symbols, w.reference);
            FaultOutcome {
                kind: f.draw.kind,
                at: w.start,
                seconds: f.draw.seconds,
                login: f.login.clone().map(|r| r.map(|t| secs(t0, t))),
                gap: analysis::gap(
                    &symbols,
                    w.until_recovered(time_to_data, run_secs),
                    run_secs,
                ),
                time_to_data,
            }
        })
        .collect();
    let mut normal = analysis::normal_intervals(&symbols, &windows, run_secs);
    ChaosResult {
        spec: spec.clone(),
        run_secs,
        faults,
        stale_share: analysis::stale_share(&symbols, run_secs),
        normal_median: crate::decode::median(&mut normal),
        normal_max: normal.iter().copied().fold(0.0, f64::max),
        fresh_ticks: log.ticks.len(),
        by_src: log.by_src.into_iter().collect(),
        client_errors: log.errors,
        client_ended: log.ended,
        health,
        sim,
    }
}

//! The scenarios: a load run (N clients × S symbols at a tick rate, measured for a fixed
//! window), idle clients (resident memory per connection) and recovery after a fault.

use crate::bed::{Bed, BedSpec};
use crate::client::{self, DONE, MEASURE, Plan, Protocol};
use crate::gateway::{HubCounters, hub_counters};
use crate::procstat::{self, ProcSample};
use anyhow::{Context, bail};
use feedgate_sim::Fault;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `/ws/market` (JSON) or `/kite` clients.
    pub protocol: Protocol,
    pub clients: usize,
    pub symbols: usize,
    pub universe: usize,
    /// Ticks per second over the universe.
    pub rate: f64,
    pub throttle_ms: u64,
    /// Clients (the first ones) that subscribe and then never read.
    pub slow_clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub gateway_threads: Option<usize>,
    /// The simulator's batch period: 50 ms (its default: 500 ticks per frame at 10k/s) or
    /// shorter for smoother arrival.
    pub batch: Duration,
    /// Whether the gateway records (`FEEDGATE_RECORD`, on by default).
    pub record: bool,
}

impl LoadSpec {
    pub fn describe(&self) -> String {
        let kind = match self.protocol {
            Protocol::Json => "",
            Protocol::Kite => "/kite ",
        };
        let mut s = format!(
            "{} {kind}clients × {} symbols of {}, {} ticks/s in {} ms batches, throttle {} ms",
            self.clients,
            self.symbols,
            self.universe,
            self.rate,
            self.batch.as_millis(),
            self.throttle_ms
        );
        if self.slow_clients > 0 {
            s.push_str(&format!(", {} not reading", self.slow_clients));
        }
        if !self.record {
            s.push_str(", recording off");
        }
        s
    }
}

/// Figures of one load run.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadResult {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// `ticker` messages received by the (reading) clients per second.
    pub delivered_per_s: f64,
    /// Ticks the gateway's hub took in per second.
    pub hub_ticks_per_s: f64,
    /// Undelivered values the hub replaced with newer ones, per second.
    pub conflated_per_s: f64,
    pub gateway_cpu: f64,
    pub harness_cpu: f64,
    pub gateway_rss_mib: f64,
    /// Peak gateway RSS.
    pub gateway_hwm_mib: f64,
    /// Received ticks without a send record (should be 0 in the measured window).
    pub unmatched: u64,
    /// Reading clients whose connection ended during the run.
    pub clients_lost: usize,
    /// Recording: bytes on disk per million ticks decoded, and frames dropped, in the window.
    pub record_bytes_per_mtick: f64,
    pub record_dropped: f64,
}

/// The test bed a load run needs (the cluster run starts its own from the same).
pub fn bed_spec(spec: &LoadSpec) -> BedSpec {
    BedSpec {
        universe: spec.universe,
        rate: Some(spec.rate),
        throttle_ms: spec.throttle_ms,
        gateway_threads: spec.gateway_threads,
        batch: Some(spec.batch),
        login: false,
        record: spec.record,
    }
}

pub async fn load(spec: &LoadSpec) -> anyhow::Result<LoadResult> {
    let mut bed = Bed::start(bed_spec(spec)).await?;
    for i in 0..spec.clients {
        let plan = Plan {
            protocol: spec.protocol,
            symbols: bed.symbols_for(i, spec.symbols),
            tokens: bed.tokens_for(i, spec.symbols),
            throttle_ms: None,
            stop_reading: i < spec.slow_clients,
            buf_size: 64 * 1024,
        };
        bed.spawn_client(plan);
    }
    let setup = Duration::from_secs(30) + Duration::from_millis(10 * spec.clients as u64);
    if let Err(e) = bed.wait_ready(spec.clients, setup).await {
        bed.finish().await;
        return Err(e);
    }
    tokio::time::sleep(spec.warmup).await;
    let window = measure(&bed, spec.duration).await?;
    let reports = bed.finish().await;
    summarize(&window, &reports)
}

/// Counters read at both ends of the measured window.
#[derive(Debug, Clone, Copy)]
struct Window {
    secs: f64,
    gateway: [ProcSample; 2],
    harness: [ProcSample; 2],
    hub: [HubCounters; 2],
}

/// Runs the measured phase for `duration`, sampling the processes and the hub around it.
async fn measure(bed: &Bed, duration: Duration) -> anyhow::Result<Window> {
    let pid = bed.gw.pid;
    let me = std::process::id();
    let (gw0, me0) = (procstat::sample(pid)?, procstat::sample(me)?);
    let hub0 = hub_counters(bed.gw.addr).await?;
    let t0 = Instant::now();
    bed.ctl.phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(duration).await;
    bed.ctl.phase.store(DONE, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let (gw1, me1) = (procstat::sample(pid)?, procstat::sample(me)?);
    let hub1 = hub_counters(bed.gw.addr).await?;
    Ok(Window {
        secs,
        gateway: [gw0, gw1],
        harness: [me0, me1],
        hub: [hub0, hub1],
    })
}

/// The run's figures: rates over the window, latency over every reading client.
fn summarize(w: &Window, reports: &[client::Report]) -> anyhow::Result<LoadResult> {
    let [gw0, gw1] = &w.gateway;
    let [me0, me1] = &w.harness;
    let [hub0, hub1] = &w.hub;
    let mut result = LoadResult {
        hub_ticks_per_s: (hub1.ticks - hub0.ticks) / w.secs,
        conflated_per_s: (hub1.conflated - hub0.conflated) / w.secs,
        gateway_cpu: procstat::cpu_percent(gw0, gw1),
        harness_cpu: procstat::cpu_percent(me0, me1),
        gateway_rss_mib: gw1.rss_kib as f64 / 1024.0,
        gateway_hwm_mib: gw1.hwm_kib as f64 / 1024.0,
        record_bytes_per_mtick: (hub1.record_bytes - hub0.record_bytes)
            / (hub1.upstream_ticks - hub0.upstream_ticks).max(1.0)
            * 1e6,
        record_dropped: hub1.record_dropped - hub0.record_dropped,
        ..LoadResult::default()
    };
    client_figures(reports, w.secs, &mut result)?;
    Ok(result)
}

/// What the reading clients saw over a window of `secs`: latency percentiles over all of
/// them, messages delivered per second, unmatched ticks and lost connections.
pub fn client_figures(
    reports: &[client::Report],
    secs: f64,
    result: &mut LoadResult,
) -> anyhow::Result<()> {
    let mut hist = client::new_histogram();
    let mut ticks = 0;
    for r in reports.iter().filter(|r| !r.stop_reading) {
        hist.add(&r.latency_ns).context("merging histograms")?;
        ticks += r.ticks;
        result.unmatched += r.unmatched;
        if r.ended.is_some() {
            result.clients_lost += 1;
        }
    }
    if hist.is_empty() {
        bail!("no tick was received during the measured window");
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1e6;
    result.p50_ms = ms(0.5);
    result.p99_ms = ms(0.99);
    result.p999_ms = ms(0.999);
    result.max_ms = hist.max() as f64 / 1e6;
    result.delivered_per_s = ticks as f64 / secs;
    Ok(())
}

/// Resident memory per idle client.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdleResult {
    pub clients: usize,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
    pub kib_per_client: f64,
    pub gateway_cpu: f64,
}

pub async fn idle(clients: usize, protocol: Protocol) -> anyhow::Result<IdleResult> {
    let mut bed = Bed::start(BedSpec {
        universe: 10,
        rate: None,
        throttle_ms: 1000,
        gateway_threads: None,
        batch: None,
        login: false,
        record: true,
    })
    .await?;
    // Let start-up allocations (instrument dump, upstream connection) settle first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = procstat::sample(bed.gw.pid)?;
    for _ in 0..clients {
        bed.spawn_client(Plan {
            protocol,
            symbols: Vec::new(),
            tokens: Vec::new(),
            throttle_ms: None,
            stop_reading: false,
            buf_size: 1024,
        });
    }
    let setup = Duration::from_secs(30) + Duration::from_millis(5 * clients as u64);
    if let Err(e) = bed.wait_ready(clients, setup).await {
        bed.finish().await;
        return Err(e);
    }
    // Every session has sent its connection status and is parked; wait for stragglers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s0 = procstat::sample(bed.gw.pid)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = procstat::sample(bed.gw.pid)?;
    let reports = bed.finish().await;
    let lost = reports.iter().filter(|r| r.ended.is_some()).count();
    if lost > 0 {
        bail!("{lost} idle clients lost their connection");
    }
    let delta_kib = after.rss_kib.saturating_sub(before.rss_kib) as f64;
    Ok(IdleResult {
        clients,
        rss_before_mib: before.rss_kib as f64 / 1024.0,
        rss_after_mib: after.rss_kib as f64 / 1024.0,
        kib_per_client: delta_kib / clients as f64,
        gateway_cpu: procstat::cpu_percent(&s0, &after),
    })
}

/// A fault and where the recovery time is measured from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recovery {
    /// `drop`: from the fault to the first new tick at a client.
    Drop,
    /// `stall` of `seconds`: from the end of the stall to the first new tick. Below the
    /// gateway's 3 s liveness timeout the same socket resumes.
    StallEnd { seconds: f64 },
    /// `stall` of `seconds` (longer than the liveness timeout): from the start of the stall
    /// to the first new tick, i.e. detection + reconnect.
    StallStart { seconds: f64 },
}

impl Recovery {
    pub fn name(&self) -> String {
        match self {
            Self::Drop => "drop → first tick".into(),
            Self::StallEnd { seconds } => format!("end of a {seconds} s stall → first tick"),
            Self::StallStart { seconds } => format!("start of a {seconds} s stall → first tick"),
        }
    }
}

/// Recovery time in seconds. A fresh gateway per measurement: its "first reconnect after a
/// working connection is immediate" allowance is per healthy period (30 s).
pub async fn recovery(kind: Recovery) -> anyhow::Result<f64> {
    let clients = 10;
    let mut bed = Bed::start(BedSpec {
        universe: 1000,
        rate: Some(10_000.0),
        throttle_ms: 0,
        gateway_threads: None,
        batch: None,
        login: false,
        record: true,
    })
    .await?;
    for i in 0..clients {
        let plan = Plan {
            protocol: Protocol::Json,
            symbols: bed.symbols_for(i, 50),
            tokens: Vec::new(),
            throttle_ms: None,
            stop_reading: false,
            buf_size: 64 * 1024,
        };
        bed.spawn_client(plan);
    }
    if let Err(e) = bed.wait_ready(clients, Duration::from_secs(30)).await {
        bed.finish().await;
        return Err(e);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t0 = Instant::now();
    let t0_ns = bed.ctl.ns_since_base(t0);
    bed.ctl.arm(t0);
    let fault = match kind {
        Recovery::Drop => Fault::Drop,
        Recovery::StallEnd { seconds } | Recovery::StallStart { seconds } => {
            Fault::Stall { seconds }
        }
    };
    let applied = bed.market.sim.fault(fault);
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let ns = bed.ctl.first_after_mark.load(Ordering::SeqCst);
        if ns != u64::MAX {
            break Some(ns);
        }
        if Instant::now() >= deadline || applied.is_err() {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    bed.finish().await;
    applied.context("fault injection")?;
    let Some(first_ns) = first else {
        bail!("no tick within 30 s of the fault");
    };
    let since_fault = first_ns.saturating_sub(t0_ns) as f64 / 1e9;
    Ok(match kind {
        Recovery::Drop | Recovery::StallStart { .. } => since_fault,
        Recovery::StallEnd { seconds } => since_fault - seconds,
    })
}

//! `feedgate-bench cluster`: scenario (a)'s load (clients × symbols at a tick rate, throttle 0)
//! against one `all` process and against a cluster of 1 ingest + 2 edges through a local
//! `redis-server`, the clients split over the edges; run by run in alternating order so both
//! setups see the same machine. Per setup: latency from the simulator's write to the client's
//! read, messages delivered against the demand, CPU per gateway process, and for the cluster
//! Redis's CPU and its bytes per second (in and out, from `INFO stats`) per 10k ticks/s.

use super::{leads, median, node_args, spawn_node, wait_leader};
use crate::bed::{Bed, BedSpec, Market};
use crate::client::{DONE, MEASURE, Plan};
use crate::gateway::{GatewayProc, HubCounters, hub_counters};
use crate::procstat::{self, ProcSample};
use crate::redis_proc::{NetBytes, RedisProc};
use crate::scenario::{LoadResult, LoadSpec, client_figures};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The edges a cluster run spreads its clients over.
const EDGES: usize = 2;

/// The two setups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// One `all` process (no Redis).
    Single,
    /// 1 ingest + [`EDGES`] edges sharing a Redis.
    Cluster,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Self::Single => "single `all` process",
            Self::Cluster => "1 ingest + 2 edges + Redis",
        }
    }
}

/// One run of one setup.
#[derive(Debug, Clone)]
pub struct SetupRun {
    /// Latency and delivery over every client; `gateway_cpu` is the processes' sum.
    pub load: LoadResult,
    /// CPU per gateway process (% of one core), by node name.
    pub cpu: Vec<(String, f64)>,
    /// Redis's CPU (% of one core) and bytes per second in and out (cluster only).
    pub redis: Option<(f64, f64, f64)>,
    /// Ticks the broker-facing process decoded per second.
    pub upstream_per_s: f64,
}

/// Both setups, `runs` times each (alternating which goes first); the Markdown report.
pub async fn run(spec: &LoadSpec, runs: usize) -> anyhow::Result<(String, Vec<[SetupRun; 2]>)> {
    let mut pairs = Vec::new();
    for i in 0..runs.max(1) {
        let order = if i % 2 == 0 {
            [Setup::Single, Setup::Cluster]
        } else {
            [Setup::Cluster, Setup::Single]
        };
        let mut pair: [Option<SetupRun>; 2] = [None, None];
        for setup in order {
            eprintln!(
                "run {}/{}: {} — {}",
                i + 1,
                runs.max(1),
                setup.name(),
                spec.describe()
            );
            let r = run_setup(spec, setup).await?;
            eprintln!(
                "  p50 {:.2} ms, p99 {:.2} ms, {:.0} msg/s",
                r.load.p50_ms, r.load.p99_ms, r.load.delivered_per_s
            );
            pair[usize::from(setup == Setup::Cluster)] = Some(r);
        }
        if let [Some(single), Some(cluster)] = pair {
            pairs.push([single, cluster]);
        }
    }
    Ok((render(spec, &pairs), pairs))
}

/// One setup, from scratch (its own simulator, Redis and processes).
async fn run_setup(spec: &LoadSpec, setup: Setup) -> anyhow::Result<SetupRun> {
    let bs = crate::scenario::bed_spec(spec);
    let redis = match setup {
        Setup::Single => None,
        Setup::Cluster => Some(RedisProc::start().await?),
    };
    let market = Market::start(&bs, None).await?;
    let (gw, edges) = match &redis {
        None => (
            GatewayProc::spawn(&node_args(&market, &bs, None)).await?,
            Vec::new(),
        ),
        Some(r) => start_cluster(&market, &bs, &r.url()).await?,
    };
    let mut bed = Bed::assemble(market, gw, edges);
    let targets: Vec<_> = if bed.edges.is_empty() {
        vec![bed.gw.addr]
    } else {
        bed.edges.iter().map(|e| e.addr).collect()
    };
    for i in 0..spec.clients {
        let plan = Plan {
            protocol: spec.protocol,
            symbols: bed.symbols_for(i, spec.symbols),
            tokens: bed.tokens_for(i, spec.symbols),
            throttle_ms: None,
            stop_reading: false,
            buf_size: 64 * 1024,
        };
        let addr = targets[i % targets.len()];
        bed.spawn_client_at(addr, plan);
    }
    let setup_time = Duration::from_secs(30) + Duration::from_millis(10 * spec.clients as u64);
    if let Err(e) = bed.wait_ready(spec.clients, setup_time).await {
        bed.finish().await;
        return Err(e);
    }
    tokio::time::sleep(spec.warmup).await;
    let window = measure(&bed, redis.as_ref(), spec.duration).await;
    let reports = bed.finish().await;
    let (s0, s1) = window?;
    let mut result = figures(&s0, &s1, setup);
    client_figures(
        &reports,
        s1.at.duration_since(s0.at).as_secs_f64(),
        &mut result.load,
    )?;
    Ok(result)
}

/// `ingest-1` (waited for until it leads), then the edges (waited for until they know it).
async fn start_cluster(
    market: &Market,
    spec: &BedSpec,
    redis_url: &str,
) -> anyhow::Result<(GatewayProc, Vec<GatewayProc>)> {
    let ingest = spawn_node(market, spec, "ingest", "ingest-1", redis_url).await?;
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    while !leads(ingest.addr).await {
        if tokio::time::Instant::now() >= end {
            bail!("ingest-1 did not take the lead within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut edges = Vec::new();
    for i in 1..=EDGES {
        let edge = spawn_node(market, spec, "edge", &format!("edge-{i}"), redis_url).await?;
        wait_leader(edge.addr, Duration::from_secs(10), |l| l == "ingest-1").await?;
        edges.push(edge);
    }
    Ok((ingest, edges))
}

/// Counters at one end of the measured window: every gateway process (the broker-facing one
/// first), the harness, Redis.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    procs: Vec<(ProcSample, HubCounters)>,
    harness: ProcSample,
    redis: Option<(ProcSample, NetBytes)>,
}

async fn sample(bed: &Bed, redis: Option<&RedisProc>) -> anyhow::Result<Sample> {
    let at = Instant::now();
    let mut procs = Vec::new();
    for gw in std::iter::once(&bed.gw).chain(&bed.edges) {
        procs.push((procstat::sample(gw.pid)?, hub_counters(gw.addr).await?));
    }
    let redis = match redis {
        Some(r) => Some((procstat::sample(r.pid)?, r.net_bytes().await?)),
        None => None,
    };
    Ok(Sample {
        at,
        procs,
        harness: procstat::sample(std::process::id())?,
        redis,
    })
}

async fn measure(
    bed: &Bed,
    redis: Option<&RedisProc>,
    duration: Duration,
) -> anyhow::Result<(Sample, Sample)> {
    let s0 = sample(bed, redis).await.context("sampling before")?;
    bed.ctl.phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(duration).await;
    bed.ctl.phase.store(DONE, Ordering::Relaxed);
    let s1 = sample(bed, redis).await.context("sampling after")?;
    Ok((s0, s1))
}

/// The processes' figures over the window (the clients' are added after).
fn figures(s0: &Sample, s1: &Sample, setup: Setup) -> SetupRun {
    let secs = s1.at.duration_since(s0.at).as_secs_f64().max(1e-9);
    let names: Vec<String> = match setup {
        Setup::Single => vec!["all".into()],
        Setup::Cluster => std::iter::once("ingest-1".to_string())
            .chain((1..=EDGES).map(|i| format!("edge-{i}")))
            .collect(),
    };
    let mut load = LoadResult {
        harness_cpu: procstat::cpu_percent(&s0.harness, &s1.harness),
        ..LoadResult::default()
    };
    let mut cpu = Vec::new();
    let pairs = s0.procs.iter().zip(&s1.procs);
    for (k, (name, ((p0, h0), (p1, h1)))) in names.into_iter().zip(pairs).enumerate() {
        let c = procstat::cpu_percent(p0, p1);
        load.gateway_cpu += c;
        load.gateway_rss_mib += p1.rss_kib as f64 / 1024.0;
        load.gateway_hwm_mib += p1.hwm_kib as f64 / 1024.0;
        // The hubs that serve clients: the single process's, or the edges'.
        if setup == Setup::Single || k > 0 {
            load.hub_ticks_per_s += (h1.ticks - h0.ticks) / secs;
            load.conflated_per_s += (h1.conflated - h0.conflated) / secs;
        }
        cpu.push((name, c));
    }
    let upstream_per_s = match (s0.procs.first(), s1.procs.first()) {
        (Some((_, h0)), Some((_, h1))) => (h1.upstream_ticks - h0.upstream_ticks) / secs,
        _ => 0.0,
    };
    let redis = s0.redis.zip(s1.redis).map(|((p0, n0), (p1, n1))| {
        (
            procstat::cpu_percent(&p0, &p1),
            n1.input.saturating_sub(n0.input) as f64 / secs,
            n1.output.saturating_sub(n0.output) as f64 / secs,
        )
    });
    SetupRun {
        load,
        cpu,
        redis,
        upstream_per_s,
    }
}

/// Messages per second the clients ask for: each subscribed instrument ticks `rate / universe`
/// times a second.
pub fn demand(spec: &LoadSpec) -> f64 {
    (spec.clients * spec.symbols.min(spec.universe)) as f64 * spec.rate / spec.universe as f64
}

fn med(runs: &[&SetupRun], f: impl Fn(&SetupRun) -> f64) -> f64 {
    median(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
}

/// The Markdown table: one row per setup (medians over the runs), the added p99, the targets.
pub fn render(spec: &LoadSpec, pairs: &[[SetupRun; 2]]) -> String {
    let mut out = format!(
        "\n**Cluster vs single** ({}; n={} runs each, alternating order; medians):\n\n\
         | setup | p50 ms | p99 ms | p99.9 ms | added p99 ms | delivered msg/s (% of demand {:.0}) | cluster ÷ single | gateway CPU per process | Redis CPU | Redis bytes/s per 10k ticks/s (in / out) |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
        spec.describe(),
        pairs.len(),
        demand(spec)
    );
    let single: Vec<&SetupRun> = pairs.iter().map(|[s, _]| s).collect();
    let cluster: Vec<&SetupRun> = pairs.iter().map(|[_, c]| c).collect();
    let added = med(&cluster, |r| r.load.p99_ms) - med(&single, |r| r.load.p99_ms);
    let ratio =
        med(&cluster, |r| r.load.delivered_per_s) / med(&single, |r| r.load.delivered_per_s);
    for (setup, runs) in [(Setup::Single, &single), (Setup::Cluster, &cluster)] {
        let row = row(spec, setup, runs, (added, ratio));
        out.push_str(&row);
    }
    let pair_added: Vec<String> = pairs
        .iter()
        .map(|[s, c]| format!("{:+.2}", c.load.p99_ms - s.load.p99_ms))
        .collect();
    let share = med(&cluster, |r| r.load.delivered_per_s) / demand(spec);
    let lost: usize = pairs.iter().flatten().map(|r| r.load.clients_lost).sum();
    let _ = write!(
        out,
        "\nAdded p99 per run pair: {} ms. Lost client connections: {lost}.\n\
         Targets: cluster delivers ≥ 95 % of demand {} ({:.1} %; cluster ÷ single {:.3}); \
         added p99 ≤ 2 ms {} ({added:+.2} ms).\n",
        pair_added.join(", "),
        mark(share >= 0.95),
        100.0 * share,
        ratio,
        mark(added <= 2.0),
    );
    out
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

fn row(spec: &LoadSpec, setup: Setup, runs: &[&SetupRun], (added, ratio): (f64, f64)) -> String {
    let delivered = med(runs, |r| r.load.delivered_per_s);
    let cpu = runs.first().map_or_else(String::new, |first| {
        let per: Vec<String> = first
            .cpu
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let c = med(runs, |r| r.cpu.get(i).map_or(f64::NAN, |(_, c)| *c));
                format!("{name} {c:.0} %")
            })
            .collect();
        per.join(", ")
    });
    let (redis_cpu, redis_bytes) = match setup {
        Setup::Single => ("–".to_string(), "–".to_string()),
        Setup::Cluster => {
            let per10k = |r: &SetupRun| 10_000.0 / r.upstream_per_s.max(1.0);
            let inb = med(runs, |r| r.redis.map_or(f64::NAN, |x| x.1) * per10k(r));
            let outb = med(runs, |r| r.redis.map_or(f64::NAN, |x| x.2) * per10k(r));
            (
                format!("{:.0} %", med(runs, |r| r.redis.map_or(f64::NAN, |x| x.0))),
                format!("{:.2} MB / {:.2} MB", inb / 1e6, outb / 1e6),
            )
        }
    };
    let (added, ratio) = match setup {
        Setup::Single => ("–".to_string(), "–".to_string()),
        Setup::Cluster => (format!("{added:+.2}"), format!("{ratio:.3}")),
    };
    format!(
        "| {} | {:.2} | {:.2} | {:.2} | {added} | {delivered:.0} ({:.1} %) | {ratio} | {cpu} | {redis_cpu} | {redis_bytes} |\n",
        setup.name(),
        med(runs, |r| r.load.p50_ms),
        med(runs, |r| r.load.p99_ms),
        med(runs, |r| r.load.p999_ms),
        100.0 * delivered / demand(spec),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Protocol;

    fn spec() -> LoadSpec {
        LoadSpec {
            protocol: Protocol::Json,
            clients: 500,
            symbols: 50,
            universe: 1000,
            rate: 10_000.0,
            throttle_ms: 0,
            slow_clients: 0,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            gateway_threads: None,
            batch: Duration::from_millis(50),
            record: true,
        }
    }

    fn run(p99: f64, delivered: f64, redis: Option<(f64, f64, f64)>) -> SetupRun {
        SetupRun {
            load: LoadResult {
                p99_ms: p99,
                delivered_per_s: delivered,
                ..LoadResult::default()
            },
            cpu: vec![("all".into(), 10.0)],
            redis,
            upstream_per_s: 20_000.0,
        }
    }

    #[test]
    fn demand_is_clients_times_symbols_times_their_rate() {
        assert_eq!(demand(&spec()), 250_000.0);
    }

    #[test]
    fn added_p99_and_redis_bytes_per_10k_ticks() {
        let pairs = vec![
            [
                run(10.0, 250_000.0, None),
                run(13.0, 240_000.0, Some((5.0, 2e6, 4e6))),
            ],
            [
                run(11.0, 250_000.0, None),
                run(12.0, 245_000.0, Some((7.0, 2e6, 4e6))),
            ],
        ];
        let t = render(&spec(), &pairs);
        // Medians (nearest rank, lower middle): single 10, cluster 12 → +2.00, within target.
        assert!(t.contains("| +2.00 |"), "{t}");
        assert!(t.contains("added p99 ≤ 2 ms ✔"), "{t}");
        // 2 MB/s in at 20k ticks/s is 1 MB per 10k ticks/s.
        assert!(t.contains("1.00 MB / 2.00 MB"), "{t}");
        assert!(t.contains("Added p99 per run pair: +3.00, +1.00 ms"), "{t}");
        assert!(t.contains("96.0 %"), "{t}");
    }
}

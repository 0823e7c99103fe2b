//! `feedgate-bench failover`: a real-time soak of leader kills. 2 ingest + 2 edge nodes share
//! a local `redis-server` and the simulator; a few clients on each edge watch their ticks
//! ([`super::watch`]). Every 20–60 s (seeded) the harness asks an edge who leads, `kill -9`s
//! that node and restarts it a few seconds later as a standby (same name, fresh process); the
//! simulator's broker sockets are sampled every 100 ms throughout. [`super::analysis`] turns
//! the recordings into per-kill gaps, times to the new broker socket and socket counts.

use super::analysis::{ClientTrace, FailoverReport, Kill, analyse};
use super::{health, leads, spawn_node, watch};
use crate::bed::{BedSpec, Market};
use crate::gateway::GatewayProc;
use crate::redis_proc::RedisProc;
use anyhow::{Context, anyhow, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Synthetic instruments and their aggregate rate: 10 updates a second each, in the
/// simulator's 50 ms batches, so a normal silence at a client is 50 ms.
const UNIVERSE: usize = 200;
const RATE: f64 = 2_000.0;
/// Symbols per client (consecutive blocks: the clients together cover the universe).
const SYMBOLS: usize = 20;
/// No kill this close to the run's end: the last failover has time to complete.
const RECOVER_S: f64 = 10.0;
/// A restarted node comes back this many seconds after its kill.
const RESTART_AFTER: RangeInclusive<f64> = 3.0..=6.0;

const INGEST: [&str; 2] = ["ingest-1", "ingest-2"];
const EDGES: [&str; 2] = ["edge-1", "edge-2"];

/// One failover run.
#[derive(Debug, Clone)]
pub struct FailoverSpec {
    pub duration: Duration,
    pub seed: u64,
    /// Seconds between two kills.
    pub kill_every: RangeInclusive<f64>,
    pub clients_per_edge: usize,
}

/// The cluster's processes by name; a killed one is `None` until restarted.
#[derive(Debug)]
struct Nodes {
    procs: Vec<(&'static str, &'static str, Option<GatewayProc>)>,
    redis_url: String,
    spec: BedSpec,
}

impl Nodes {
    async fn start(market: &Market, spec: BedSpec, redis_url: String) -> anyhow::Result<Self> {
        let mut nodes = Self {
            procs: Vec::new(),
            redis_url,
            spec,
        };
        for (role, names) in [("ingest", INGEST), ("edge", EDGES)] {
            for name in names {
                let p = spawn_node(market, &nodes.spec, role, name, &nodes.redis_url).await?;
                nodes.procs.push((role, name, Some(p)));
            }
        }
        Ok(nodes)
    }

    fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.procs
            .iter()
            .find(|(_, n, _)| *n == name)
            .and_then(|(_, _, p)| p.as_ref().map(|p| p.addr))
    }

    async fn kill(&mut self, name: &str) {
        if let Some((_, _, p)) = self.procs.iter_mut().find(|(_, n, _)| *n == name)
            && let Some(p) = p.take()
        {
            p.kill().await;
        }
    }

    async fn restart(&mut self, market: &Market, name: &str) -> anyhow::Result<()> {
        let (url, spec) = (self.redis_url.clone(), self.spec);
        let slot = self
            .procs
            .iter_mut()
            .find(|(_, n, _)| *n == name)
            .ok_or_else(|| anyhow!("no node {name}"))?;
        slot.2 = Some(spawn_node(market, &spec, slot.0, name, &url).await?);
        Ok(())
    }

    async fn stop(self) {
        for p in self.procs.into_iter().filter_map(|(_, _, p)| p) {
            p.stop().await;
        }
    }
}

/// The run; the report is returned whatever the figures (the caller judges the targets).
pub async fn run(spec: &FailoverSpec) -> anyhow::Result<FailoverReport> {
    let redis = RedisProc::start().await?;
    let bs = BedSpec {
        universe: UNIVERSE,
        rate: Some(RATE),
        throttle_ms: 0,
        gateway_threads: None,
        batch: None,
        login: false,
        record: false,
    };
    let market = Market::start(&bs, None).await?;
    let mut nodes = Nodes::start(&market, bs, redis.url()).await?;
    let result = watched(&market, &mut nodes, spec).await;
    nodes.stop().await;
    result
}

/// Clients and the socket sampler around the kills.
async fn watched(
    market: &Market,
    nodes: &mut Nodes,
    spec: &FailoverSpec,
) -> anyhow::Result<FailoverReport> {
    let base = Instant::now();
    let stop = CancellationToken::new();
    let ready = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    let mut n = 0;
    for edge in EDGES {
        let addr = nodes.addr(edge).context("edge not running")?;
        for _ in 0..spec.clients_per_edge {
            let symbols = market.symbols_for(n, SYMBOLS);
            let (r, s) = (ready.clone(), stop.clone());
            clients.spawn(watch::client(addr, edge.into(), symbols, base, r, s));
            n += 1;
        }
    }
    let sampler = tokio::spawn(watch::sockets(market.sim.clone(), base, stop.clone()));
    let kills = match wait_ready(&ready, n).await {
        Ok(()) => kill_loop(market, nodes, spec, base).await,
        Err(e) => Err(e),
    };
    stop.cancel();
    let end = base.elapsed().as_secs_f64();
    let mut traces: Vec<ClientTrace> = Vec::new();
    while let Some(t) = clients.join_next().await {
        traces.push(t.context("a client task failed")?);
    }
    let samples = sampler.await.context("the socket sampler failed")?;
    Ok(analyse(&kills?, &traces, &samples, end))
}

async fn wait_ready(ready: &AtomicUsize, n: usize) -> anyhow::Result<()> {
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < n {
        if tokio::time::Instant::now() >= end {
            let r = ready.load(Ordering::Relaxed);
            bail!("only {r} of {n} clients got a tick within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Kills the leader every `kill_every` seconds (kill to kill) until [`RECOVER_S`] before the
/// end, restarting each killed node a few seconds later; then lets the last failover settle.
async fn kill_loop(
    market: &Market,
    nodes: &mut Nodes,
    spec: &FailoverSpec,
    base: Instant,
) -> anyhow::Result<Vec<Kill>> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let last_kill = spec.duration.as_secs_f64() - RECOVER_S;
    let mut kills: Vec<Kill> = Vec::new();
    loop {
        // Intervals run from kill to kill (the restart and the wait for the new leader fall
        // inside them).
        let wait = rng.random_range(spec.kill_every.clone());
        let restart = rng.random_range(RESTART_AFTER);
        let next = kills.last().map_or(base.elapsed().as_secs_f64(), |k| k.at) + wait;
        if next > last_kill {
            break;
        }
        let left = next - base.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(left.max(0.0))).await;
        let (leader, term) = current_leader(nodes).await?;
        let old_sockets = market
            .sim
            .state()
            .connections
            .iter()
            .map(|c| c.id)
            .collect();
        nodes.kill(&leader).await;
        let at = base.elapsed().as_secs_f64();
        eprintln!("failover: {at:.1} s: kill -9 {leader} (term {term})");
        tokio::time::sleep(Duration::from_secs_f64(restart)).await;
        nodes.restart(market, &leader).await?;
        let new_leader = new_leader(nodes, term).await;
        eprintln!(
            "failover: {:.1} s: {leader} restarted; leader now {}",
            base.elapsed().as_secs_f64(),
            new_leader.as_deref().unwrap_or("unknown")
        );
        kills.push(Kill {
            at,
            killed: leader,
            new_leader,
            old_sockets,
        });
    }
    let left = spec.duration.as_secs_f64() - base.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(left.max(0.0))).await;
    Ok(kills)
}

/// The leader an edge names (and its term), confirmed by that node's own health.
async fn current_leader(nodes: &Nodes) -> anyhow::Result<(String, u64)> {
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        for edge in EDGES {
            let Some(h) = edge_view(nodes, edge).await else {
                continue;
            };
            let (Some(name), Some(term)) = (h.0, h.1) else {
                continue;
            };
            if let Some(addr) = nodes.addr(&name)
                && leads(addr).await
            {
                return Ok((name, term));
            }
        }
        if tokio::time::Instant::now() >= end {
            bail!("no edge named a live leader within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leader and term an edge's health names.
async fn edge_view(nodes: &Nodes, edge: &str) -> Option<(Option<String>, Option<u64>)> {
    let h = health(nodes.addr(edge)?).await.ok()?;
    let c = &h["cluster"];
    Some((c["leader"].as_str().map(str::to_string), c["term"].as_u64()))
}

/// Waits (up to 15 s) until an edge names a leader of a later term than `old`.
async fn new_leader(nodes: &Nodes, old: u64) -> Option<String> {
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < end {
        for edge in EDGES {
            if let Some((Some(name), Some(term))) = edge_view(nodes, edge).await
                && term > old
            {
                return Some(name);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

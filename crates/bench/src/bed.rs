//! A test bed: the simulator (in this process, with the send log hooked in) and a gateway child
//! connected to it, plus the clients' shared [`Control`]. Every scenario run builds a fresh one,
//! so no run inherits another's state (backoff, caches, allocator high-water marks).

use crate::client::{self, Control, Plan, Report};
use crate::gateway::{ChildArgs, ClusterArgs, GatewayProc};
use crate::sendlog::SendLog;
use anyhow::{Context, bail};
use feedgate_sim::{Sim, SimConfig};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Connection attempts in flight at once: the gateway's accept backlog is finite, and a
/// dropped SYN costs a 1 s retransmit that would pollute set-up times.
const CONNECTS_IN_FLIGHT: usize = 128;

#[derive(Debug, Clone, Copy)]
pub struct BedSpec {
    /// Synthetic instruments the clients pick from (`NSE:SYN0001…`).
    pub universe: usize,
    /// Ticks per second over those instruments; `None`: the simulator's default pace.
    pub rate: Option<f64>,
    pub throttle_ms: u64,
    pub gateway_threads: Option<usize>,
    /// The simulator's batch period (with `rate`); `None`: its default 50 ms.
    pub batch: Option<Duration>,
    /// Whether logins through the simulator's login page must work: its redirect URL then
    /// points at the gateway, which is given a fixed port (picked free just before).
    pub login: bool,
    /// Whether the gateway records the broker's frames (its default).
    pub record: bool,
}

/// The simulator (in this process, its send log hooked in) and its synthetic instruments: what
/// every bed, single gateway or cluster, starts first.
#[derive(Debug)]
pub struct Market {
    pub sim: Sim,
    stop: CancellationToken,
    pub log: Arc<SendLog>,
    /// `NSE:SYN…` symbols, in order.
    pub symbols: Vec<String>,
    /// Their tokens, in the same order.
    pub tokens: Vec<u32>,
}

impl Market {
    /// Starts the simulator for `spec`; with `gw_listen`, its login page redirects there.
    pub async fn start(
        spec: &BedSpec,
        gw_listen: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Self> {
        let log = SendLog::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let stop = CancellationToken::new();
        let cfg = sim_config(spec, &log, gw_listen)?;
        let sim = Sim::start(cfg, listener, stop.clone())
            .await
            .context("simulator start")?;
        let synthetic: Vec<_> = sim
            .instruments()
            .into_iter()
            .filter(|i| i.tradingsymbol.starts_with("SYN"))
            .collect();
        if synthetic.len() != spec.universe {
            stop.cancel();
            bail!(
                "the simulator has {} synthetic instruments, expected {}",
                synthetic.len(),
                spec.universe
            );
        }
        log.track(synthetic.iter().map(|i| i.token));
        let symbols = synthetic
            .iter()
            .map(|i| format!("{}:{}", i.exchange, i.tradingsymbol))
            .collect();
        let tokens = synthetic.iter().map(|i| i.token).collect();
        Ok(Self {
            sim,
            stop,
            log,
            symbols,
            tokens,
        })
    }

    /// A gateway child's settings against this simulator (a single `all` process).
    pub fn child_args(&self, spec: &BedSpec, listen: Option<std::net::SocketAddr>) -> ChildArgs {
        let defaults = SimConfig::default();
        ChildArgs {
            sim: self.sim.base_url(),
            api_key: defaults.api_key.clone(),
            api_secret: defaults.api_secret.clone(),
            access_token: self.sim.mint_access_token(),
            throttle_ms: spec.throttle_ms,
            threads: spec.gateway_threads,
            listen,
            no_record: !spec.record,
            cluster: ClusterArgs::default(),
        }
    }

    /// `count` symbols for client `i`: consecutive blocks, wrapping, so that every instrument
    /// gets the same number of subscribers when `clients × count` is a multiple of the universe.
    pub fn symbols_for(&self, i: usize, count: usize) -> Vec<String> {
        let u = self.symbols.len();
        (0..count.min(u))
            .filter_map(|k| self.symbols.get((i * count + k) % u).cloned())
            .collect()
    }

    /// The tokens of [`Self::symbols_for`]`(i, count)`.
    pub fn tokens_for(&self, i: usize, count: usize) -> Vec<u32> {
        let u = self.tokens.len();
        (0..count.min(u))
            .filter_map(|k| self.tokens.get((i * count + k) % u).copied())
            .collect()
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Market {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The market, its gateway process(es) and the clients.
#[derive(Debug)]
pub struct Bed {
    pub market: Market,
    /// The gateway: the only process, or a cluster's ingest node.
    pub gw: GatewayProc,
    /// A cluster's edges (clients connect to them), empty for a single gateway.
    pub edges: Vec<GatewayProc>,
    pub ctl: Arc<Control>,
    clients: JoinSet<()>,
    pub reports: Arc<Mutex<Vec<Report>>>,
    gate: Arc<Semaphore>,
}

impl Bed {
    pub async fn start(spec: BedSpec) -> anyhow::Result<Self> {
        let gw_listen = if spec.login { Some(free_port()?) } else { None };
        let market = Market::start(&spec, gw_listen).await?;
        let gw = match GatewayProc::spawn(&market.child_args(&spec, gw_listen)).await {
            Ok(gw) => gw,
            Err(e) => {
                market.stop();
                return Err(e);
            }
        };
        Ok(Self::assemble(market, gw, Vec::new()))
    }

    /// A bed around gateways already started against `market`.
    pub fn assemble(market: Market, gw: GatewayProc, edges: Vec<GatewayProc>) -> Self {
        let ctl = Control::new(market.log.clone());
        Self {
            market,
            gw,
            edges,
            ctl,
            clients: JoinSet::new(),
            reports: Arc::default(),
            gate: Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT)),
        }
    }

    pub fn symbols_for(&self, i: usize, count: usize) -> Vec<String> {
        self.market.symbols_for(i, count)
    }

    pub fn tokens_for(&self, i: usize, count: usize) -> Vec<u32> {
        self.market.tokens_for(i, count)
    }

    /// A client of the gateway (of a cluster: of its ingest node).
    pub fn spawn_client(&mut self, plan: Plan) {
        let addr = self.gw.addr;
        self.spawn_client_at(addr, plan);
    }

    /// A client of the gateway at `addr` (a cluster's edge).
    pub fn spawn_client_at(&mut self, addr: std::net::SocketAddr, plan: Plan) {
        let ctl = self.ctl.clone();
        let out = self.reports.clone();
        let gate = self.gate.clone();
        self.clients.spawn(async move {
            let permit = gate.acquire_owned().await;
            client::run(addr, plan, ctl, out, permit.ok()).await;
        });
    }

    /// Waits until `n` clients are ready (first tick received, or connected for idle ones).
    pub async fn wait_ready(&self, n: usize, deadline: Duration) -> anyhow::Result<()> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let ready = self.ctl.ready.load(Ordering::Relaxed);
            if ready >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                let connected = self.ctl.connected.load(Ordering::Relaxed);
                bail!(
                    "only {ready} of {n} clients ready ({connected} connected) after {deadline:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops clients, gateway and simulator; returns the clients' reports.
    pub async fn finish(mut self) -> Vec<Report> {
        self.ctl.stop.cancel();
        while self.clients.join_next().await.is_some() {}
        for edge in self.edges.drain(..) {
            edge.stop().await;
        }
        self.gw.stop().await;
        self.market.stop();
        std::mem::take(&mut *self.reports.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The simulator's settings for `spec`: its send hook feeding `log`; with `gw_listen`, a login
/// redirect URL pointing at the gateway that will listen there.
fn sim_config(
    spec: &BedSpec,
    log: &Arc<SendLog>,
    gw_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<SimConfig> {
    let probe = feedgate_sim::universe::build_universe("2026-01-01".parse()?).len();
    let total = probe + spec.universe;
    let defaults = SimConfig::default();
    Ok(SimConfig {
        redirect_url: gw_listen.map_or(defaults.redirect_url.clone(), |a| {
            format!("http://{a}/api/auth/callback")
        }),
        extra_instruments: spec.universe,
        // The aggregate rate is spread over the whole universe; scale it so that the
        // synthetic instruments the clients use get `rate` between them.
        rate: spec.rate.map(|r| r * total as f64 / spec.universe as f64),
        send_observer: Some(log.observer()),
        batch_period: spec.batch.filter(|_| spec.rate.is_some()),
        ..defaults
    })
}

/// A loopback address with a free port: bound, then released for the gateway child to bind.
/// Another process could take it in between; on a test machine's loopback that is rare, and
/// the gateway then fails to start with a clear message.
pub fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(probe.local_addr()?)
}

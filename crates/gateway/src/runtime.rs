//! Wiring: builds every task of a running gateway from its configuration and a broker
//! implementation, serves HTTP, and shuts everything down in order.
//!
//! [`Gateway::start`] is the sequence of subsystems; each step lives with its neighbours in a
//! submodule (the channels between tasks in `links`, the control plane in `control`, the tick
//! path in `feed`, the watchlist in `watchlist`, the REST loops in `rest`, HTTP in `serve`,
//! the cluster role in `cluster`).
//! The order of the steps is the order tasks are spawned in.

mod accept;
mod cluster;
mod conn_io;
mod control;
mod feed;
mod links;
mod record;
pub mod replay;
mod rest;
mod serve;
mod slots;
mod watchlist;

use crate::auth::AuthHandle;
use crate::brokers::{BrokerApi, Wire};
use crate::config::GatewayConfig;
use crate::http::AppState;
use crate::hub::HubHandle;
use crate::hub::archive::Archive;
use crate::model::clock::SharedClock;
use crate::model::instruments::Registry;
use crate::rest::instruments::{InstrumentLoader, InstrumentsError};
use crate::store::recording::tap::FrameTap;
use crate::upstream::UpstreamHandle;
use axum::Router;
use control::Schedule;
use feedgate_session::{Calendar, MarketStatus};
use links::{Links, StatusReads};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a gateway is built from.
#[derive(Debug)]
pub struct GatewayDeps<W> {
    pub config: GatewayConfig,
    pub broker: Arc<dyn BrokerApi>,
    pub wire: W,
    pub clock: SharedClock,
    pub calendar: Arc<Calendar>,
    /// Extra routes merged into the server (the simulator's `/_sim` in demo mode).
    pub extra_routes: Option<Router>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Instruments(#[from] InstrumentsError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("cannot set up the Redis client: {0}")]
    Cluster(#[from] crate::cluster::store::StoreError),
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    pub state: AppState,
    pub hub: HubHandle,
    pub upstream: UpstreamHandle,
    pub auth: AuthHandle,
    pub market: watch::Receiver<MarketStatus>,
    pub registry: watch::Receiver<Arc<Registry>>,
    archive: Archive,
}

impl Gateway {
    /// Starts every task and serves on `listener`.
    pub async fn start<W: Wire + Clone>(
        deps: GatewayDeps<W>,
        listener: TcpListener,
    ) -> Result<Gateway, StartError> {
        let GatewayDeps {
            config,
            broker,
            wire,
            clock,
            calendar,
            extra_routes,
        } = deps;
        let addr = listener.local_addr().map_err(StartError::Serve)?;
        create_data_dir(&config.data_dir)?;
        let w = Wiring::new(config, broker, clock);
        w.start_telemetry();
        let instruments = w.start_instruments().await?;
        // Each task's senders go to it by name; `reads` is cloned into whoever reads.
        let Links {
            reads,
            monitor: monitor_out,
            auth: auth_out,
            fallback: fallback_out,
        } = Links::new();
        let (schedule, token_checks) = w.start_scheduler(calendar);
        let mut cluster = w.start_cluster()?;
        let feed_run = w.feed_run(&schedule, cluster.as_ref());
        let (record, recording) = w.start_recorder();
        let tap = w.tick_tap(cluster.as_ref());
        let hub_tap = tap.as_ref().map(cluster::Tap::for_hub);
        let mut hub = (w.start_hub(&reads, &instruments.registry, recording, hub_tap)).await;
        w.archive_candles(&mut hub.archive, cluster.as_ref());
        w.start_ticks(cluster.as_mut(), tap, &hub.handle, &instruments.updates)?;
        w.start_watchlist(&hub.handle, &instruments.updates).await;
        let feed_demand = w.feed_demand(&hub.handle, &instruments.updates, cluster.as_ref());
        let upstream =
            w.start_upstream(wire, &hub.handle, &reads, &feed_run, &feed_demand, &record);
        let shared_token = w.share_token(cluster.as_ref());
        let auth = w.start_auth(auth_out, &upstream, token_checks, shared_token);
        w.serve_forwarded_logins(cluster.as_ref(), &auth);
        let core = Core {
            hub: hub.handle,
            upstream,
            auth,
            registry: instruments.updates,
            schedule,
            feed_run,
            feed_demand,
            leader_status: cluster.as_ref().map(|_| watch::channel(None).0),
            cluster,
            reads,
            record,
        };
        w.start_monitor(monitor_out, &core);
        let gate = w.new_rate_gate();
        w.start_closed_quotes(hub.closed_quote_requests, gate.clone(), &core);
        w.start_archive(&hub.archive, &core);
        let kite_rest = w.start_kite_rest(&core, gate.clone());
        w.start_fallback(gate, fallback_out, &core);
        let history = w.history_access(&core);
        if w.config.backfill {
            w.start_backfill(&core, history.gate.clone());
        }
        let state = w.app_state(&core, hub.candles, kite_rest, history);
        w.start_http(listener, serve::router(state.clone(), extra_routes));
        tracing::info!(%addr, "feedgate gateway listening");
        Ok(Gateway {
            addr,
            shutdown: w.shutdown,
            tracker: w.tracker,
            state,
            hub: core.hub,
            upstream: core.upstream,
            auth: core.auth,
            market: core.schedule.status,
            registry: core.registry,
            archive: hub.archive,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops every task: clients get a 1001 close, the broker a normal close. Waits at most
    /// `deadline` for tasks to finish.
    pub async fn shutdown(self, deadline: Duration) {
        // Persist while the hub still runs, then stop everything.
        if tokio::time::timeout(deadline, self.archive.save_all())
            .await
            .is_err()
        {
            tracing::warn!("saving state at shutdown took too long; skipped");
        }
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                deadline_s = deadline.as_secs(),
                "some tasks did not stop before the shutdown deadline"
            );
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// The data directory, owner-only (it holds the broker token and the key hashes).
fn create_data_dir(dir: &Path) -> Result<(), StartError> {
    crate::store::atomic::create_private_dir(dir).map_err(|source| StartError::DataDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// What every start-up step uses: the configuration, the broker's REST side, the clock, and
/// the shutdown token and tracker every spawned task joins.
#[derive(Debug)]
struct Wiring {
    config: GatewayConfig,
    broker: Arc<dyn BrokerApi>,
    clock: SharedClock,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// The instrument registry loaded at start, and the channel its daily refresh publishes on.
#[derive(Debug)]
struct Instruments {
    registry: Arc<Registry>,
    updates: watch::Receiver<Arc<Registry>>,
}

/// The started core (hub, upstream, auth) and every watch the later steps read.
/// Where the leader's status, as last read, is kept.
type LeaderStatusTx = watch::Sender<Option<Arc<crate::status::shared::Received>>>;

#[derive(Debug)]
struct Core {
    hub: HubHandle,
    upstream: UpstreamHandle,
    auth: AuthHandle,
    registry: watch::Receiver<Arc<Registry>>,
    schedule: Schedule,
    /// When the broker feed runs: the schedule's `run`, gated by leadership in a cluster.
    feed_run: watch::Receiver<crate::model::demand::RunPolicy>,
    /// What the broker feed subscribes: the hub's demand, in a cluster joined with the edges'.
    feed_demand: watch::Receiver<Arc<crate::model::demand::Demand>>,
    /// The cluster this node is part of (`None` for role `all`).
    cluster: Option<crate::cluster::ClusterHandle>,
    /// In a cluster, the leader's status as last read (written by the status sharing, read by
    /// the health and the status monitor).
    leader_status: Option<LeaderStatusTx>,
    reads: StatusReads,
    /// The recorder's tap (its counters feed the health document).
    record: FrameTap,
}

impl Wiring {
    fn new(config: GatewayConfig, broker: Arc<dyn BrokerApi>, clock: SharedClock) -> Self {
        Self {
            config,
            broker,
            clock,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// Metrics: the recorder is installed before any task records; a clustered node's metrics
    /// carry its name.
    fn start_telemetry(&self) {
        let cluster = &self.config.cluster;
        let node = cluster.role.clustered().then_some(cluster.node.as_str());
        let _ = crate::status::telemetry::install(node);
        self.tracker
            .spawn(crate::status::telemetry::upkeep(self.shutdown.clone()));
    }

    /// Loads the instrument list (cache or broker) and spawns its daily refresh.
    async fn start_instruments(&self) -> Result<Instruments, StartError> {
        let loader = InstrumentLoader::new(
            self.broker.clone(),
            &self.config.data_dir,
            self.clock.clone(),
        );
        let loaded = loader.load().await?;
        let registry = Arc::new(loaded.registry);
        let (registry_tx, updates) = watch::channel(registry.clone());
        self.tracker
            .spawn(loader.refresh_daily(loaded.date, registry_tx, self.shutdown.clone()));
        Ok(Instruments { registry, updates })
    }

    /// The gateway's own login page, where status messages send users.
    fn login_url(&self) -> String {
        self.config.login_page()
    }
}

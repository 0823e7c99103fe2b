//! The upstream supervisor: splits the hub's demand across broker connections (shards),
//! starts and stops connection tasks as the demand grows and shrinks, and keeps every shard's
//! status in one `watch` so health and clients read a consistent picture.

use crate::brokers::TokenCheck;
use crate::brokers::wire::Wire;
use crate::config::FeedConfig;
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::order::OrderRelay;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::store::recording::tap::FrameTap;
use crate::upstream::conn::{self, ConnIo, ConnParams};
use crate::upstream::orders::OrderGate;
use crate::upstream::shard::assign;
use crate::upstream::slot::ShardSlot;
use crate::upstream::state::{FeedEvent, ShardStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Upstream settings.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub feed: FeedConfig,
    /// Instruments per connection (Kite: 3000).
    pub shard_cap: usize,
    /// Connections per api_key (Kite: 3).
    pub max_shards: usize,
    pub healthy_after: Duration,
    pub connect_timeout: Duration,
}

impl UpstreamConfig {
    pub fn kite(feed: FeedConfig) -> Self {
        Self {
            feed,
            shard_cap: 3000,
            max_shards: 3,
            healthy_after: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the upstream needs from the rest of the gateway.
#[derive(Debug)]
pub struct UpstreamInputs {
    pub demand: watch::Receiver<Arc<Demand>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub run: watch::Receiver<RunPolicy>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    /// Where broker order updates go, each once.
    pub orders: Arc<dyn OrderRelay>,
    pub checker: Arc<dyn TokenCheck>,
    pub clock: SharedClock,
    pub gauges: Arc<Gauges>,
    /// Where every connection records the frames it receives.
    pub record: FrameTap,
}

/// Read side of the running upstream.
#[derive(Debug, Clone)]
pub struct UpstreamHandle {
    pub shards: watch::Receiver<Vec<ShardStatus>>,
    pub events: broadcast::Sender<FeedEvent>,
}

impl UpstreamHandle {
    pub fn subscribe_events(&self) -> broadcast::Receiver<FeedEvent> {
        self.events.subscribe()
    }
}

struct Shard {
    demand: watch::Sender<Arc<Demand>>,
    cancel: CancellationToken,
}

/// Starts the supervisor (and shard 0).
pub fn spawn<W: Wire + Clone>(
    wire: W,
    cfg: UpstreamConfig,
    inputs: UpstreamInputs,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> UpstreamHandle {
    let (status_tx, status_rx) = watch::channel(Vec::<ShardStatus>::new());
    let (events, _) = broadcast::channel(256);
    let orders = Arc::new(OrderGate::new(inputs.orders.clone(), inputs.gauges.clone()));
    let sup = Supervisor {
        orders,
        wire,
        cfg,
        status: Arc::new(status_tx),
        events: events.clone(),
        shards: Vec::new(),
        prev: Vec::new(),
        overflow_logged: 0,
        tracker: tracker.clone(),
    };
    tracker.spawn(sup.run(inputs, shutdown));
    UpstreamHandle {
        shards: status_rx,
        events,
    }
}

struct Supervisor<W> {
    /// The order gate every shard shares.
    orders: Arc<OrderGate>,
    wire: W,
    cfg: UpstreamConfig,
    status: Arc<watch::Sender<Vec<ShardStatus>>>,
    events: broadcast::Sender<FeedEvent>,
    shards: Vec<Shard>,
    prev: Vec<Demand>,
    overflow_logged: usize,
    tracker: TaskTracker,
}

impl<W: Wire + Clone> Supervisor<W> {
    async fn run(mut self, mut inputs: UpstreamInputs, shutdown: CancellationToken) {
        loop {
            let demand = inputs.demand.borrow_and_update().clone();
            self.rebalance(&demand, &inputs, &shutdown);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                r = inputs.demand.changed() => if r.is_err() { break },
            }
        }
        for s in &self.shards {
            s.cancel.cancel();
        }
    }

    fn rebalance(
        &mut self,
        demand: &Demand,
        inputs: &UpstreamInputs,
        shutdown: &CancellationToken,
    ) {
        let a = assign(demand, &self.prev, self.cfg.shard_cap, self.cfg.max_shards);
        if a.overflow.len() != self.overflow_logged {
            self.overflow_logged = a.overflow.len();
            if !a.overflow.is_empty() {
                tracing::warn!(
                    over = a.overflow.len(),
                    limit = self.cfg.shard_cap * self.cfg.max_shards,
                    "more instruments wanted than the broker allows per api_key; the excess is not streamed"
                );
            }
        }
        // Stop shards that are no longer needed (never shard 0).
        while self.shards.len() > a.shards.len() {
            if let Some(s) = self.shards.pop() {
                s.cancel.cancel();
                tracing::info!(
                    shard = self.shards.len(),
                    "extra broker connection no longer needed"
                );
            }
            self.status.send_modify(|v| v.truncate(self.shards.len()));
        }
        for (i, d) in a.shards.iter().enumerate() {
            let d = Arc::new(d.clone());
            if let Some(s) = self.shards.get(i) {
                s.demand.send_if_modified(|cur| {
                    if **cur == *d {
                        false
                    } else {
                        *cur = d.clone();
                        true
                    }
                });
            } else {
                self.start_shard(i, d, inputs, shutdown);
            }
        }
        self.prev = a.shards;
    }

    fn start_shard(
        &mut self,
        index: usize,
        demand: Arc<Demand>,
        inputs: &UpstreamInputs,
        shutdown: &CancellationToken,
    ) {
        if index > 0 {
            tracing::info!(
                shard = index,
                "opening another broker connection for more instruments"
            );
        }
        let (demand_tx, demand_rx) = watch::channel(demand);
        let cancel = shutdown.child_token();
        self.status.send_modify(|v| {
            if v.len() <= index {
                v.resize(index + 1, ShardStatus::default());
            }
        });
        let io = ConnIo {
            demand: demand_rx,
            token: inputs.token.clone(),
            run: inputs.run.clone(),
            ticks: inputs.ticks.clone(),
            orders: self.orders.clone(),
            events: self.events.clone(),
            status: ShardSlot::new(self.status.clone(), index, cancel.clone()),
            checker: inputs.checker.clone(),
            clock: inputs.clock.clone(),
            gauges: inputs.gauges.clone(),
            record: inputs.record.for_shard(index),
            shutdown: cancel.clone(),
        };
        let params = ConnParams {
            shard: index,
            feed: self.cfg.feed.clone(),
            healthy_after: self.cfg.healthy_after,
            connect_timeout: self.cfg.connect_timeout,
            seed: jitter_seed(index),
        };
        self.tracker.spawn(conn::run(self.wire.clone(), params, io));
        self.shards.push(Shard {
            demand: demand_tx,
            cancel,
        });
    }
}
/// A different jitter seed per process and shard, so a fleet of gateways does not retry in
/// lock-step.
fn jitter_seed(shard: usize) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    t ^ (shard as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id())
}

//! The hub: client subscriptions, latest values and fan-out (see `docs/ARCHITECTURE.md`), the
//! order-update fan-out, and the archive task that keeps its values and candles across
//! restarts (its only file I/O).

pub mod archive;
pub mod core;
pub mod orders;
pub mod outbox;
pub mod recording;
pub mod refill;
pub mod replay;
pub mod sink;
mod task;

pub use self::core::{
    ClientId, FanoutStats, HubCore, Liveness, ResumeConfig, ResumeItem, ResumeReport, ResumeStart,
};
pub use self::orders::{OrderFanout, OrderSink};
pub use self::outbox::{Drained, Outbox, Overflow, Payload};
pub use self::sink::Sink;

pub use self::task::HubStats;

use crate::json::request::CandleRequest;
use crate::model::candle::{Candle, History};
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::instruments::Instrument;
use crate::model::live::FeedLive;
use crate::model::tick::{Mode, Tick, Token};
use crate::store::candle_files::DayCandles;
use recording::RecordingSource;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use task::{Command, HubTask};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Sees every tick batch after the hub handled it (a cluster leader's publisher). `offer` is
/// called on the hub's task: it must never wait.
pub trait TickTap: Send + Sync + std::fmt::Debug {
    fn offer(&self, batch: Vec<Tick>);
}

/// Channel sizes — both bounded (DESIGN.md §2): a full tick channel makes the upstream reader
/// wait, which is the right back-pressure; it never reaches a client.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub command_capacity: usize,
    pub tick_capacity: usize,
    /// A REST quote does not replace a WebSocket value younger than this: the REST bridge's
    /// start (`FEED_BRIDGE_AFTER_MS`), so the bridge's first quotes show at once.
    pub ws_precedence: Duration,
    /// This run's epoch and how reconnecting clients are resumed.
    pub resume: ResumeConfig,
    /// The tick recording, for resumes that reach back past the ring (`None`: recording off).
    pub recording: Option<RecordingSource>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            command_capacity: 4096,
            tick_capacity: 1024,
            ws_precedence: Duration::from_secs(1),
            resume: ResumeConfig::default(),
            recording: None,
        }
    }
}

/// The hub stopped (shutdown in progress).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the hub has stopped (feedgate is shutting down)")]
pub struct HubClosed;

/// Cloneable handle to the hub task.
#[derive(Debug, Clone)]
pub struct HubHandle {
    commands: mpsc::Sender<Command>,
    ticks: mpsc::Sender<Vec<Tick>>,
    demand: watch::Receiver<Arc<Demand>>,
    stats: Arc<HubStats>,
    next_client: Arc<AtomicU64>,
    /// Who receives broker order updates.
    orders: Arc<OrderFanout>,
    epoch: u64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hub::Command")
    }
}

/// Starts the hub task. `feed_live` tells it whether cached values are current (the feed is
/// streaming) or last-known (they are then marked stale).
pub fn spawn(
    cfg: HubConfig,
    feed_live: watch::Receiver<FeedLive>,
    clock: SharedClock,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> HubHandle {
    spawn_with_closed_quotes(cfg, feed_live, clock, shutdown, tracker, None, None)
}

/// Like [`spawn`], and sends tokens that have no value while the feed is not live to
/// `closed_quotes` (for a one-off closed-hours REST quote), and every tick batch it has
/// handled to `tap` (a cluster leader's publisher).
pub fn spawn_with_closed_quotes(
    cfg: HubConfig,
    feed_live: watch::Receiver<FeedLive>,
    clock: SharedClock,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    closed_quotes: Option<mpsc::Sender<Vec<Token>>>,
    tap: Option<Arc<dyn TickTap>>,
) -> HubHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(cfg.command_capacity);
    let (tick_tx, tick_rx) = mpsc::channel(cfg.tick_capacity);
    let (demand_tx, demand_rx) = watch::channel(Arc::new(Demand::new()));
    let stats = Arc::new(HubStats::default());
    let (refilled_tx, refilled_rx) = mpsc::unbounded_channel();
    let epoch = cfg.resume.epoch;
    let task = HubTask {
        core: HubCore::with_ws_precedence(cfg.ws_precedence).with_resume(cfg.resume),
        commands: cmd_rx,
        ticks: tick_rx,
        demand: demand_tx,
        feed_live,
        clock,
        stats: stats.clone(),
        shutdown,
        closed_quotes,
        quotes_requested: Default::default(),
        recording: cfg.recording,
        tracker: tracker.clone(),
        refilled_tx,
        refilled: refilled_rx,
        resume_replies: Default::default(),
        tap,
    };
    tracker.spawn(task.run());
    HubHandle {
        commands: cmd_tx,
        ticks: tick_tx,
        demand: demand_rx,
        stats,
        next_client: Arc::new(AtomicU64::new(1)),
        orders: Arc::default(),
        epoch,
    }
}

impl HubHandle {
    /// A fresh id for a new client connection.
    pub fn next_client_id(&self) -> ClientId {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// Where the upstream sends decoded ticks.
    pub fn tick_sender(&self) -> mpsc::Sender<Vec<Tick>> {
        self.ticks.clone()
    }

    /// The union of demand, for the upstream.
    pub fn demand(&self) -> watch::Receiver<Arc<Demand>> {
        self.demand.clone()
    }

    pub fn stats(&self) -> &Arc<HubStats> {
        &self.stats
    }

    /// The order-update fan-out: clients with the `orders` scope register here (by their
    /// client id) and the upstream relays every broker order update to it.
    pub fn orders(&self) -> &Arc<OrderFanout> {
        &self.orders
    }

    async fn send(&self, cmd: Command) -> Result<(), HubClosed> {
        self.commands.send(cmd).await.map_err(|_| HubClosed)
    }

    pub async fn subscribe(
        &self,
        client: ClientId,
        outbox: impl Into<Sink>,
        items: Vec<(Arc<Instrument>, Mode)>,
        candles: CandleRequest,
    ) -> Result<(), HubClosed> {
        self.send(Command::Subscribe {
            client,
            sink: outbox.into(),
            items,
            candles,
        })
        .await
    }

    /// Today's 1-minute candles of an instrument and its price divisor.
    pub async fn candles(&self, token: Token) -> Result<Option<(u32, Vec<Candle>)>, HubClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Candles { token, reply: tx }).await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// Every instrument's candles of the current day (for the backup at close).
    pub async fn day_candles(&self) -> Result<Vec<DayCandles>, HubClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::DayCandles { reply: tx }).await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// Merges the broker's minute history of an instrument into today's candles (live minutes
    /// win); answers how many minutes were added.
    pub async fn merge_history(&self, history: History) -> Result<usize, HubClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::MergeHistory { history, reply: tx })
            .await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// Removes subscriptions and returns once the hub has done so: from then on nothing of
    /// these instruments reaches the client's outbox (undelivered ticks are dropped), so a
    /// reply queued afterwards is the last the client hears of them.
    pub async fn unsubscribe(&self, client: ClientId, tokens: Vec<Token>) -> Result<(), HubClosed> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Unsubscribe {
            client,
            tokens,
            done,
        })
        .await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// Resubscribes a reconnecting client and queues what it missed (see `hub::core::resume`).
    pub async fn resume(
        &self,
        client: ClientId,
        outbox: Arc<Outbox>,
        items: Vec<ResumeItem>,
        epoch: u64,
    ) -> Result<ResumeReport, HubClosed> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Resume {
            client,
            outbox,
            items,
            epoch,
            reply,
        })
        .await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// This run's epoch (every `ticker` carries it).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub async fn disconnect(&self, client: ClientId) -> Result<(), HubClosed> {
        self.send(Command::Disconnect { client }).await
    }

    pub async fn set_watchlist(
        &self,
        items: Vec<(Arc<Instrument>, Mode)>,
    ) -> Result<(), HubClosed> {
        self.send(Command::Watchlist(items)).await
    }

    /// Replaces the set of instruments kept live for the Kite REST reads (they count in the
    /// upstream demand at their mode, like the watchlist).
    pub async fn keep(&self, items: Vec<(Arc<Instrument>, Mode)>) -> Result<(), HubClosed> {
        self.send(Command::Keep(items)).await
    }

    pub async fn seed(&self, items: Vec<(Arc<Instrument>, Tick)>) -> Result<(), HubClosed> {
        self.send(Command::Seed(items)).await
    }

    /// The latest tick of each token (`None` where nothing is known).
    pub async fn latest(&self, tokens: Vec<Token>) -> Result<Vec<Option<Tick>>, HubClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Latest { tokens, reply: tx }).await?;
        rx.await.map_err(|_| HubClosed)
    }

    /// Every latest value the hub holds (for persistence).
    pub async fn latest_all(&self) -> Result<Vec<(Arc<Instrument>, Tick)>, HubClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::LatestAll { reply: tx }).await?;
        rx.await.map_err(|_| HubClosed)
    }
}

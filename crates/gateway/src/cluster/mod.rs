//! Scale-out on Redis (DESIGN.md §9): the ingest nodes elect one leader with a Redis lock and
//! only the leader holds broker sockets. `lease` is the election's pure state machine, `store`
//! the lock in Redis, `elect` the task joining them, `observe` an edge's read-only view of it,
//! `gate` leadership as a run condition of the feed; `demand` (pure) and `demand_io` carry
//! each edge's demand to the leader; `token` (pure) and `token_io` share the broker token
//! through Redis, sealed by `sealed`; `login_states`, `forward` and `exchange_io` let a broker
//! login complete on any node; `board` holds the leader's status (auth, feed) in Redis for the
//! nodes that do not lead; `roster` lists the live edges; `sessions` shares the dashboard's
//! sign-ins. Role `all` (the default) starts none of this.

pub mod board;
pub mod demand;
pub mod demand_io;
pub mod elect;
pub mod exchange_io;
pub mod forward;
pub mod gate;
pub mod lease;
pub mod login_states;
pub mod observe;
pub mod overview;
pub mod roster;
pub mod sealed;
pub mod sessions;
pub mod store;
pub mod ticks;
pub mod token;
pub mod token_io;

use crate::config::{ClusterConfig, Role};
use elect::{ElectionIo, ElectionView};
use lease::LeaseTimes;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use store::{LockStore, StoreError};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a request to Redis may take: a renewal not answered within it has failed.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(1000);

/// The cluster as the rest of the gateway sees it (clustered roles only).
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    pub node: String,
    pub role: Role,
    /// The Redis URL, password redacted.
    pub redis: String,
    /// `true` while this node may hold broker sockets (never for an edge).
    pub leading: watch::Receiver<bool>,
    pub view: watch::Receiver<ElectionView>,
    /// The Redis connection the demand travels on.
    pub link: demand_io::DemandLink,
    /// Both sides of the tick relay count here.
    pub ticks: Arc<ticks::TickStats>,
    /// `true` while ticks from the leader flow into this node's hub (set when the relay
    /// starts).
    pub feeding: watch::Receiver<bool>,
    /// The edges with a live demand heartbeat, as last read from Redis.
    pub edges: watch::Receiver<Vec<String>>,
    /// The leader's status in Redis.
    pub board: board::StatusBoard,
    /// Logins across nodes and the shared token: Redis, the sealing key, the broker account.
    pub login: forward::LoginLink,
}

/// The `cluster` section of the health document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSection {
    pub node: String,
    pub role: &'static str,
    /// The leader's node name, when known.
    pub leader: Option<String>,
    /// This node leads (holds the broker sockets).
    pub is_leader: bool,
    /// What is left of the leader's lease, as of its last answer (ms).
    pub lease_ms: Option<u64>,
    /// The current term (fencing token), counted up at every acquisition.
    pub term: Option<u64>,
    /// The Redis URL, password redacted.
    pub redis: String,
    /// Redis answered this node's last request (the election's and the tick relay's).
    pub redis_ok: bool,
    /// The tick relay through Redis.
    pub ticks: ticks::TicksSection,
    /// The edges with a live demand heartbeat (read every 2 s).
    pub edges: Vec<String>,
}

impl ClusterHandle {
    /// The health section as of `now`.
    pub fn section(&self, now: Instant) -> ClusterSection {
        let v = self.view.borrow();
        let ticks = self.ticks.section();
        ClusterSection {
            node: self.node.clone(),
            role: self.role.as_str(),
            leader: v.leader.clone(),
            is_leader: v.leading,
            lease_ms: v
                .lease_until
                .map(|t| u64::try_from(t.saturating_duration_since(now).as_millis()).unwrap_or(0)),
            term: v.term,
            redis: self.redis.clone(),
            // Before the relay's first answer Redis is not known to be down.
            redis_ok: !v.redis_down && !self.ticks.relay_lost(),
            ticks,
            edges: self.edges.borrow().clone(),
        }
    }
}

/// Starts what the role needs: nothing for `all`; for an edge, a leadership that never comes;
/// for an ingest role, the election (which connects to Redis lazily and retries, so Redis
/// being down at start is no error).
pub fn start(
    config: &ClusterConfig,
    account: token::Account,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<Option<ClusterHandle>, StoreError> {
    let Some(url) = config.redis.as_ref().filter(|_| config.role.clustered()) else {
        return Ok(None);
    };
    let secret = config.secret_key.as_ref().ok_or(StoreError::NoSecretKey)?;
    let (leading_tx, leading) = watch::channel(false);
    let (view_tx, view) = watch::channel(ElectionView::default());
    tracing::info!(node = %config.node, role = config.role.as_str(), redis = %url, "cluster mode");
    let times = LeaseTimes::default();
    let conn = store::connect(url, ANSWER_WITHIN)?;
    let (edges_tx, edges) = watch::channel(Vec::new());
    let handle = ClusterHandle {
        node: config.node.clone(),
        role: config.role,
        redis: url.redacted().to_string(),
        leading,
        view,
        link: demand_io::DemandLink {
            conn: conn.clone(),
            redis: url.redacted().to_string(),
            answer_within: ANSWER_WITHIN,
        },
        ticks: Arc::default(),
        feeding: watch::channel(false).1,
        edges,
        board: board::StatusBoard::new(conn.clone(), ANSWER_WITHIN),
        login: forward::LoginLink {
            client: redis::Client::open(url.expose())?,
            conn: conn.clone(),
            key: sealed::SealKey::derive(secret),
            account,
            redis: url.redacted().to_string(),
            answer_within: ANSWER_WITHIN,
        },
    };
    tracker.spawn(roster::run(handle.link.clone(), edges_tx, shutdown.clone()));
    let store = LockStore::new(conn, &config.node, times.lease, ANSWER_WITHIN);
    if !config.role.ingests() {
        // An edge never leads (the sender lives as long as the gateway); it watches who does.
        let redis = url.redacted().to_string();
        tracker.spawn(async move {
            observe::run(store, redis, view_tx, shutdown).await;
            drop(leading_tx);
        });
        return Ok(Some(handle));
    }
    let io = ElectionIo {
        store,
        times,
        node: config.node.clone(),
        redis: url.redacted().to_string(),
        leading: leading_tx,
        view: view_tx,
    };
    tracker.spawn(elect::run(io, shutdown));
    Ok(Some(handle))
}

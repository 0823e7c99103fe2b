//! The cluster's demand in Redis. An edge publishes its hub's demand under
//! `feedgate:demand:<node>` with a 3 s time to live, refreshed every second and at every change
//! (the heartbeat), and names itself in the set `feedgate:edges`. An ingest node reads every
//! listed edge's demand each second and joins it with its own hub's: that union is what its
//! upstream subscribes while it leads. An edge whose key expired (it died or lost Redis) is
//! dropped from the set and from the union; while Redis cannot be read, the last union stays.

use super::demand::{decode, encode, union};
use super::elect::note_redis;
use super::store::StoreError;
use crate::model::demand::Demand;
use crate::model::instruments::Registry;
use crate::model::repeats::Repeats;
use redis::aio::ConnectionManager;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The set of edges that publish a demand.
pub const EDGES_KEY: &str = "feedgate:edges";
/// Between heartbeats (and between the leader's reads).
pub const EVERY: Duration = Duration::from_secs(1);
/// A published demand lives this long without a heartbeat.
pub const TTL: Duration = Duration::from_secs(3);

/// Where an edge's demand lives.
pub fn demand_key(node: &str) -> String {
    format!("feedgate:demand:{node}")
}

/// The Redis side shared by the publisher and the reader.
#[derive(Clone)]
pub struct DemandLink {
    pub conn: ConnectionManager,
    /// The Redis URL, redacted, for log lines.
    pub redis: String,
    pub answer_within: Duration,
}

impl std::fmt::Debug for DemandLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemandLink")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl DemandLink {
    /// Runs `pipe` within the deadline.
    pub(super) async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.answer_within, pipe.query_async(&mut conn)).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.answer_within)),
        }
    }
}

/// An edge's heartbeat: publishes `demand` every [`EVERY`] and at every change, until
/// `shutdown`; then withdraws it.
pub async fn publish(
    link: DemandLink,
    node: String,
    mut demand: watch::Receiver<Arc<Demand>>,
    registry: watch::Receiver<Arc<Registry>>,
    shutdown: CancellationToken,
) {
    let key = demand_key(&node);
    let ttl_ms = u64::try_from(TTL.as_millis()).unwrap_or(u64::MAX);
    let mut trouble = Repeats::default();
    let mut open = true;
    loop {
        let text = encode(&demand.borrow_and_update(), &registry.borrow());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(&key)
            .arg(&text)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("SADD")
            .arg(EDGES_KEY)
            .arg(&node)
            .ignore();
        let r = link.query::<()>(&pipe).await;
        note_redis(&link.redis, &mut trouble, r.as_ref().err());
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            r = demand.changed(), if open => open = r.is_ok(),
            () = tokio::time::sleep(EVERY) => {}
        }
    }
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("DEL")
        .arg(&key)
        .ignore()
        .cmd("SREM")
        .arg(EDGES_KEY)
        .arg(&node)
        .ignore();
    let _ = link.query::<()>(&pipe).await;
}

/// The leader's demand: `local` joined with every live edge's, as a watch that starts from
/// `local`'s current value, kept up to date until `shutdown`.
pub fn spawn_union(
    link: DemandLink,
    local: watch::Receiver<Arc<Demand>>,
    registry: watch::Receiver<Arc<Registry>>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> watch::Receiver<Arc<Demand>> {
    let (tx, rx) = watch::channel(local.borrow().clone());
    tracker.spawn(follow(link, local, registry, tx, shutdown));
    rx
}

async fn follow(
    link: DemandLink,
    mut local: watch::Receiver<Arc<Demand>>,
    registry: watch::Receiver<Arc<Registry>>,
    out: watch::Sender<Arc<Demand>>,
    shutdown: CancellationToken,
) {
    let mut edges: BTreeMap<String, Demand> = BTreeMap::new();
    let mut trouble = Repeats::default();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    loop {
        let read = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = local.changed(), if open => {
                open = r.is_ok();
                false
            }
            _ = tick.tick() => true,
        };
        if read {
            let reg = registry.borrow().clone();
            match read_edges(&link, reg).await {
                Ok(now) => {
                    note_redis(&link.redis, &mut trouble, None);
                    edges = now;
                }
                Err(e) => {
                    note_redis(&link.redis, &mut trouble, Some(&e));
                }
            }
        }
        let mine = local.borrow_and_update().clone();
        let all = union(std::iter::once(&*mine).chain(edges.values()));
        out.send_if_modified(|cur| {
            let changed = **cur != all;
            if changed {
                *cur = Arc::new(all);
            }
            changed
        });
    }
}

/// Every listed edge's demand; an edge whose key expired is dropped from the list.
async fn read_edges(
    link: &DemandLink,
    registry: Arc<Registry>,
) -> Result<BTreeMap<String, Demand>, StoreError> {
    let mut pipe = redis::pipe();
    pipe.cmd("SMEMBERS").arg(EDGES_KEY);
    let (nodes,): (Vec<String>,) = link.query(&pipe).await?;
    if nodes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut pipe = redis::pipe();
    let mut get = redis::cmd("MGET");
    for n in &nodes {
        get.arg(demand_key(n));
    }
    pipe.add_command(get);
    let (values,): (Vec<Option<String>>,) = link.query(&pipe).await?;
    let mut found = BTreeMap::new();
    let mut gone = Vec::new();
    for (node, value) in nodes.into_iter().zip(values) {
        match value {
            None => gone.push(node),
            // A document this node cannot read (a newer edge's) adds nothing, and stays listed.
            Some(v) => {
                if let Some(d) = decode(&v, &registry) {
                    found.insert(node, d);
                }
            }
        }
    }
    if !gone.is_empty() {
        tracing::info!(edges = ?gone, "edge demand expired; dropped from the subscription");
        let mut pipe = redis::pipe();
        pipe.cmd("SREM").arg(EDGES_KEY).arg(&gone).ignore();
        link.query::<()>(&pipe).await?;
    }
    Ok(found)
}

//! The live edges, for the health's `cluster.edges` (DESIGN.md §9): every [`EVERY`] this node
//! reads the set of edges and which of them still have a demand key (an edge's heartbeat keeps
//! it alive for 3 s), so the health answers from memory and never waits on Redis. Redis not
//! answering keeps the last list (the health's `redis_ok` already says Redis is down).

use super::demand_io::{DemandLink, EDGES_KEY, demand_key};
use crate::cluster::store::StoreError;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the list is read.
pub const EVERY: Duration = Duration::from_secs(2);

/// Keeps `edges` current until shutdown.
pub async fn run(link: DemandLink, edges: watch::Sender<Vec<String>>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        // Failures are the election's and the relay's to report; this keeps the last list.
        if let Ok(live) = read(&link).await {
            edges.send_if_modified(|e| {
                let changed = *e != live;
                *e = live;
                changed
            });
        }
    }
}

/// The edges whose demand key is alive, sorted.
async fn read(link: &DemandLink) -> Result<Vec<String>, StoreError> {
    let mut pipe = redis::pipe();
    pipe.cmd("SMEMBERS").arg(EDGES_KEY);
    let (mut members,): (Vec<String>,) = link.query(&pipe).await?;
    if members.is_empty() {
        return Ok(members);
    }
    members.sort();
    let mut pipe = redis::pipe();
    for m in &members {
        pipe.cmd("EXISTS").arg(demand_key(m));
    }
    let alive: Vec<bool> = link.query(&pipe).await?;
    Ok(members
        .into_iter()
        .zip(alive)
        .filter_map(|(m, a)| a.then_some(m))
        .collect())
}

//! The leader's status through Redis, on every clustered node (DESIGN.md §9): while this node
//! leads it writes its auth, feed and recording sections ([`LeaderStatus`]) to the board every
//! second and at once when its auth, feed or fallback changes; while it does not, it reads the
//! leader's every second for its health ([`crate::status::shared::follow`] decides what to
//! show). A leader stepping down clears its status, so the others stop showing a feed it closed.
//!
//! Read by polling rather than pub/sub: the status is a current state, not a stream, and a key
//! with a time to live says by its absence that no leader spoke for a lease, with no
//! subscription to re-establish after Redis comes back. One GET a second per node costs
//! nothing, and matches the second the health's ages are counted in.
//!
//! Redis failing is the election's to report (logged once there, and in the verdict); here a
//! failed read keeps the last status, which ages out after a lease.

use crate::cluster::board::StatusBoard;
use crate::cluster::elect::ElectionView;
use crate::model::repeats::Repeats;
use crate::status::health::HealthSources;
use crate::status::shared::{LeaderStatus, Received};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Between two writes (by the leader) or reads (by the others).
pub const EVERY: Duration = Duration::from_secs(1);
/// At least this between two writes, however fast the leader's state changes.
const MIN_GAP: Duration = Duration::from_millis(100);

/// The task's inputs and outputs.
#[derive(Debug)]
pub struct SharedIo {
    pub board: StatusBoard,
    /// Where the leader's sections are read from (this node's own).
    pub sources: HealthSources,
    pub node: String,
    pub view: watch::Receiver<ElectionView>,
    /// The leader's status as last read (`None` while this node leads or none was found).
    pub received: watch::Sender<Option<Arc<Received>>>,
}

/// Writes or reads the status until `shutdown`; a leader then clears its own.
pub async fn run(mut io: SharedIo, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut auth = io.sources.auth.clone();
    let mut shards = io.sources.shards.clone();
    let mut fallback = io.sources.fallback.clone();
    let mut trouble = Repeats::default();
    // The term this node last wrote in, while it leads.
    let mut wrote: Option<u64> = None;
    let mut leading = leading_term(&io.view.borrow_and_update());
    loop {
        let changed = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = tick.tick() => false,
            r = io.view.changed() => {
                if r.is_err() {
                    break;
                }
                // The view changes with every renewal; only a change of leadership counts.
                let now = leading_term(&io.view.borrow_and_update());
                if now == leading {
                    continue;
                }
                leading = now;
                true
            }
            r = auth.changed() => { if r.is_err() { break } true }
            r = shards.changed() => { if r.is_err() { break } true }
            r = fallback.changed() => { if r.is_err() { break } true }
        };
        match leading {
            Some(term) => {
                io.received.send_replace(None);
                if write(&io, term, &mut trouble).await {
                    wrote = Some(term);
                }
                if changed {
                    tokio::time::sleep(MIN_GAP).await;
                }
            }
            None => {
                if let Some(term) = wrote.take() {
                    step_down(&io, term).await;
                }
                if !changed {
                    read(&io, &mut trouble).await;
                }
            }
        }
    }
    if let Some(term) = wrote {
        step_down(&io, term).await;
    }
}

/// The term this node leads in, if it does.
fn leading_term(v: &ElectionView) -> Option<u64> {
    v.term.filter(|_| v.leading)
}

/// Writes this node's status of `term`; `true` when it was written.
async fn write(io: &SharedIo, term: u64, trouble: &mut Repeats) -> bool {
    let (feed, _) = io.sources.own_feed();
    let status = LeaderStatus {
        node: io.node.clone(),
        term,
        auth: io.sources.own_auth(),
        feed,
        recording: io.sources.own_recording(),
    };
    let json = match status.encode() {
        Ok(json) => json,
        Err(e) => {
            if trouble.occur("encode") {
                tracing::warn!(error = %e, "cannot encode the leader's status");
            }
            return false;
        }
    };
    match io.board.write(term, &json).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!(term, "status not written: a newer term was elected");
            false
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot write the leader's status");
            false
        }
    }
}

/// Clears the status of `term` (still ours if no newer term was elected).
async fn step_down(io: &SharedIo, term: u64) {
    if let Err(e) = io.board.clear(term).await {
        tracing::debug!(term, error = %e, "cannot clear the leader's status");
    }
}

/// Reads the leader's status into `received`. A status that does not decode (another
/// version's) is logged once and counts as none.
async fn read(io: &SharedIo, trouble: &mut Repeats) {
    let next = match io.board.read().await {
        Ok(Some(json)) => match LeaderStatus::decode(&json) {
            Ok(status) => {
                if trouble.clear().is_some() {
                    tracing::info!("the leader's status reads again");
                }
                Some(Arc::new(Received {
                    status,
                    at: Instant::now(),
                }))
            }
            Err(e) => {
                if trouble.occur("decode") {
                    tracing::warn!(error = %e, "cannot read the leader's status (another feedgate version?)");
                }
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the leader's status");
            return;
        }
    };
    io.received.send_replace(next);
}

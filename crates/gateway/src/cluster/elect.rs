//! The election task: runs the [`Lease`] machine against the Redis [`LockStore`], one request
//! in flight at a time, and publishes whether this node leads (the upstream's extra run
//! condition) and what it knows of the cluster (for health). A step-down is published before
//! anything else is done, so the broker sockets close at once.
//!
//! Redis trouble is logged once when it starts and once when it ends, with the URL redacted.

use super::lease::{Input, Lease, LeaseTimes, Output, StepDown};
use super::store::{Acquired, LockStore, StoreError};
use crate::model::repeats::Repeats;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What this node knows of the election, published after every step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElectionView {
    /// This node leads, in `term`.
    pub leading: bool,
    /// The leader's node name (ours when we lead), if known.
    pub leader: Option<String>,
    /// The latest term seen.
    pub term: Option<u64>,
    /// When the leader's lease ends as of its last answer (ours, or the holder's lock expiry).
    pub lease_until: Option<Instant>,
    /// The last request to Redis failed.
    pub redis_down: bool,
}

/// The election's inputs and outputs.
#[derive(Debug)]
pub struct ElectionIo {
    pub store: LockStore,
    pub times: LeaseTimes,
    /// This node's name (what the view shows as leader while we lead).
    pub node: String,
    /// The Redis URL, redacted, for log lines.
    pub redis: String,
    /// `true` while this node leads.
    pub leading: watch::Sender<bool>,
    pub view: watch::Sender<ElectionView>,
}

type Pending = Pin<Box<dyn Future<Output = (Input, Option<StoreError>)> + Send>>;

/// Runs the election until `shutdown`; a leader then releases its lock.
pub async fn run(io: ElectionIo, shutdown: CancellationToken) {
    let mut lease = Lease::new(io.times, Instant::now());
    let mut pending: Option<Pending> = None;
    let mut trouble = Repeats::default();
    let mut redis_down = false;
    loop {
        let deadline = lease.deadline();
        let input = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            (input, err) = answer(&mut pending), if pending.is_some() => {
                pending = None;
                redis_down = note(&io, &mut trouble, err);
                input
            }
            () = sleep_until(deadline) => Input::Due,
        };
        for out in lease.step(input, Instant::now()) {
            if let Some(p) = apply(&io, out) {
                pending = Some(p);
            }
        }
        publish(&io, &lease, redis_down);
    }
    for out in lease.shutdown() {
        if let Some(p) = apply(&io, out) {
            let (_, err) = p.await;
            note(&io, &mut trouble, err);
        }
    }
    publish(&io, &lease, redis_down);
}

/// The answer to the request in flight (never resolves when there is none).
async fn answer(pending: &mut Option<Pending>) -> (Input, Option<StoreError>) {
    match pending.as_mut() {
        Some(p) => p.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Acts on one output; a request to Redis is returned to be awaited by the loop.
fn apply(io: &ElectionIo, out: Output) -> Option<Pending> {
    match out {
        Output::StepDown { term, why } => {
            io.leading.send_replace(false);
            if why == StepDown::Shutdown {
                tracing::info!(node = %io.node, term, "leaving the leadership: shutting down");
            } else {
                tracing::warn!(node = %io.node, term, reason = why.as_str(), "stepped down as leader: broker connections closed");
            }
            None
        }
        Output::Lead { term } => {
            io.leading.send_replace(true);
            tracing::info!(node = %io.node, term, "elected leader: opening broker connections");
            None
        }
        Output::Acquire => Some(acquire(io.store.clone())),
        Output::Renew { .. } => Some(renew(io.store.clone())),
        Output::Release { term } => {
            let store = io.store.clone();
            let node = io.node.clone();
            Some(Box::pin(async move {
                match store.release().await {
                    Ok(released) => {
                        tracing::info!(%node, term, released, "leader lock released");
                        (Input::Due, None)
                    }
                    Err(e) => (Input::Failed, Some(e)),
                }
            }))
        }
    }
}

fn acquire(store: LockStore) -> Pending {
    Box::pin(async move {
        let sent = Instant::now();
        match store.acquire().await {
            Ok(Acquired::Ours { term }) => (Input::Acquired { term, sent }, None),
            Ok(Acquired::Held { holder, term, ttl }) => (Input::Held { holder, term, ttl }, None),
            Err(e) => (Input::Failed, Some(e)),
        }
    })
}

fn renew(store: LockStore) -> Pending {
    Box::pin(async move {
        let sent = Instant::now();
        match store.renew().await {
            Ok(true) => (Input::Renewed { sent }, None),
            Ok(false) => (Input::Lost, None),
            Err(e) => (Input::Failed, Some(e)),
        }
    })
}

/// Logs Redis trouble once when it starts (or changes kind) and once when it ends; returns
/// whether Redis is failing now.
fn note(io: &ElectionIo, trouble: &mut Repeats, err: Option<StoreError>) -> bool {
    note_redis(&io.redis, trouble, err.as_ref())
}

/// Logs Redis trouble once when it starts (or changes kind) and once when it ends (`redis` is
/// the redacted URL); returns whether Redis is failing now.
pub(super) fn note_redis(redis: &str, trouble: &mut Repeats, err: Option<&StoreError>) -> bool {
    match err {
        Some(e) => {
            if trouble.occur(&e.kind()) {
                tracing::warn!(redis, error = %e, "redis unreachable; retrying with backoff");
            }
            true
        }
        None => {
            if let Some(suppressed) = trouble.clear() {
                tracing::info!(
                    redis,
                    failed_requests = suppressed + 1,
                    "redis reachable again"
                );
            }
            false
        }
    }
}

fn publish(io: &ElectionIo, lease: &Lease, redis_down: bool) {
    let known = lease.known();
    let view = match lease.leading() {
        Some(term) => ElectionView {
            leading: true,
            leader: Some(io.node.clone()),
            term: Some(term),
            lease_until: lease.valid_until(),
            redis_down,
        },
        None => ElectionView {
            leading: false,
            leader: known.holder.clone(),
            term: known.term,
            lease_until: known.holder_until,
            redis_down,
        },
    };
    io.view.send_if_modified(|cur| {
        let changed = *cur != view;
        *cur = view;
        changed
    });
}

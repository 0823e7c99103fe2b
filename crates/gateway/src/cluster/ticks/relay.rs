//! The subscriber's side, on every clustered node: SUBSCRIBE to the leader's batches, and at
//! every (re)connection, once subscribed, load the latest-value hash and hand it to the hub
//! before the first batch — so a new or reconnected edge serves snapshots at once and misses
//! nothing published meanwhile (the leader writes the hash before it publishes). An instrument
//! first seen in a batch is seeded into the hub too, so the hub keeps its latest value like the
//! hash does and a client moving here from another edge gets its snapshot at once. Batches go
//! into the hub's tick channel, exactly where the upstream puts its own: conflation,
//! throttling, candles and every client protocol work unchanged.
//!
//! While this node leads it feeds nothing (the batches are its own). While Redis is
//! unreachable the clients stay, `feeding` turns false (the status monitor then marks values
//! as last-known) and the subscription is retried with backoff, logged once.

use super::{CHANNEL, LATEST, TickStats, codec};
use crate::cluster::store::StoreError;
use crate::hub::HubHandle;
use crate::model::instruments::Registry;
use crate::model::repeats::Repeats;
use crate::model::tick::Tick;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The relay's inputs and outputs.
#[derive(Debug)]
pub struct RelayIo {
    /// Opens the subscription's own connection (a subscribed connection takes no commands).
    pub client: redis::Client,
    /// For the hash.
    pub conn: ConnectionManager,
    pub hub: HubHandle,
    /// The hub's tick input.
    pub ticks: mpsc::Sender<Vec<Tick>>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub leading: watch::Receiver<bool>,
    pub stats: Arc<TickStats>,
    /// `true` while ticks flow from the leader into this node's hub.
    pub feeding: watch::Sender<bool>,
    /// The Redis URL, password redacted (for logs).
    pub redis: String,
    pub answer_within: Duration,
    /// `feedgate_cluster_ticks_received_total`, resolved once.
    pub received: metrics::Counter,
}

/// Why a subscription ended.
enum End {
    Shutdown,
    Lost(StoreError),
}

impl From<StoreError> for End {
    fn from(e: StoreError) -> Self {
        End::Lost(e)
    }
}

/// Subscribes, and re-subscribes, until shutdown.
pub async fn run(mut io: RelayIo, shutdown: CancellationToken) {
    let mut trouble = Repeats::default();
    let mut backoff = BACKOFF_MIN;
    // Tokens the hub holds a latest value of (it keeps them once seeded).
    let mut seeded = HashSet::new();
    loop {
        let end = subscription(&mut io, &shutdown, &mut trouble, &mut backoff, &mut seeded).await;
        io.stats.subscribed.store(false, Ordering::Relaxed);
        io.feeding.send_if_modified(|f| std::mem::replace(f, false));
        let e = match end {
            End::Shutdown => return,
            End::Lost(e) => e,
        };
        io.stats.lost.store(true, Ordering::Relaxed);
        if trouble.occur(&e.kind()) {
            tracing::warn!(redis = %io.redis, error = %e, "redis unreachable: no ticks from the leader; clients keep their last values, marked stale; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn subscription(
    io: &mut RelayIo,
    shutdown: &CancellationToken,
    trouble: &mut Repeats,
    backoff: &mut Duration,
    seeded: &mut HashSet<u32>,
) -> End {
    let mut pubsub = match within(io.answer_within, io.client.get_async_pubsub()).await {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    if let Err(e) = within(io.answer_within, pubsub.subscribe(CHANNEL)).await {
        return e.into();
    }
    // Subscribed first, then the hash: a batch published in between is both in the hash and
    // queued on the subscription, never in neither.
    if let Err(e) = load_latest(io, seeded).await {
        return e;
    }
    io.stats.subscribed.store(true, Ordering::Relaxed);
    io.stats.lost.store(false, Ordering::Relaxed);
    *backoff = BACKOFF_MIN;
    if let Some(repeats) = trouble.clear() {
        tracing::info!(redis = %io.redis, repeats, "redis reachable again: ticks from the leader resume");
    }
    let mut messages = pubsub.into_on_message();
    loop {
        let feeding = !*io.leading.borrow_and_update();
        io.feeding
            .send_if_modified(|f| std::mem::replace(f, feeding) != feeding);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return End::Shutdown,
            r = io.leading.changed() => if r.is_err() { return End::Shutdown },
            m = messages.next() => match m {
                Some(m) => {
                    if feeding && let Err(end) = feed(io, m.get_payload_bytes(), seeded).await {
                        return end;
                    }
                }
                None => return End::Lost(StoreError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "the subscription connection closed",
                )))),
            },
        }
    }
}

/// Decodes one batch into the hub, seeding instruments it shows for the first time (a seed
/// keeps a value nobody here wants yet; the batch then updates and fans it out as usual);
/// `Err` when the hub has stopped.
async fn feed(io: &RelayIo, payload: &[u8], seeded: &mut HashSet<u32>) -> Result<(), End> {
    match codec::decode(payload) {
        Ok(batch) => {
            io.stats.received_batches.fetch_add(1, Ordering::Relaxed);
            io.stats
                .received_ticks
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            io.received.increment(batch.len() as u64);
            if batch.iter().any(|t| !seeded.contains(&t.token)) {
                let registry = io.registry.borrow().clone();
                let seeds: Vec<_> = batch
                    .iter()
                    .filter(|t| seeded.insert(t.token))
                    .filter_map(|t| registry.by_token(t.token).map(|i| (i.clone(), *t)))
                    .collect();
                io.hub.seed(seeds).await.map_err(|_| End::Shutdown)?;
            }
            io.ticks.send(batch).await.map_err(|_| End::Shutdown)
        }
        Err(e) => {
            // Counted, logged at debug: a flood of them shows in the health counter.
            io.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "a tick batch from redis did not decode; skipped");
            Ok(())
        }
    }
}

/// Loads the latest-value hash into the hub: as seeds (for instruments nobody here wants
/// yet, so their first subscriber gets a snapshot at once) and as one batch through the tick
/// channel (so current subscribers get the values, in order before the next batch).
async fn load_latest(io: &mut RelayIo, seeded: &mut HashSet<u32>) -> Result<(), End> {
    if *io.leading.borrow() {
        return Ok(());
    }
    let mut conn = io.conn.clone();
    let all: HashMap<String, Vec<u8>> = within(
        io.answer_within,
        redis::cmd("HGETALL").arg(LATEST).query_async(&mut conn),
    )
    .await?;
    let registry = io.registry.borrow().clone();
    let mut ticks = Vec::with_capacity(all.len());
    let mut seeds = Vec::with_capacity(all.len());
    for bytes in all.values() {
        match codec::decode(bytes) {
            Ok(batch) => {
                // An instrument this node does not know (an expired contract a previous
                // leader left in the hash) stays out of the hub, so it is never published
                // back when this node leads.
                for t in batch {
                    if let Some(inst) = registry.by_token(t.token) {
                        seeds.push((inst.clone(), t));
                        seeded.insert(t.token);
                        ticks.push(t);
                    }
                }
            }
            Err(_) => {
                io.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tracing::debug!(values = ticks.len(), "latest values loaded from redis");
    if ticks.is_empty() {
        return Ok(());
    }
    // Seeds are commands, which the hub takes before queued ticks.
    io.hub.seed(seeds).await.map_err(|_| End::Shutdown)?;
    io.ticks.send(ticks).await.map_err(|_| End::Shutdown)
}

async fn within<T>(
    limit: Duration,
    f: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

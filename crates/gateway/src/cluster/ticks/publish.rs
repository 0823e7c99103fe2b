//! The leader's side: takes the batches the hub's tap hands over, merges them into the latest
//! value per instrument, and sends one pipeline per batch to Redis — HSET of the changed
//! instruments' latest values, then PUBLISH of the batch — so that whoever reads the hash
//! after receiving a batch finds that batch in it. Batches queued while a pipeline was in
//! flight go out together (one message per upstream frame when Redis keeps up, fewer and
//! larger ones when it does not).
//!
//! Redis failing drops what comes meanwhile (pub/sub keeps nothing for later anyway), logs
//! once, and rewrites the whole hash from the hub at the first success after; so does a new
//! term of leadership, whose hash may hold the previous leader's older values.

use super::{CHANNEL, LATEST, TickStats, codec};
use crate::cluster::store::StoreError;
use crate::hub::HubHandle;
use crate::model::repeats::Repeats;
use crate::model::tick::{Tick, Token};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The most ticks one message carries when batches queue up.
const MAX_TICKS: usize = 4096;

/// The publisher's inputs.
#[derive(Debug)]
pub struct PublishIo {
    pub conn: ConnectionManager,
    pub batches: mpsc::Receiver<Vec<Tick>>,
    pub hub: HubHandle,
    pub leading: watch::Receiver<bool>,
    pub stats: Arc<TickStats>,
    /// The Redis URL, password redacted (for logs).
    pub redis: String,
    pub answer_within: Duration,
}

/// Publishes until shutdown.
pub async fn run(mut io: PublishIo, shutdown: CancellationToken) {
    let mut latest: HashMap<Token, Tick> = HashMap::new();
    // Whether the hash holds this node's values (not after a failure or a new term).
    let mut synced = false;
    let mut trouble = Repeats::default();
    let published = metrics::counter!("feedgate_cluster_ticks_published_total");
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = io.leading.changed() => {
                if r.is_err() {
                    return;
                }
                synced = false;
                latest.clear();
                continue;
            }
            b = io.batches.recv() => match b {
                Some(b) => b,
                None => return,
            },
        };
        let mut batch = first;
        while batch.len() < MAX_TICKS {
            match io.batches.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        if !*io.leading.borrow() {
            continue;
        }
        if !synced {
            match io.hub.latest_all().await {
                Ok(all) => latest = all.into_iter().map(|(_, t)| (t.token, t)).collect(),
                Err(_) => return,
            }
        }
        let changed = merge(&mut latest, &batch);
        let fields: Vec<Token> = if synced {
            changed
        } else {
            latest.keys().copied().collect()
        };
        match send(&io, &latest, &fields, &batch, !synced).await {
            Ok(()) => {
                synced = true;
                io.stats.published_batches.fetch_add(1, Ordering::Relaxed);
                io.stats
                    .published_ticks
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                published.increment(batch.len() as u64);
                if let Some(repeats) = trouble.clear() {
                    tracing::info!(redis = %io.redis, repeats, "publishing ticks to redis again");
                }
            }
            Err(e) => {
                synced = false;
                io.stats.publish_errors.fetch_add(1, Ordering::Relaxed);
                if trouble.occur(&e.kind()) {
                    tracing::warn!(redis = %io.redis, error = %e, "cannot publish ticks to redis; edges miss them until it answers");
                }
            }
        }
    }
}

/// Merges `batch` into `latest` as the hub does; the tokens it touched, each once.
fn merge(latest: &mut HashMap<Token, Tick>, batch: &[Tick]) -> Vec<Token> {
    let mut changed = Vec::with_capacity(batch.len());
    for t in batch {
        match latest.get_mut(&t.token) {
            Some(old) => old.merge_newer(t),
            None => {
                latest.insert(t.token, *t);
            }
        }
        changed.push(t.token);
    }
    changed.sort_unstable();
    changed.dedup();
    changed
}

/// One pipeline: the latest values of `fields`, then the batch. A `rewrite` replaces the whole
/// hash in one transaction, so it never keeps instruments this leader no longer holds (a
/// previous term's, or yesterday's) and no reader sees it empty in between; a rewrite with
/// nothing to write leaves the hash alone, as the only snapshots an edge could serve.
async fn send(
    io: &PublishIo,
    latest: &HashMap<Token, Tick>,
    fields: &[Token],
    batch: &[Tick],
    rewrite: bool,
) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    if rewrite && !fields.is_empty() {
        pipe.atomic().cmd("DEL").arg(LATEST).ignore();
    }
    if !fields.is_empty() {
        let hset = pipe.cmd("HSET").arg(LATEST);
        for token in fields {
            if let Some(t) = latest.get(token) {
                hset.arg(token.to_string())
                    .arg(codec::encode(std::slice::from_ref(t)));
            }
        }
        hset.ignore();
    }
    pipe.cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(codec::encode(batch))
        .ignore();
    let mut conn = io.conn.clone();
    match tokio::time::timeout(io.answer_within, pipe.query_async::<()>(&mut conn)).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(io.answer_within)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tick::{Quote, Source};

    #[test]
    fn the_latest_value_keeps_the_quote_an_ltp_tick_does_not_carry() {
        let quote = Tick {
            token: 7,
            divisor: 100,
            ltp: 100,
            quote: Some(Quote {
                close: 90,
                ..Quote::default()
            }),
            full: None,
            received_ms: 1,
            src: Source::Ws,
        };
        let ltp = Tick {
            ltp: 105,
            quote: None,
            received_ms: 2,
            ..quote
        };
        let mut latest = HashMap::new();
        assert_eq!(merge(&mut latest, &[quote, ltp, ltp]), vec![7]);
        let t = latest[&7];
        assert_eq!((t.ltp, t.received_ms), (105, 2));
        assert_eq!(t.quote.map(|q| q.close), Some(90), "the close survives");
    }
}

//! Closed-hours snapshots: when a client subscribes to an instrument feedgate has no value for
//! while the feed is not streaming (market closed, holiday), fetch one REST quote for it —
//! batched across clients and instruments, within the broker's rate limit, only with a valid
//! token (a request made without one waits for a login) — and hand it to the hub, which caches
//! it and delivers it marked as not live.

use crate::auth::AuthSnapshot;
use crate::broker::BrokerApi;
use crate::clock::SharedClock;
use crate::instruments::Registry;
use crate::rate_gate::RateGate;
use crate::secret::CurrentToken;
use crate::tick::{Tick, Token};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Requests arriving within this window share one REST call.
const COLLECT: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct SnapshotIo {
    pub requests: mpsc::Receiver<Vec<Token>>,
    pub broker: Arc<dyn BrokerApi>,
    pub gate: Arc<RateGate>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub auth: watch::Receiver<AuthSnapshot>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    /// Whether the feed streams: a snapshot that arrives after it went live is older than what
    /// the feed delivers, so it is dropped rather than shown as the latest value.
    pub feed_live: watch::Receiver<bool>,
    pub clock: SharedClock,
}

pub async fn run(mut io: SnapshotIo, shutdown: CancellationToken) {
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = io.requests.recv() => match r { Some(v) => v, None => return },
        };
        let mut wanted: BTreeSet<Token> = first.into_iter().collect();
        let until = tokio::time::Instant::now() + COLLECT;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(until) => break,
                r = io.requests.recv() => match r {
                    Some(v) => wanted.extend(v),
                    None => break,
                },
            }
        }
        // Without a usable token the request waits for one (an evening login), still
        // collecting: the hub asks for each instrument once per not-live period, so dropping
        // it would leave the clients that asked without a value until the next session. If the
        // feed goes live meanwhile, the values come from it instead.
        let token = loop {
            if *io.feed_live.borrow() {
                break None;
            }
            let usable = io.auth.borrow().state != crate::auth::AuthState::Expired;
            if let Some(t) = io.token.borrow().clone().filter(|_| usable) {
                break Some(t);
            }
            tracing::debug!(
                instruments = wanted.len(),
                "no usable token: the closed-hours snapshot waits for one"
            );
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = io.token.changed() => if r.is_err() { return },
                r = io.auth.changed() => if r.is_err() { return },
                r = io.feed_live.changed() => if r.is_err() { return },
                r = io.requests.recv() => match r {
                    Some(v) => wanted.extend(v),
                    None => return,
                },
            }
        };
        let Some(token) = token else {
            continue;
        };
        let registry = io.registry.borrow().clone();
        let insts: Vec<_> = wanted
            .iter()
            .filter_map(|t| registry.by_token(*t).cloned())
            .collect();
        for chunk in insts.chunks(io.broker.quote_batch().max(1)) {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = io.gate.acquire() => {}
            }
            match io
                .broker
                .quotes(token.token.clone(), chunk.to_vec(), io.clock.now_ms())
                .await
            {
                Ok(_) if *io.feed_live.borrow() => {
                    tracing::debug!("feed went live while fetching a snapshot; dropped it");
                }
                Ok(ticks) => {
                    tracing::debug!(
                        requested = chunk.len(),
                        got = ticks.len(),
                        "closed-hours snapshot fetched"
                    );
                    metrics::counter!("feedgate_snapshot_quotes_total")
                        .increment(ticks.len() as u64);
                    if !ticks.is_empty() && io.ticks.send(ticks).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if matches!(e, crate::broker::BrokerError::RateLimited) {
                        io.gate.penalize(Duration::from_secs(2));
                    }
                    tracing::info!(error = %e, "closed-hours snapshot failed; the cached values (if any) stay");
                }
            }
        }
    }
}

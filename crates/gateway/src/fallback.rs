//! REST fallback: while the broker's WebSocket cannot be used but its REST API works (upgrades
//! refused, repeated stalls, `FEED_MAX_RECONNECTS` exhausted), poll quotes for everything
//! clients want and feed them to the hub as ticks with `src: "rest"`. The WebSocket keeps
//! retrying in the background; the moment it delivers data again, polling stops.
//!
//! Polling respects the broker's quote limits (Kite: ≤ 500 instruments per call, 1 call per
//! second): a cycle of B batches takes at least B seconds, so the effective interval is
//! `max(REST_POLL_INTERVAL, B × 1 s)`.

use crate::auth::AuthHandle;
use crate::broker::BrokerApi;
use crate::clock::SharedClock;
use crate::hub::Demand;
use crate::instruments::Registry;
use crate::repeats::Repeats;
use crate::secret::CurrentToken;
use crate::status::Gauges;
use crate::tick::Tick;
use crate::upstream::{RunPolicy, ShardStatus};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct FallbackIo {
    pub broker: Arc<dyn BrokerApi>,
    /// Shared spacing of quote calls (the broker's rate limit).
    pub gate: Arc<crate::rate_gate::RateGate>,
    pub shards: watch::Receiver<Vec<ShardStatus>>,
    pub demand: watch::Receiver<Arc<Demand>>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub run: watch::Receiver<RunPolicy>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    pub active: watch::Sender<bool>,
    pub auth: AuthHandle,
    pub clock: SharedClock,
    pub gauges: Arc<Gauges>,
    pub poll_interval: Duration,
}

/// Should polling run, given the shards and the schedule? (pure)
pub fn wanted(shards: &[ShardStatus], run: RunPolicy) -> bool {
    run.should_run
        && shards.iter().any(|s| s.fallback_wanted)
        && !shards.iter().any(|s| s.auth_rejected)
}

/// The instruments of `demand` in request batches of at most `batch` (pure).
pub fn batches(
    demand: &Demand,
    registry: &Registry,
    batch: usize,
) -> Vec<Vec<Arc<crate::instruments::Instrument>>> {
    let insts: Vec<_> = demand
        .keys()
        .filter_map(|t| registry.by_token(*t).cloned())
        .collect();
    insts.chunks(batch.max(1)).map(<[_]>::to_vec).collect()
}

pub async fn run(mut io: FallbackIo, shutdown: CancellationToken) {
    let mut active = false;
    let mut errors = Repeats::default();
    loop {
        let want = wanted(&io.shards.borrow(), *io.run.borrow());
        if want != active {
            active = want;
            io.active.send_replace(active);
            if active {
                tracing::warn!(
                    interval_s = io.poll_interval.as_secs(),
                    "REST fallback started: polling quotes while the WebSocket is unavailable"
                );
                metrics::counter!("feedgate_fallback_started_total").increment(1);
            } else {
                tracing::info!("REST fallback stopped: the WebSocket is delivering data again");
                errors.clear();
            }
        }
        if !active {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                r = io.shards.changed() => if r.is_err() { break },
                r = io.run.changed() => if r.is_err() { break },
            }
            continue;
        }

        // One polling cycle.
        let cycle_start = Instant::now();
        let token = io.token.borrow().clone();
        let demand = io.demand.borrow().clone();
        let registry = io.registry.borrow().clone();
        if let Some(token) = token {
            for batch in batches(&demand, &registry, io.broker.quote_batch()) {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = io.gate.acquire() => {}
                }
                let now_ms = io.clock.now_ms();
                match io.broker.quotes(token.token.clone(), batch, now_ms).await {
                    Ok(ticks) => {
                        if let Some(n) = errors.clear() {
                            tracing::info!(suppressed = n, "REST quotes working again");
                        }
                        if !ticks.is_empty() {
                            io.gauges.last_data_ms.store(now_ms, Ordering::Relaxed);
                            metrics::counter!("feedgate_fallback_ticks_total")
                                .increment(ticks.len() as u64);
                            if io.ticks.send(ticks).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if e.is_auth() => {
                        io.auth.report_rejected(token.epoch).await;
                        break;
                    }
                    Err(e) => {
                        if errors.occur(&e.to_string()) {
                            tracing::warn!(error = %e, "REST quote poll failed; retrying next cycle");
                        }
                        if matches!(e, crate::broker::BrokerError::RateLimited) {
                            // Respect the broker: skip the rest of this cycle.
                            io.gate.penalize(io.broker.quote_interval() * 2);
                            break;
                        }
                    }
                }
            }
        }
        metrics::counter!("feedgate_fallback_seconds_total")
            .increment(io.poll_interval.as_secs().max(1));
        let until = cycle_start + io.poll_interval;
        // Wait for the next cycle; leave early only when polling is no longer wanted (the
        // WebSocket came back, or the schedule stopped the feed) — not on every retry's status
        // change, which would poll faster than REST_POLL_INTERVAL.
        let mut stop = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    stop = true;
                    break;
                }
                () = tokio::time::sleep_until(until) => break,
                r = io.shards.changed() => {
                    if r.is_err() {
                        stop = true;
                        break;
                    }
                    if !wanted(&io.shards.borrow(), *io.run.borrow()) {
                        break;
                    }
                }
            }
        }
        if stop {
            break;
        }
    }
    io.active.send_replace(false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::InstrumentSpec;
    use crate::tick::Mode;

    fn shard(fallback: bool, auth: bool) -> ShardStatus {
        ShardStatus {
            fallback_wanted: fallback,
            auth_rejected: auth,
            ..ShardStatus::default()
        }
    }

    #[test]
    fn wanted_only_when_a_shard_asks_and_auth_is_fine() {
        let on = RunPolicy::ALWAYS;
        let off = RunPolicy {
            should_run: false,
            expects_data: false,
        };
        assert!(wanted(&[shard(true, false)], on));
        assert!(wanted(&[shard(false, false), shard(true, false)], on));
        assert!(!wanted(&[shard(false, false)], on));
        assert!(
            !wanted(&[shard(true, true)], on),
            "a rejected token needs a login, not polling"
        );
        assert!(!wanted(&[shard(true, false)], off), "market closed");
    }

    #[test]
    fn batches_respect_the_broker_limit() {
        let specs = (1..=1201).map(|t| InstrumentSpec {
            token: t,
            exchange: "NSE".into(),
            tradingsymbol: format!("S{t}"),
            name: String::new(),
            segment: "NSE".into(),
            instrument_type: "EQ".into(),
            tick_size: 0.05,
            lot_size: 1,
            divisor: 100,
            is_index: false,
        });
        let reg = Registry::new(specs);
        let demand: Demand = (1..=1201)
            .chain([99_999])
            .map(|t| (t, Mode::Quote))
            .collect();
        let b = batches(&demand, &reg, 500);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [500, 500, 201]);
    }
}

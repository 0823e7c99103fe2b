//! The market feed task: advances the market, encodes the updates that some connection
//! subscribed (once per mode) and broadcasts each tick's batch to every connection; the same
//! updates go to the Fyers data sockets (`fyers::feed`) as broker-neutral quotes.
//!
//! With the default pace it wakes only on the ticks that carry an update of a subscribed
//! instrument, and not at all while nothing is subscribed (a new subscription wakes it): a
//! simulator nobody streams from costs nothing however long it runs. The aggregate-rate pace of
//! the benchmarks runs its timer on every tick, as a load source must.

use crate::kite::ticker::batch::Batch;
use crate::market::{Quote, Updates};
use crate::registry::lock;
use crate::shared::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tracing::debug;

/// Runs until the simulator shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    if shared.cfg.rate.is_some() {
        run_paced(&shared).await;
    } else {
        run_on_demand(&shared).await;
    }
    debug!("market feed stopped");
}

/// Whether someone streams instrument `idx` over either broker's socket.
fn wanted(shared: &Shared, idx: usize) -> bool {
    shared.registry.demand.any(idx) || shared.fyers.wants(idx)
}

/// The default pace: sleeps until the next tick that updates a subscribed instrument.
async fn run_on_demand(shared: &Shared) {
    let kite_demand = &shared.registry.demand;
    let fyers_demand = &shared.fyers.registry.demand;
    loop {
        let now = shared.clock.now();
        let due = {
            let mut market = lock(&shared.market);
            market.follow(now);
            let next = market.next_update(|idx| wanted(shared, idx));
            market.set_streamed(next.is_some());
            next.map(|tick| (market.time_of(tick) - now).to_std().unwrap_or_default())
        };
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return,
            // A new subscription may be due sooner (or be the first one).
            () = kite_demand.changed() => continue,
            () = fyers_demand.changed() => continue,
            () = tokio::time::sleep(due.unwrap_or(Duration::MAX)), if due.is_some() => {}
        }
        let mut updates = Vec::new();
        {
            let mut market = lock(&shared.market);
            let to = market.tick_at(shared.clock.now());
            // One due tick at a time (several only when the runtime fell behind): each batch
            // carries its own tick's state.
            while let Some(tick) = market.next_update(|idx| wanted(shared, idx))
                && tick <= to
            {
                let stepped = market.advance_to(tick, |idx| wanted(shared, idx));
                updates.extend(picked(&mut market, &stepped, |idx| wanted(shared, idx)));
            }
        }
        for (seq, rounds) in updates {
            publish(shared, seq, &rounds);
        }
    }
}

/// The aggregate-rate pace: one timer tick per batch period, every one stepping the market.
async fn run_paced(shared: &Shared) {
    let period = shared.cfg.effective_batch_period();
    let mut timer = interval_at(Instant::now() + period, period);
    // Burst: a delayed runtime catches up, so the aggregate rate and the market's evolution
    // per tick count stay exact.
    timer.set_missed_tick_behavior(MissedTickBehavior::Burst);
    lock(&shared.market).set_streamed(true);
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return,
            _ = timer.tick() => {}
        }
        let listening = shared.batches.receiver_count() > 0 || shared.fyers.listening();
        let (seq, rounds) = {
            let mut market = lock(&shared.market);
            let rounds = market.advance(|_| true);
            if !listening {
                continue;
            }
            let seq = market.seq();
            let updates = Updates::from([(seq, rounds)]);
            let mut picked = picked(&mut market, &updates, |idx| wanted(shared, idx));
            (seq, picked.pop().map(|(_, r)| r).unwrap_or_default())
        };
        if !rounds.is_empty() {
            publish(shared, seq, &rounds);
        }
        // A rate beyond what the machine can generate keeps the timer always ready; yield so
        // that the connection tasks and the I/O driver on this worker still get their turn.
        tokio::task::yield_now().await;
    }
}

/// One tick's updates with their quotes, in rounds (each instrument at most once per round).
type Rounds = Vec<Vec<(usize, Quote)>>;

/// The updates someone wants, with their quotes (copied so encoding runs outside the lock),
/// per tick; ticks left with nothing are dropped.
fn picked(
    market: &mut crate::market::Market,
    updates: &Updates,
    wanted: impl Fn(usize) -> bool,
) -> Vec<(u64, Rounds)> {
    updates
        .iter()
        .map(|(seq, rounds)| {
            let rounds: Vec<Vec<_>> = rounds
                .iter()
                .map(|round| {
                    round
                        .iter()
                        .filter(|idx| wanted(**idx))
                        .filter_map(|idx| market.quote(*idx).map(|q| (*idx, *q)))
                        .collect::<Vec<_>>()
                })
                .filter(|round| !round.is_empty())
                .collect();
            (*seq, rounds)
        })
        .filter(|(_, rounds)| !rounds.is_empty())
        .collect()
}

/// Sends one tick's updates to both brokers' sockets.
fn publish(shared: &Shared, seq: u64, rounds: &[Vec<(usize, Quote)>]) {
    // The data sockets get the same quotes at the same sequence number as the ticker.
    shared.fyers.publish(seq, rounds);
    let batch = Batch::encode(seq, rounds, &shared.universe, &shared.registry.demand);
    if !batch.rounds.is_empty() {
        // An error only means every receiver went away meanwhile.
        let _ = shared.batches.send(Arc::new(batch));
    }
}

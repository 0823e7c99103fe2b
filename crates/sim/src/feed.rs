//! The market feed task: advances the market once per timer tick, encodes the updates that
//! some connection subscribed (once per mode) and broadcasts the batch to every connection;
//! the same updates go to the Fyers data sockets (`fyers::feed`) as broker-neutral quotes.

use crate::kite::ticker::batch::Batch;
use crate::registry::lock;
use crate::shared::Shared;
use std::sync::Arc;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tracing::debug;

/// Runs until the simulator shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    let period = shared.cfg.effective_batch_period();
    let mut timer = interval_at(Instant::now() + period, period);
    // Burst: a delayed runtime catches up, so the aggregate rate and the market's evolution
    // per tick count stay exact.
    timer.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let demand = &shared.registry.demand;
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            _ = timer.tick() => {}
        }
        let now = shared.clock.now();
        let fyers = &shared.fyers;
        let listening = shared.batches.receiver_count() > 0 || fyers.listening();
        let (seq, rounds) = {
            let mut market = lock(&shared.market);
            let rounds = market.advance(now);
            if !listening {
                continue;
            }
            // Copy only what someone wants, so encoding runs outside the lock.
            let picked: Vec<Vec<_>> = rounds
                .iter()
                .map(|round| {
                    round
                        .iter()
                        .filter(|idx| demand.any(**idx) || fyers.wants(**idx))
                        .filter_map(|idx| market.quote(*idx).map(|q| (*idx, *q)))
                        .collect::<Vec<_>>()
                })
                .filter(|round| !round.is_empty())
                .collect();
            (market.seq(), picked)
        };
        if rounds.is_empty() {
            continue;
        }
        // The data sockets get the same quotes at the same sequence number as the ticker.
        fyers.publish(seq, &rounds);
        let batch = Batch::encode(seq, &rounds, &shared.universe, demand);
        if !batch.rounds.is_empty() {
            // An error only means every receiver went away meanwhile.
            let _ = shared.batches.send(Arc::new(batch));
        }
        // A rate beyond what the machine can generate keeps the timer always ready; yield so
        // that the connection tasks and the I/O driver on this worker still get their turn.
        tokio::task::yield_now().await;
    }
    debug!("market feed stopped");
}

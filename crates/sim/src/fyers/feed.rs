//! Market batches for the data sockets: the market feed task hands every timer tick's updates
//! here, and the instruments some Fyers topic wants are broadcast (as broker-neutral quotes;
//! each connection diffs them against what its client holds). Kite and Fyers therefore see the
//! same market state at the same sequence number.

use crate::market::Quote;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Batches a data socket may fall behind before it skips some (≈ 12 s at 20 batches/s); a
/// connection that skips batches still converges, since its next updates are diffs against
/// what it really sent.
pub(crate) const BATCH_BACKLOG: usize = 256;

/// One timer tick's updates of instruments some data socket wants, in market order (an
/// instrument may appear more than once when the market updated it in several rounds).
#[derive(Debug, Clone)]
pub(crate) struct FyersBatch {
    /// The market sequence number after this tick.
    pub seq: u64,
    pub updates: Vec<(usize, Quote)>,
}

/// Broadcasts the wanted part of a tick's `rounds` (instrument index and new quote).
pub(crate) fn publish(
    sender: &broadcast::Sender<Arc<FyersBatch>>,
    seq: u64,
    rounds: &[Vec<(usize, Quote)>],
    wants: impl Fn(usize) -> bool,
) {
    if sender.receiver_count() == 0 {
        return;
    }
    let updates: Vec<(usize, Quote)> = rounds
        .iter()
        .flatten()
        .filter(|(idx, _)| wants(*idx))
        .copied()
        .collect();
    if !updates.is_empty() {
        // An error only means every receiver went away meanwhile.
        let _ = sender.send(Arc::new(FyersBatch { seq, updates }));
    }
}

//! The hub's copy of its tick input for the leader's publisher: every batch the hub has
//! handled is offered to a bounded channel without waiting, so a slow or unreachable Redis
//! never slows the hub; what does not fit is dropped and counted.

use super::TickStats;
use crate::model::tick::Tick;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};

/// How many batches may wait for the publisher: at a batch per upstream frame, about a
/// second of a busy feed.
pub const CAPACITY: usize = 1024;

/// The hub's end.
#[derive(Debug, Clone)]
pub struct TickTap {
    tx: mpsc::Sender<Vec<Tick>>,
    /// Only the leader publishes: a node fed by the relay must not echo what it received.
    leading: watch::Receiver<bool>,
    stats: Arc<TickStats>,
}

/// A tap and the publisher's end of it.
pub fn channel(
    capacity: usize,
    leading: watch::Receiver<bool>,
    stats: Arc<TickStats>,
) -> (TickTap, mpsc::Receiver<Vec<Tick>>) {
    let (tx, rx) = mpsc::channel(capacity);
    (TickTap { tx, leading, stats }, rx)
}

impl crate::hub::TickTap for TickTap {
    /// Hands `batch` to the publisher if this node leads; never waits.
    fn offer(&self, batch: Vec<Tick>) {
        if batch.is_empty() || !*self.leading.borrow() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(b)) = self.tx.try_send(batch) {
            self.stats.dropped_batches.fetch_add(1, Ordering::Relaxed);
            self.stats
                .dropped_ticks
                .fetch_add(b.len() as u64, Ordering::Relaxed);
            metrics::counter!("feedgate_cluster_ticks_dropped_total").increment(b.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::TickTap as _;
    use crate::model::tick::Source;

    fn batch(n: u32) -> Vec<Tick> {
        (0..n)
            .map(|token| Tick {
                token,
                divisor: 100,
                ltp: 1,
                quote: None,
                full: None,
                received_ms: 0,
                src: Source::Ws,
            })
            .collect()
    }

    #[test]
    fn offers_only_while_leading_and_counts_what_does_not_fit() {
        let (leading_tx, leading) = watch::channel(false);
        let stats = Arc::new(TickStats::default());
        let (tap, mut rx) = channel(2, leading, stats.clone());
        tap.offer(batch(3));
        assert!(rx.try_recv().is_err(), "a follower publishes nothing");
        leading_tx.send_replace(true);
        for _ in 0..4 {
            tap.offer(batch(3));
        }
        assert_eq!(rx.try_recv().map(|b| b.len()), Ok(3));
        assert_eq!(rx.try_recv().map(|b| b.len()), Ok(3));
        assert!(rx.try_recv().is_err());
        assert_eq!(stats.dropped_batches.load(Ordering::Relaxed), 2);
        assert_eq!(stats.dropped_ticks.load(Ordering::Relaxed), 6);
    }
}

//! Ticks through Redis (DESIGN.md §9): the leader publishes every batch its hub receives on a
//! pub/sub channel and keeps the latest value per instrument in a hash; every other node
//! subscribes and feeds the batches into its own hub as the upstream would, after loading the
//! hash for snapshots. `codec` is the wire format, `tap` the hub's non-blocking copy of its
//! input, `publish` the leader's side, `relay` the subscriber's.

pub mod codec;
pub mod publish;
pub mod relay;
pub mod tap;

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The channel every batch is published on (the cluster prefix of the lock keys).
pub const CHANNEL: &str = "feedgate:ticks";
/// The hash of latest values: field the token in decimal, value a batch of one tick.
pub const LATEST: &str = "feedgate:latest";

/// Counters of both sides, shown in the health's `cluster.ticks`.
#[derive(Debug, Default)]
pub struct TickStats {
    pub published_batches: AtomicU64,
    pub published_ticks: AtomicU64,
    /// Batches (and their ticks) the publisher could not keep up with.
    pub dropped_batches: AtomicU64,
    pub dropped_ticks: AtomicU64,
    /// Publications Redis did not accept (lost for the edges; the hash is rewritten after).
    pub publish_errors: AtomicU64,
    pub received_batches: AtomicU64,
    pub received_ticks: AtomicU64,
    /// Messages that did not decode (another version, corruption): skipped.
    pub decode_errors: AtomicU64,
    /// The relay holds a live subscription.
    pub subscribed: AtomicBool,
    /// The relay's last attempt failed (it has not subscribed since): `subscribed` alone would
    /// also be false in the first moments after start, before the first attempt answers.
    pub lost: AtomicBool,
}

/// The `cluster.ticks` health section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicksSection {
    pub subscribed: bool,
    pub published_batches: u64,
    pub published_ticks: u64,
    pub dropped_ticks: u64,
    pub publish_errors: u64,
    pub received_batches: u64,
    pub received_ticks: u64,
    pub decode_errors: u64,
}

impl TickStats {
    /// Redis failed the relay and it has not subscribed again since.
    pub fn relay_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn section(&self) -> TicksSection {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TicksSection {
            subscribed: self.subscribed.load(Ordering::Relaxed),
            published_batches: get(&self.published_batches),
            published_ticks: get(&self.published_ticks),
            dropped_ticks: get(&self.dropped_ticks),
            publish_errors: get(&self.publish_errors),
            received_batches: get(&self.received_batches),
            received_ticks: get(&self.received_ticks),
            decode_errors: get(&self.decode_errors),
        }
    }
}

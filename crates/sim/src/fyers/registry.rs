//! Bookkeeping of the Fyers data sockets: open connections (each with the fault injector's
//! control block and its protocol session behind a short lock), how many topics want each
//! instrument (so the market feed only copies what someone reads), and traffic counters for
//! `/_sim/state`. Locks are `std::sync::Mutex` held for a map operation or one session step,
//! never across an `.await`.

use super::socket::session::Session;
use crate::link::{ConnControl, Controlled};
use crate::registry::lock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// An open data socket, as seen from outside its task.
#[derive(Debug)]
pub(crate) struct FyersConn {
    pub id: u64,
    pub control: ConnControl,
    /// The protocol state; the task locks it for one step at a time.
    pub session: Mutex<Session>,
}

impl Controlled for FyersConn {
    fn id(&self) -> u64 {
        self.id
    }

    fn control(&self) -> &ConnControl {
        &self.control
    }
}

/// Topics per instrument across every connection (indexed by universe position).
#[derive(Debug)]
pub(crate) struct FyersDemand {
    counts: Vec<AtomicU32>,
    /// Wakes the feed when a topic is added (it sleeps while nothing is wanted).
    added: Notify,
}

impl FyersDemand {
    pub(crate) fn new(instruments: usize) -> Self {
        Self {
            counts: (0..instruments).map(|_| AtomicU32::new(0)).collect(),
            added: Notify::new(),
        }
    }

    pub(crate) fn add(&self, idx: usize) {
        if let Some(n) = self.counts.get(idx) {
            n.fetch_add(1, Ordering::Relaxed);
            self.added.notify_one();
        }
    }

    /// Completes after the next [`Self::add`] (at once if one came since the last wait).
    pub(crate) async fn changed(&self) {
        self.added.notified().await;
    }

    pub(crate) fn remove(&self, idx: usize) {
        if let Some(n) = self.counts.get(idx) {
            // Saturating: an unbalanced remove must not wrap.
            let _ = n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }

    pub(crate) fn wants(&self, idx: usize) -> bool {
        self.counts
            .get(idx)
            .is_some_and(|n| n.load(Ordering::Relaxed) > 0)
    }
}

/// Counters of the Fyers side (all monotonic).
#[derive(Debug, Default)]
pub(crate) struct FyersCounters {
    pub upgrades_accepted: AtomicU64,
    pub upgrades_refused_reject_ws: AtomicU64,
    pub auth_ok: AtomicU64,
    pub auth_refused: AtomicU64,
    pub auth_ignored: AtomicU64,
    pub frames_sent: AtomicU64,
    pub snapshots_sent: AtomicU64,
    pub updates_sent: AtomicU64,
    pub lite_sent: AtomicU64,
    pub pings_received: AtomicU64,
    pub pongs_sent: AtomicU64,
    pub acks_received: AtomicU64,
    pub ack_violations: AtomicU64,
    pub bad_frames_received: AtomicU64,
    pub batches_skipped: AtomicU64,
    pub malformed_sent: AtomicU64,
    pub symbol_token_requests: AtomicU64,
    pub quote_requests: AtomicU64,
    pub quote_rate_limited: AtomicU64,
    pub quotes_served: AtomicU64,
    /// REST 429s for any reason (rate limit and `rest_429`).
    pub rest_429s: AtomicU64,
    pub flood_pings_sent: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Open connections, demand and counters.
#[derive(Debug)]
pub(crate) struct FyersRegistry {
    conns: Mutex<BTreeMap<u64, Arc<FyersConn>>>,
    next_id: AtomicU64,
    pub demand: FyersDemand,
    pub counters: FyersCounters,
}

impl FyersRegistry {
    pub(crate) fn new(instruments: usize) -> Self {
        Self {
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
            demand: FyersDemand::new(instruments),
            counters: FyersCounters::default(),
        }
    }

    /// Registers a new connection; it stays visible until [`Self::unregister`].
    pub(crate) fn register(&self, session: Session) -> Arc<FyersConn> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = Arc::new(FyersConn {
            id,
            control: ConnControl::default(),
            session: Mutex::new(session),
        });
        lock(&self.conns).insert(id, Arc::clone(&conn));
        conn
    }

    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.conns).remove(&id);
    }

    /// Every open connection, oldest first.
    pub(crate) fn connections(&self) -> Vec<Arc<FyersConn>> {
        lock(&self.conns).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_counts_and_never_underflows() {
        let d = FyersDemand::new(2);
        d.add(1);
        d.add(1);
        d.remove(1);
        assert!(d.wants(1));
        d.remove(1);
        d.remove(1);
        assert!(!d.wants(1));
        d.add(7);
        assert!(!d.wants(7), "out of range is ignored");
    }
}

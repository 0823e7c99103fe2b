//! Shared bookkeeping of the ticker side: open connections (with the control block the fault
//! injector uses to reach each socket), the per-api_key connection count, the aggregate demand
//! per instrument and mode (so the feed only encodes what someone reads), and traffic counters.
//!
//! Locks here are `std::sync::Mutex` held for a map operation, never across an `.await`.

use crate::link::{ConnControl, Controlled};
use crate::state::{ConnectionState, RefusedCounts, Subscription, UpgradeCounts};
use feedgate_kite::Mode;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Kite allows 3 concurrent ticker connections per api_key; the 4th upgrade gets 429.
pub(crate) const MAX_CONNECTIONS_PER_KEY: usize = 3;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// here leaves the data consistent, so a poison flag carries no information worth crashing on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered connection, as seen from outside its task.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub id: u64,
    pub api_key: String,
    pub control: ConnControl,
    /// The task publishes its subscriptions here after every change (for `/_sim/state`).
    pub subscriptions: Mutex<(Vec<Subscription>, usize)>,
    pub ticks: AtomicU64,
    pub frames: AtomicU64,
}

impl ConnHandle {
    pub(crate) fn state(&self, now: Instant) -> ConnectionState {
        let (subscriptions, slots_used) = lock(&self.subscriptions).clone();
        ConnectionState {
            id: self.id,
            api_key: self.api_key.clone(),
            subscriptions,
            slots_used,
            stalled: self.control.is_stalled(now),
            flooding: self.control.is_flooding(now),
            ticks_sent: self.ticks.load(Ordering::Relaxed),
            frames_sent: self.frames.load(Ordering::Relaxed),
        }
    }
}

impl Controlled for ConnHandle {
    fn id(&self) -> u64 {
        self.id
    }

    fn control(&self) -> &ConnControl {
        &self.control
    }
}

/// Traffic and fault counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub ticks_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub batches_skipped: AtomicU64,
    pub upgrades_accepted: AtomicU64,
    pub refused_bad_token: AtomicU64,
    pub refused_too_many: AtomicU64,
    pub refused_reject_ws: AtomicU64,
    pub quote_requests: AtomicU64,
    pub quote_rate_limited: AtomicU64,
    pub quotes_served: AtomicU64,
    pub history_requests: AtomicU64,
    /// REST 429s for any reason (rate limit and `rest_429`).
    pub rest_429s: AtomicU64,
    pub drops: AtomicU64,
    pub stalls: AtomicU64,
    pub token_expiries: AtomicU64,
    pub reject_ws: AtomicU64,
    pub malformed_sent: AtomicU64,
    pub heartbeat_floods: AtomicU64,
    pub flood_heartbeats_sent: AtomicU64,
    /// `rest_429` faults applied.
    pub rest_429_faults: AtomicU64,
    pub clears: AtomicU64,
    /// Order postbacks produced by `POST /_sim/order`.
    pub order_updates: AtomicU64,
    /// The last order sequence number handed out (order ids end with it; a refused request
    /// may leave a gap, never a repeat).
    pub order_seq: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn upgrades(&self) -> UpgradeCounts {
        UpgradeCounts {
            accepted: self.upgrades_accepted.load(Ordering::Relaxed),
            refused: RefusedCounts {
                bad_token: self.refused_bad_token.load(Ordering::Relaxed),
                too_many_connections: self.refused_too_many.load(Ordering::Relaxed),
                reject_ws: self.refused_reject_ws.load(Ordering::Relaxed),
            },
        }
    }
}

/// How many subscriptions want each instrument in each mode (indexed by universe position).
#[derive(Debug)]
pub(crate) struct Demand {
    counts: Vec<[AtomicU32; 3]>,
    /// Wakes the feed when a subscription is added (it sleeps while nothing is wanted).
    added: Notify,
}

fn mode_slot(mode: Mode) -> usize {
    match mode {
        Mode::Ltp => 0,
        Mode::Quote => 1,
        Mode::Full => 2,
    }
}

impl Demand {
    pub(crate) fn new(instruments: usize) -> Self {
        Self {
            counts: (0..instruments).map(|_| Default::default()).collect(),
            added: Notify::new(),
        }
    }

    pub(crate) fn add(&self, idx: usize, mode: Mode) {
        if let Some(slot) = self.counts.get(idx).and_then(|c| c.get(mode_slot(mode))) {
            slot.fetch_add(1, Ordering::Relaxed);
            self.added.notify_one();
        }
    }

    /// Completes after the next [`Self::add`] (at once if one came since the last wait).
    pub(crate) async fn changed(&self) {
        self.added.notified().await;
    }

    pub(crate) fn remove(&self, idx: usize, mode: Mode) {
        if let Some(slot) = self.counts.get(idx).and_then(|c| c.get(mode_slot(mode))) {
            // Saturating: an unbalanced remove must not wrap to "wanted by 4 billion".
            let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    pub(crate) fn wants(&self, idx: usize, mode: Mode) -> bool {
        self.counts
            .get(idx)
            .and_then(|c| c.get(mode_slot(mode)))
            .is_some_and(|n| n.load(Ordering::Relaxed) > 0)
    }

    pub(crate) fn any(&self, idx: usize) -> bool {
        [Mode::Ltp, Mode::Quote, Mode::Full]
            .into_iter()
            .any(|m| self.wants(idx, m))
    }
}

#[derive(Debug, Default)]
struct Inner {
    conns: BTreeMap<u64, Arc<ConnHandle>>,
    per_key: HashMap<String, usize>,
    next_id: u64,
}

/// Connections, demand and counters.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    pub demand: Demand,
    pub counters: Counters,
}

impl Registry {
    pub(crate) fn new(instruments: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::default(),
            demand: Demand::new(instruments),
            counters: Counters::default(),
        })
    }

    /// Reserves one of the api_key's connection slots, or `None` when all are taken. The slot
    /// is held by the returned lease until it is dropped (connection closed or upgrade failed).
    pub(crate) fn reserve(self: &Arc<Self>, api_key: &str) -> Option<ConnLease> {
        let mut inner = lock(&self.inner);
        let used = inner.per_key.entry(api_key.to_owned()).or_insert(0);
        if *used >= MAX_CONNECTIONS_PER_KEY {
            return None;
        }
        *used += 1;
        inner.next_id += 1;
        let handle = Arc::new(ConnHandle {
            id: inner.next_id,
            api_key: api_key.to_owned(),
            control: ConnControl::default(),
            subscriptions: Mutex::default(),
            ticks: AtomicU64::new(0),
            frames: AtomicU64::new(0),
        });
        Some(ConnLease {
            registry: Arc::clone(self),
            handle,
            registered: false,
        })
    }

    /// Every open connection, oldest first.
    pub(crate) fn connections(&self) -> Vec<Arc<ConnHandle>> {
        lock(&self.inner).conns.values().cloned().collect()
    }

    fn release(&self, handle: &ConnHandle, registered: bool) {
        let mut inner = lock(&self.inner);
        if registered {
            inner.conns.remove(&handle.id);
        }
        if let Some(used) = inner.per_key.get_mut(&handle.api_key) {
            *used = used.saturating_sub(1);
            if *used == 0 {
                inner.per_key.remove(&handle.api_key);
            }
        }
    }
}

/// A reserved connection slot; registered (visible to faults and `/_sim/state`) once the
/// WebSocket is up. Dropping it frees the slot and unregisters the connection.
#[derive(Debug)]
pub(crate) struct ConnLease {
    registry: Arc<Registry>,
    handle: Arc<ConnHandle>,
    registered: bool,
}

impl ConnLease {
    pub(crate) fn activate(&mut self) -> Arc<ConnHandle> {
        if !self.registered {
            lock(&self.registry.inner)
                .conns
                .insert(self.handle.id, Arc::clone(&self.handle));
            self.registered = true;
        }
        Arc::clone(&self.handle)
    }

    pub(crate) fn handle(&self) -> &Arc<ConnHandle> {
        &self.handle
    }
}

impl Drop for ConnLease {
    fn drop(&mut self) {
        self.registry.release(&self.handle, self.registered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourth_connection_per_key_is_refused_until_one_closes() {
        let reg = Registry::new(1);
        let mut leases: Vec<_> = (0..3).map(|_| reg.reserve("k").unwrap()).collect();
        assert!(reg.reserve("k").is_none());
        assert!(reg.reserve("other").is_some(), "limits are per api_key");
        for lease in &mut leases {
            lease.activate();
        }
        assert_eq!(reg.connections().len(), 3);
        leases.pop();
        assert_eq!(reg.connections().len(), 2);
        assert!(reg.reserve("k").is_some());
    }

    #[test]
    fn an_unactivated_lease_frees_its_slot() {
        let reg = Registry::new(1);
        let leases: Vec<_> = (0..3).map(|_| reg.reserve("k").unwrap()).collect();
        drop(leases);
        assert!(reg.reserve("k").is_some());
        assert!(reg.connections().is_empty());
    }

    #[test]
    fn demand_counts_per_mode_and_never_underflows() {
        let d = Demand::new(2);
        d.add(0, Mode::Full);
        d.add(0, Mode::Full);
        assert!(d.wants(0, Mode::Full) && !d.wants(0, Mode::Quote) && d.any(0));
        d.remove(0, Mode::Full);
        assert!(d.wants(0, Mode::Full));
        d.remove(0, Mode::Full);
        d.remove(0, Mode::Full);
        assert!(!d.any(0));
        d.add(0, Mode::Ltp);
        assert!(d.wants(0, Mode::Ltp));
        d.add(9, Mode::Ltp);
        assert!(!d.any(9), "out of range is ignored");
    }
}

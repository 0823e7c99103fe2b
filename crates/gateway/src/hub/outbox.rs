//! A client's outbox: what the hub has for one client and the client's task has not written
//! yet. Two parts, one lock:
//!
//! - an **immediate** queue for replies, status messages and snapshots, written as soon as the
//!   client task wakes (bounded in bytes: a client that cannot take even these is told why and
//!   disconnected, never silently starved);
//! - a **conflating** set of slots, one per subscribed instrument, each holding the newest
//!   encoded tick not yet written. The hub only ever *replaces* a slot, so a client that reads
//!   slowly receives fewer, fresher updates and can never make the hub (or anyone else) wait.
//!
//! The lock is a `std::sync::Mutex`: every critical section is a few pointer moves and none
//! spans an `.await` (the same choice, for the same reason, as mini-redis's `Db`).

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Index of a conflation slot inside one outbox (one per subscribed instrument).
pub type Slot = u32;

/// The client's immediate queue is over its byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client outbox over its {limit} byte budget; the client is not reading")]
pub struct Overflow {
    pub limit: usize,
}

/// What a conflation slot holds: an encoded tick, shared by every subscriber of its mode. A
/// JSON client's ticks are text ([`Utf8Bytes`]); a `/kite` client's are Kite packet bodies
/// ([`Bytes`]), which its task gathers into frames.
pub trait Payload: Clone + Send + Sync + std::fmt::Debug + 'static {}

impl Payload for Utf8Bytes {}
impl Payload for Bytes {}

#[derive(Debug)]
enum Cell<T> {
    /// Released by an unsubscribe; late ticks for it are ignored.
    Free,
    /// Subscribed, nothing undelivered.
    Idle,
    /// Subscribed, the newest undelivered tick.
    Pending(T),
}

#[derive(Debug)]
struct State<T> {
    immediate: VecDeque<Utf8Bytes>,
    immediate_bytes: usize,
    slots: Vec<Cell<T>>,
    free: Vec<Slot>,
    /// Slots holding a value, in the order they first became dirty.
    dirty: Vec<Slot>,
    /// When the oldest undelivered tick was handed over by the hub (for the latency metric).
    /// `None` whenever `dirty` is empty.
    pending_since: Option<Instant>,
    overflowed: bool,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        Self {
            immediate: VecDeque::new(),
            immediate_bytes: 0,
            slots: Vec::new(),
            free: Vec::new(),
            dirty: Vec::new(),
            pending_since: None,
            overflowed: false,
        }
    }
}

impl<T> State<T> {
    /// `slot` no longer holds a tick. When no slot does, nothing is waiting, so nothing is old:
    /// the next tick starts the latency clock afresh.
    fn forget_dirty(&mut self, slot: Slot) {
        self.dirty.retain(|s| *s != slot);
        if self.dirty.is_empty() {
            self.pending_since = None;
        }
    }
}

/// See the module docs. Immediate messages are always text; ticks are `T`.
#[derive(Debug)]
pub struct Outbox<T = Utf8Bytes> {
    state: Mutex<State<T>>,
    notify: Notify,
    immediate_limit: usize,
}

/// What one drain took out of the outbox, in write order: immediate messages first.
#[derive(Debug)]
pub struct Drained<T = Utf8Bytes> {
    pub immediate: Vec<Utf8Bytes>,
    pub ticks: Vec<T>,
    /// When the oldest of `ticks` reached the outbox.
    pub since: Option<Instant>,
}

impl<T> Default for Drained<T> {
    fn default() -> Self {
        Self {
            immediate: Vec::new(),
            ticks: Vec::new(),
            since: None,
        }
    }
}

impl<T> Drained<T> {
    pub fn is_empty(&self) -> bool {
        self.immediate.is_empty() && self.ticks.is_empty()
    }

    pub fn clear(&mut self) {
        self.immediate.clear();
        self.ticks.clear();
        self.since = None;
    }
}

impl Outbox {
    /// A JSON client's outbox.
    pub fn new(immediate_limit: usize) -> Self {
        Self::with_immediate_limit(immediate_limit)
    }
}

impl<T: Payload> Outbox<T> {
    pub fn with_immediate_limit(immediate_limit: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            immediate_limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A poisoned lock means a panic while holding it; the state is plain data that is
        // valid after any partial update, so keep serving rather than cascade the panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many bytes of immediate messages may wait at once.
    pub fn immediate_limit(&self) -> usize {
        self.immediate_limit
    }

    /// Queues a message to be written before any pending tick.
    pub fn push_immediate(&self, msg: Utf8Bytes) -> Result<(), Overflow> {
        let mut st = self.lock();
        if st.overflowed {
            return Err(Overflow {
                limit: self.immediate_limit,
            });
        }
        if st.immediate_bytes + msg.len() > self.immediate_limit && !st.immediate.is_empty() {
            st.overflowed = true;
            drop(st);
            self.notify.notify_one();
            return Err(Overflow {
                limit: self.immediate_limit,
            });
        }
        st.immediate_bytes += msg.len();
        st.immediate.push_back(msg);
        drop(st);
        self.notify.notify_one();
        Ok(())
    }

    /// Queues the snapshot of `slot`'s instrument (on subscribe or a mode change) as an
    /// immediate message and drops the slot's undelivered tick: that tick is older and may be
    /// in the old mode, so written after the snapshot it would undo it (a depth panel flickering
    /// back).
    pub fn push_snapshot(&self, slot: Slot, msg: Utf8Bytes) -> Result<(), Overflow> {
        {
            let mut st = self.lock();
            if let Some(cell @ Cell::Pending(_)) = st.slots.get_mut(slot as usize) {
                *cell = Cell::Idle;
                st.forget_dirty(slot);
            }
        }
        self.push_immediate(msg)
    }

    /// Drops `slot`'s undelivered tick, if any (a resume replays it in order instead).
    pub fn drop_pending(&self, slot: Slot) {
        let mut st = self.lock();
        if let Some(cell @ Cell::Pending(_)) = st.slots.get_mut(slot as usize) {
            *cell = Cell::Idle;
            st.forget_dirty(slot);
        }
    }

    /// Stores the newest tick for `slot`, replacing an undelivered older one. Returns `true`
    /// when it replaced one (conflation happened). `at` is when the hub received the tick (one
    /// reading per batch, so the hot path does not read the clock per client).
    pub fn push_tick(&self, slot: Slot, msg: T, at: Instant) -> bool {
        let mut st = self.lock();
        match st.slots.get_mut(slot as usize) {
            // Unknown or released slot (an unsubscribe won the race): nothing to deliver.
            None | Some(Cell::Free) => return false,
            Some(Cell::Pending(old)) => {
                *old = msg;
                return true;
            }
            Some(cell @ Cell::Idle) => *cell = Cell::Pending(msg),
        }
        st.dirty.push(slot);
        if st.pending_since.is_none() {
            st.pending_since = Some(at);
        }
        let first = st.dirty.len() == 1 && st.immediate.is_empty();
        drop(st);
        if first {
            self.notify.notify_one();
        }
        false
    }

    /// Reserves a conflation slot for a newly subscribed instrument.
    pub fn alloc_slot(&self) -> Slot {
        let mut st = self.lock();
        if let Some(slot) = st.free.pop() {
            if let Some(cell) = st.slots.get_mut(slot as usize) {
                *cell = Cell::Idle;
            }
            return slot;
        }
        st.slots.push(Cell::Idle);
        // Slots are bounded by the per-client symbol limit (thousands), far below u32::MAX.
        u32::try_from(st.slots.len() - 1).unwrap_or(u32::MAX)
    }

    /// Releases a slot after an unsubscribe, dropping any undelivered tick in it.
    pub fn free_slot(&self, slot: Slot) {
        let mut st = self.lock();
        let Some(cell) = st.slots.get_mut(slot as usize) else {
            return;
        };
        match std::mem::replace(cell, Cell::Free) {
            Cell::Free => {} // already free: never push it twice
            Cell::Idle => st.free.push(slot),
            Cell::Pending(_) => {
                st.forget_dirty(slot);
                st.free.push(slot);
            }
        }
    }

    /// Moves everything pending into `out` (immediate first, then — when `ticks` is true — the
    /// pending ticks in the order they became pending). Returns `Err` once the immediate queue
    /// has overflowed.
    pub fn drain_into(&self, out: &mut Drained<T>, ticks: bool) -> Result<(), Overflow> {
        let mut st = self.lock();
        if st.overflowed {
            return Err(Overflow {
                limit: self.immediate_limit,
            });
        }
        out.immediate.extend(st.immediate.drain(..));
        st.immediate_bytes = 0;
        if !ticks {
            return Ok(());
        }
        out.since = st.pending_since.take().or(out.since);
        let State { slots, dirty, .. } = &mut *st;
        for slot in dirty.drain(..) {
            if let Some(cell) = slots.get_mut(slot as usize)
                && let Cell::Pending(msg) = std::mem::replace(cell, Cell::Idle)
            {
                out.ticks.push(msg);
            }
        }
        Ok(())
    }

    /// True when ticks (not only immediate messages) are waiting.
    pub fn has_pending_ticks(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    /// Resolves when something was pushed since the last call (or a permit is stored).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Utf8Bytes {
        Utf8Bytes::from(s.to_string())
    }

    fn texts(v: &[Utf8Bytes]) -> Vec<&str> {
        v.iter().map(|b| b.as_str()).collect()
    }

    /// True when something is waiting to be written.
    fn has_pending(ob: &Outbox) -> bool {
        let st = ob.lock();
        st.overflowed || !st.immediate.is_empty() || !st.dirty.is_empty()
    }

    #[test]
    fn newest_tick_replaces_undelivered_one() {
        let ob = Outbox::new(1024);
        let a = ob.alloc_slot();
        let b = ob.alloc_slot();
        assert!(!ob.push_tick(a, m("a1"), Instant::now()));
        assert!(!ob.push_tick(b, m("b1"), Instant::now()));
        assert!(ob.push_tick(a, m("a2"), Instant::now()));
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(texts(&d.ticks), ["a2", "b1"]);
        assert!(!has_pending(&ob));
    }

    #[test]
    fn immediate_messages_come_first() {
        let ob = Outbox::new(1024);
        let a = ob.alloc_slot();
        ob.push_tick(a, m("tick"), Instant::now());
        ob.push_immediate(m("ack")).unwrap();
        let mut d = Drained::default();
        ob.drain_into(&mut d, false).unwrap();
        assert_eq!(texts(&d.immediate), ["ack"]);
        assert!(d.ticks.is_empty(), "ticks stay while throttled");
        assert!(ob.has_pending_ticks());
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(texts(&d.ticks), ["tick"]);
    }

    #[test]
    fn freed_slot_drops_pending_tick_and_is_reused() {
        let ob = Outbox::new(1024);
        let a = ob.alloc_slot();
        ob.push_tick(a, m("x"), Instant::now());
        ob.free_slot(a);
        assert!(!has_pending(&ob));
        ob.push_tick(a, m("late"), Instant::now());
        assert!(!has_pending(&ob), "a released slot ignores late ticks");
        ob.free_slot(a); // double free is harmless
        let b = ob.alloc_slot();
        assert_eq!(a, b, "freed slots are reused");
        assert_ne!(ob.alloc_slot(), b, "and handed out once");
    }

    /// The latency sample is the age of the oldest tick written: a tick dropped before it was
    /// written (unsubscribe, or superseded by a snapshot) must not age the next one.
    #[tokio::test(start_paused = true)]
    async fn pending_since_restarts_when_nothing_is_pending() {
        let ob = Outbox::new(1024);
        let a = ob.alloc_slot();
        let b = ob.alloc_slot();
        ob.push_tick(a, m("a"), Instant::now());
        ob.free_slot(a);
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        let t1 = Instant::now();
        ob.push_tick(b, m("b"), t1);
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(d.since, Some(t1), "not the freed tick's time");

        d.clear();
        ob.push_tick(b, m("b2"), Instant::now());
        ob.push_snapshot(b, m("snap")).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        let t2 = Instant::now();
        ob.push_tick(b, m("b3"), t2);
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(d.since, Some(t2));
        assert_eq!(texts(&d.immediate), ["snap"]);
        assert_eq!(texts(&d.ticks), ["b3"]);
    }

    #[test]
    fn snapshot_drops_the_older_pending_tick_of_its_slot() {
        let ob = Outbox::new(1024);
        let a = ob.alloc_slot();
        let b = ob.alloc_slot();
        ob.push_tick(a, m("a-old-mode"), Instant::now());
        ob.push_tick(b, m("b"), Instant::now());
        ob.push_snapshot(a, m("a-snapshot")).unwrap();
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(texts(&d.immediate), ["a-snapshot"]);
        assert_eq!(texts(&d.ticks), ["b"], "nothing of a after its snapshot");
        ob.push_tick(a, m("a-new"), Instant::now());
        d.clear();
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(texts(&d.ticks), ["a-new"], "the slot stays subscribed");
    }

    #[test]
    fn tick_for_unknown_slot_is_ignored() {
        let ob = Outbox::new(1024);
        assert!(!ob.push_tick(7, m("x"), Instant::now()));
        assert!(!has_pending(&ob));
    }

    #[test]
    fn immediate_queue_is_bounded() {
        let ob = Outbox::new(10);
        ob.push_immediate(m("12345678")).unwrap();
        assert!(ob.push_immediate(m("123")).is_err());
        assert!(ob.push_immediate(m("1")).is_err(), "stays overflowed");
        let mut d = Drained::default();
        assert!(ob.drain_into(&mut d, true).is_err());
    }

    #[test]
    fn one_oversized_message_fits_an_empty_queue() {
        // A snapshot bigger than the budget must still go out when nothing else is queued.
        let ob = Outbox::new(4);
        ob.push_immediate(m("0123456789")).unwrap();
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        assert_eq!(
            texts(&d.immediate),
            ["0123456789"],
            "whole, and not an overflow"
        );
        // Drained, the queue is empty again: the next oversized one fits too, but not a
        // second one behind it.
        ob.push_immediate(m("abcdefghij")).unwrap();
        assert!(ob.push_immediate(m("k")).is_err());
    }

    proptest::proptest! {
        /// Whatever the interleaving of pushes, a drain yields exactly the newest value of
        /// every dirty slot, each once.
        #[test]
        fn drain_yields_newest_per_slot(pushes in proptest::collection::vec((0u32..8, 0u32..1000), 0..200)) {
            let ob = Outbox::new(1 << 20);
            for _ in 0..8 { ob.alloc_slot(); }
            let mut newest = std::collections::BTreeMap::new();
            for (slot, v) in &pushes {
                ob.push_tick(*slot, Utf8Bytes::from(format!("{slot}:{v}")), Instant::now());
                newest.insert(*slot, format!("{slot}:{v}"));
            }
            let mut d = Drained::default();
            ob.drain_into(&mut d, true).unwrap();
            let mut got: Vec<String> = d.ticks.iter().map(|b| b.as_str().to_string()).collect();
            got.sort();
            let mut want: Vec<String> = newest.into_values().collect();
            want.sort();
            proptest::prop_assert_eq!(got, want);
        }
    }
}

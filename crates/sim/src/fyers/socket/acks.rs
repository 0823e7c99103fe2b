//! Data-frame acknowledgement bookkeeping on the server side (spec §6.5): with `ack_count` n
//! > 0, the client owes an ack for every data frame whose message number is a multiple of n
//! (it acks the n-th frame it receives, and numbering starts at 1). An enforcing server gives
//! up on a client that is two ack periods behind — the second-oldest owed ack older than
//! [`ACK_DEADLINE`] — so a client whose count is off by one frame (e.g. it counted a garbage
//! frame) is tolerated. Pure; time is passed in.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// How long a client may stay two ack periods behind before an enforcing server gives up.
pub(crate) const ACK_DEADLINE: Duration = Duration::from_secs(10);

/// One connection's ack state.
#[derive(Debug, Clone)]
pub(crate) struct AckTracker {
    ack_count: u32,
    enforce: bool,
    last_ack: Option<u32>,
    received: u64,
    /// Message numbers the client owes an ack for, with when they were sent.
    due: VecDeque<(u32, Instant)>,
}

impl AckTracker {
    pub(crate) fn new(ack_count: u32, enforce: bool) -> Self {
        Self {
            ack_count,
            enforce: enforce && ack_count > 0,
            last_ack: None,
            received: 0,
            due: VecDeque::new(),
        }
    }

    pub(crate) fn ack_count(&self) -> u32 {
        self.ack_count
    }

    /// Highest message number acknowledged.
    pub(crate) fn last_ack(&self) -> Option<u32> {
        self.last_ack
    }

    /// Acks received.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Records that data frame `number` was sent at `now`.
    pub(crate) fn sent(&mut self, number: u32, now: Instant) {
        if self.ack_count > 0 && number.is_multiple_of(self.ack_count) {
            self.due.push_back((number, now));
        }
    }

    /// Records an ack: it settles every owed ack up to `number`.
    pub(crate) fn acked(&mut self, number: u32) {
        self.received += 1;
        self.last_ack = Some(self.last_ack.map_or(number, |last| last.max(number)));
        while self.due.front().is_some_and(|(n, _)| *n <= number) {
            self.due.pop_front();
        }
    }

    /// When the client will be too far behind, if acks are enforced and two are owed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if !self.enforce {
            return None;
        }
        self.due.get(1).map(|(_, sent)| *sent + ACK_DEADLINE)
    }

    /// Whether the client is too far behind at `now`.
    pub(crate) fn overdue(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| deadline <= now)
    }

    /// Restarts the clock of every owed ack (after a stall, when the client could not be heard).
    pub(crate) fn restart(&mut self, now: Instant) {
        for (_, sent) in &mut self.due {
            *sent = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn owed_acks_and_the_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut acks = AckTracker::new(2, true);
        for n in 1..=3 {
            acks.sent(n, t0);
        }
        assert_eq!(acks.deadline(), None, "one owed ack is tolerated");
        acks.sent(4, t0 + s(1));
        assert_eq!(acks.deadline(), Some(t0 + s(1) + ACK_DEADLINE));
        assert!(!acks.overdue(t0 + s(10)));
        assert!(acks.overdue(t0 + s(11)));
        // A late ack for frame 3 (off by one) settles frame 2 only: still one owed, tolerated.
        acks.acked(3);
        assert_eq!(acks.deadline(), None);
        assert_eq!((acks.last_ack(), acks.received()), (Some(3), 1));
        acks.acked(1);
        assert_eq!(acks.last_ack(), Some(3), "the highest ack is kept");
        acks.sent(6, t0 + s(2));
        acks.restart(t0 + s(30));
        assert_eq!(acks.deadline(), Some(t0 + s(30) + ACK_DEADLINE));
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_without_enforcement_or_acks() {
        let t0 = Instant::now();
        for (count, enforce) in [(2, false), (0, true)] {
            let mut acks = AckTracker::new(count, enforce);
            for n in 1..=10 {
                acks.sent(n, t0);
            }
            assert_eq!(acks.deadline(), None, "{count} {enforce}");
        }
    }
}

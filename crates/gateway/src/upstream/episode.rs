//! Failure episodes of one broker connection, for its logs (pure; the connection loop owns
//! one). An episode starts with the first failure after a healthy connection and ends once a
//! connection has stayed up for `healthy_after`, the same rule that resets the backoff. Within
//! an episode each kind of failure is logged once, the REST fallback is announced once, and
//! the routine lines of every reconnect (connected, subscribed) drop to debug: a feed that
//! keeps connecting and stalling logs a few lines, not a few per cycle. Not the state shown in
//! health: the shard status follows every change.

use crate::upstream::state::FailureKind;

#[derive(Debug, Default)]
pub struct Episode {
    /// The kinds of failure seen so far; empty when no episode is under way.
    kinds: Vec<FailureKind>,
    failures: u64,
    fallback_announced: bool,
    reconnect_announced: bool,
}

impl Episode {
    pub fn is_active(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// Records a failure. `true` when its kind is new in this episode (log it as a warning;
    /// repeats go to debug).
    pub fn fail(&mut self, kind: FailureKind) -> bool {
        self.failures += 1;
        if self.kinds.contains(&kind) {
            false
        } else {
            self.kinds.push(kind);
            true
        }
    }

    /// The REST fallback is wanted. `true` the first time in this episode (announce it).
    pub fn want_fallback(&mut self) -> bool {
        !std::mem::replace(&mut self.fallback_announced, true)
    }

    /// A connection is back and subscribed. `true` the first time in this episode: say so at
    /// INFO, so that a log reader sees the outcome of "lost; reconnecting" at once rather than
    /// only when the connection has also stayed up for `healthy_after`.
    pub fn reconnected(&mut self) -> bool {
        !std::mem::replace(&mut self.reconnect_announced, true)
    }

    /// Failures so far in this episode.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The connection has been healthy long enough, or the feed was stopped: the episode is
    /// over. Returns how many failures it had, if one was under way.
    pub fn end(&mut self) -> Option<u64> {
        let active = self.is_active();
        let failures = self.failures;
        *self = Self::default();
        active.then_some(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_once_per_episode_and_the_fallback_once() {
        let mut e = Episode::default();
        assert!(!e.is_active());
        let steps = [
            (FailureKind::Stale, true),
            (FailureKind::Stale, false),
            (FailureKind::Upgrade(403), true),
            (FailureKind::Stale, false),
            (FailureKind::Upgrade(403), false),
            (FailureKind::Upgrade(429), true),
        ];
        for (kind, log) in steps {
            assert_eq!(e.fail(kind), log, "{kind:?}");
        }
        assert!(e.is_active());
        assert!(e.want_fallback());
        assert!(!e.want_fallback());
        assert!(e.reconnected());
        assert!(!e.reconnected(), "one reconnect line per episode");
        assert_eq!(e.failures(), 6);
        assert_eq!(e.end(), Some(6));
        assert_eq!(e.end(), None);
        assert!(e.fail(FailureKind::Stale), "a new episode logs again");
        assert!(e.want_fallback(), "and announces the fallback again");
        assert!(e.reconnected(), "and its reconnect");
    }
}

//! One ticker connection's subscription table, as the Kite server keeps it: `subscribe` puts
//! tokens in `quote` mode, `mode` switches subscribed tokens, `unsubscribe` removes them, and
//! every subscribed token (duplicates included, kite.md §2) uses one of 3000 slots. Pure.

use crate::state::Subscription;
use feedgate_kite::Mode;
use std::collections::HashMap;

/// Subscription slots per connection (kite.md §9).
pub(crate) const MAX_SLOTS: usize = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    mode: Mode,
    /// Slots this token uses (1 + duplicate subscribes).
    slots: usize,
    /// Market sequence of the snapshot last sent for this token: older batches are skipped
    /// so that a client never sees an instrument go back in time.
    from_seq: u64,
}

/// The outcome of a `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Subscribed {
    /// Tokens that were not subscribed before (each once, in request order).
    pub added: Vec<u32>,
    /// Tokens ignored because the connection's slots ran out.
    pub over_limit: usize,
}

/// A connection's subscriptions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscriptions {
    entries: HashMap<u32, Entry>,
    slots_used: usize,
}

impl Subscriptions {
    pub(crate) fn subscribe(&mut self, tokens: &[u32]) -> Subscribed {
        let mut out = Subscribed::default();
        for &token in tokens {
            if self.slots_used >= MAX_SLOTS {
                out.over_limit += 1;
                continue;
            }
            self.slots_used += 1;
            match self.entries.get_mut(&token) {
                Some(entry) => entry.slots += 1,
                None => {
                    self.entries.insert(
                        token,
                        Entry {
                            mode: Mode::Quote,
                            slots: 1,
                            from_seq: 0,
                        },
                    );
                    out.added.push(token);
                }
            }
        }
        out
    }

    /// Sets `mode` on the subscribed tokens among `tokens` (others are ignored). Returns each
    /// affected token once with its previous mode.
    pub(crate) fn set_mode(&mut self, mode: Mode, tokens: &[u32]) -> Vec<(u32, Mode)> {
        let mut changed = Vec::new();
        for &token in tokens {
            if let Some(entry) = self.entries.get_mut(&token) {
                if !changed.iter().any(|(t, _)| *t == token) {
                    changed.push((token, entry.mode));
                }
                entry.mode = mode;
            }
        }
        changed
    }

    /// Removes the subscribed tokens among `tokens`, freeing their slots. Returns each removed
    /// token with its mode.
    pub(crate) fn unsubscribe(&mut self, tokens: &[u32]) -> Vec<(u32, Mode)> {
        tokens
            .iter()
            .filter_map(|token| {
                let entry = self.entries.remove(token)?;
                self.slots_used = self.slots_used.saturating_sub(entry.slots);
                Some((*token, entry.mode))
            })
            .collect()
    }

    /// Everything, for releasing demand when the connection ends.
    pub(crate) fn drain(&mut self) -> Vec<(u32, Mode)> {
        self.slots_used = 0;
        self.entries.drain().map(|(t, e)| (t, e.mode)).collect()
    }

    /// Records that a snapshot at market sequence `seq` was sent for `tokens`.
    pub(crate) fn snapshot_sent(&mut self, tokens: &[u32], seq: u64) {
        for token in tokens {
            if let Some(entry) = self.entries.get_mut(token) {
                entry.from_seq = seq;
            }
        }
    }

    /// The token's mode, if a batch with sequence `seq` should reach this connection for it.
    pub(crate) fn wants(&self, token: u32, seq: u64) -> Option<Mode> {
        self.entries
            .get(&token)
            .filter(|e| seq > e.from_seq)
            .map(|e| e.mode)
    }

    pub(crate) fn mode(&self, token: u32) -> Option<Mode> {
        self.entries.get(&token).map(|e| e.mode)
    }

    /// Sorted subscriptions and the slots used, for `/_sim/state`.
    pub(crate) fn summary(&self) -> (Vec<Subscription>, usize) {
        let mut subs: Vec<Subscription> = self
            .entries
            .iter()
            .map(|(token, e)| Subscription {
                token: *token,
                mode: e.mode,
            })
            .collect();
        subs.sort_unstable_by_key(|s| s.token);
        (subs, self.slots_used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subscribe_defaults_to_quote_and_reports_new_tokens_once() {
        let mut s = Subscriptions::default();
        let out = s.subscribe(&[1, 2, 2, 3]);
        assert_eq!(out.added, vec![1, 2, 3]);
        assert_eq!(out.over_limit, 0);
        assert_eq!(s.mode(2), Some(Mode::Quote));
        assert_eq!(s.summary().1, 4, "duplicates use slots");
        let again = s.subscribe(&[1, 4]);
        assert_eq!(again.added, vec![4]);
    }

    #[test]
    fn mode_applies_only_to_subscribed_tokens() {
        let mut s = Subscriptions::default();
        s.subscribe(&[1, 2]);
        let changed = s.set_mode(Mode::Full, &[2, 2, 9]);
        assert_eq!(changed, vec![(2, Mode::Quote)]);
        assert_eq!(s.mode(2), Some(Mode::Full));
        assert_eq!(s.mode(9), None);
    }

    #[test]
    fn unsubscribe_frees_all_slots_of_a_token() {
        let mut s = Subscriptions::default();
        s.subscribe(&[1, 1, 1, 2]);
        assert_eq!(s.unsubscribe(&[1, 7]), vec![(1, Mode::Quote)]);
        assert_eq!(s.summary().1, 1);
        assert_eq!(s.drain(), vec![(2, Mode::Quote)]);
        assert_eq!(s.summary(), (vec![], 0));
    }

    #[test]
    fn cap_ignores_the_excess() {
        let mut s = Subscriptions::default();
        let tokens: Vec<u32> = (0..3_010).collect();
        let out = s.subscribe(&tokens);
        assert_eq!(out.added.len(), MAX_SLOTS);
        assert_eq!(out.over_limit, 10);
        assert_eq!(s.subscribe(&[1]).over_limit, 1, "duplicates need slots too");
        s.unsubscribe(&[0]);
        assert_eq!(s.subscribe(&[5_000]).added, vec![5_000]);
    }

    #[test]
    fn batches_older_than_the_snapshot_are_skipped() {
        let mut s = Subscriptions::default();
        s.subscribe(&[1]);
        s.snapshot_sent(&[1], 10);
        assert_eq!(s.wants(1, 10), None);
        assert_eq!(s.wants(1, 11), Some(Mode::Quote));
        assert_eq!(s.wants(2, 11), None);
    }

    proptest! {
        #[test]
        fn slots_equal_the_sum_of_entries(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(0u32..50, 0..20)), 0..60)) {
            let mut s = Subscriptions::default();
            for (op, tokens) in ops {
                match op {
                    0 => { s.subscribe(&tokens); }
                    1 => { s.unsubscribe(&tokens); }
                    _ => { s.set_mode(Mode::Full, &tokens); }
                }
                let sum: usize = s.entries.values().map(|e| e.slots).sum();
                prop_assert_eq!(sum, s.slots_used);
                prop_assert!(s.slots_used <= MAX_SLOTS);
            }
        }
    }
}

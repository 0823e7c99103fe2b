//! Splitting the demand across broker connections (pure). Kite allows 3000 instruments per
//! socket and 3 sockets per api_key. Assignment is sticky: an instrument stays on its socket
//! while it is wanted, so adding one instrument never resubscribes the others elsewhere.

use crate::model::demand::Demand;
use crate::model::tick::{Mode, Token};
use std::collections::BTreeMap;

/// Per-shard demand plus what could not be placed anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub shards: Vec<Demand>,
    /// Tokens over the total capacity (cap × max shards), in token order.
    pub overflow: Vec<Token>,
}

/// Assigns `demand` to at most `max_shards` shards of at most `cap` instruments, keeping every
/// token that is still wanted on the shard it was on in `prev`. Shard 0 always exists (it
/// carries the connection even when nothing is subscribed); trailing empty shards are dropped.
pub fn assign(demand: &Demand, prev: &[Demand], cap: usize, max_shards: usize) -> Assignment {
    let cap = cap.max(1);
    let max_shards = max_shards.max(1);
    let mut shards: Vec<BTreeMap<Token, Mode>> = vec![BTreeMap::new(); max_shards];
    let mut placed: BTreeMap<Token, ()> = BTreeMap::new();
    for (i, old) in prev.iter().enumerate().take(max_shards) {
        for token in old.keys() {
            if let Some(mode) = demand.get(token)
                && shards[i].len() < cap
            {
                shards[i].insert(*token, *mode);
                placed.insert(*token, ());
            }
        }
    }
    let mut overflow = Vec::new();
    for (token, mode) in demand {
        if placed.contains_key(token) {
            continue;
        }
        match shards.iter_mut().find(|s| s.len() < cap) {
            Some(s) => {
                s.insert(*token, *mode);
            }
            None => overflow.push(*token),
        }
    }
    while shards.len() > 1 && shards.last().is_some_and(BTreeMap::is_empty) {
        shards.pop();
    }
    Assignment { shards, overflow }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(tokens: impl IntoIterator<Item = u32>) -> Demand {
        tokens.into_iter().map(|t| (t, Mode::Quote)).collect()
    }

    #[test]
    fn fills_shards_up_to_the_cap() {
        let a = assign(&demand(1..=3001), &[], 3000, 3);
        assert_eq!(a.shards.len(), 2);
        assert_eq!(a.shards[0].len(), 3000);
        assert_eq!(a.shards[1].keys().copied().collect::<Vec<_>>(), [3001]);
        assert!(a.overflow.is_empty());
    }

    #[test]
    fn empty_demand_keeps_one_shard() {
        let a = assign(&Demand::new(), &[], 3000, 3);
        assert_eq!(a.shards, vec![Demand::new()]);
    }

    #[test]
    fn overflow_beyond_total_capacity_is_reported() {
        let a = assign(&demand(1..=10), &[], 3, 3);
        assert_eq!(a.shards.iter().map(BTreeMap::len).sum::<usize>(), 9);
        assert_eq!(a.overflow, [10]);
    }

    #[test]
    fn assignment_is_sticky() {
        let first = assign(&demand([10, 20, 30, 40]), &[], 2, 3);
        assert_eq!(first.shards.len(), 2);
        // 10 leaves; 5 arrives. 20 must stay where it was; 5 fills the hole on shard 0.
        let second = assign(&demand([5, 20, 30, 40]), &first.shards, 2, 3);
        assert!(second.shards[0].contains_key(&20));
        assert!(second.shards[0].contains_key(&5));
        assert_eq!(second.shards[1], first.shards[1]);
    }

    #[test]
    fn modes_follow_the_demand() {
        let mut d = demand([1]);
        let a = assign(&d, &[], 10, 1);
        d.insert(1, Mode::Full);
        let b = assign(&d, &a.shards, 10, 1);
        assert_eq!(b.shards[0][&1], Mode::Full);
    }

    proptest::proptest! {
        #[test]
        fn every_wanted_token_is_placed_once_or_reported(
            tokens in proptest::collection::btree_set(0u32..500, 0..200),
            prev_tokens in proptest::collection::btree_set(0u32..500, 0..200),
            cap in 1usize..60,
            max in 1usize..4,
        ) {
            let prev = assign(&demand(prev_tokens), &[], cap, max).shards;
            let d = demand(tokens.iter().copied());
            let a = assign(&d, &prev, cap, max);
            let mut seen = std::collections::BTreeSet::new();
            for s in &a.shards {
                proptest::prop_assert!(s.len() <= cap);
                for t in s.keys() {
                    proptest::prop_assert!(seen.insert(*t), "token on two shards");
                }
            }
            for t in &a.overflow {
                proptest::prop_assert!(seen.insert(*t));
            }
            proptest::prop_assert_eq!(seen, tokens);
        }
    }
}

//! The chaos run's faults: the kinds drawn from ([`KINDS`], one line each), their random
//! parameters, and the seeded schedule that picks them. A kind whose simulator variant does not
//! exist in this build is found out at start ([`Kind::available`]) and left out, loudly.

use feedgate_sim::Fault;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::RangeInclusive;

/// A broker fault the chaos run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Drop,
    Stall,
    RejectWs,
    Malformed,
    /// `expire_token`, then a re-login through the login pages 0.5–3 s later.
    ExpireToken,
    HeartbeatFlood,
}

/// The kinds drawn from, in report order. To add a kind: one line here (and its arm below).
pub const KINDS: &[Kind] = &[
    Kind::Drop,
    Kind::Stall,
    Kind::RejectWs,
    Kind::Malformed,
    Kind::ExpireToken,
    // ↓ Needs `feedgate_sim::Fault::HeartbeatFlood { seconds }` (a parallel branch); without it
    //   the run says so at start and leaves it out. Delete this line to never draw it.
    Kind::HeartbeatFlood,
];

/// Seconds a stall, a WS rejection or a heartbeat flood lasts (uniformly drawn).
const STALL_SECONDS: RangeInclusive<f64> = 2.0..=8.0;
const REJECT_WS_SECONDS: RangeInclusive<f64> = 10.0..=60.0;
const FLOOD_SECONDS: RangeInclusive<f64> = 5.0..=30.0;
/// Delay between an `expire_token` and the re-login.
pub const RELOGIN_DELAY_SECONDS: RangeInclusive<f64> = 0.5..=3.0;

impl Kind {
    /// The control API's name of the fault.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Stall => "stall",
            Self::RejectWs => "reject_ws",
            Self::Malformed => "malformed",
            Self::ExpireToken => "expire_token",
            Self::HeartbeatFlood => "heartbeat_flood",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        KINDS.iter().copied().find(|k| k.name() == name)
    }

    fn seconds_range(self) -> Option<RangeInclusive<f64>> {
        match self {
            Self::Stall => Some(STALL_SECONDS),
            Self::RejectWs => Some(REJECT_WS_SECONDS),
            Self::HeartbeatFlood => Some(FLOOD_SECONDS),
            Self::Drop | Self::Malformed | Self::ExpireToken => None,
        }
    }

    /// The simulator fault, or `None` when this build's simulator has no such variant.
    pub fn fault(self, seconds: Option<f64>) -> Option<Fault> {
        let s = seconds.unwrap_or(1.0);
        match self {
            Self::Drop => Some(Fault::Drop),
            Self::Stall => Some(Fault::Stall { seconds: s }),
            Self::RejectWs => Some(Fault::RejectWs { seconds: s }),
            Self::Malformed => Some(Fault::Malformed),
            Self::ExpireToken => Some(Fault::ExpireToken),
            // Built from the control API's JSON shape, not the enum variant, so that this
            // compiles before the variant exists and starts working the build it does.
            Self::HeartbeatFlood => {
                serde_json::from_value(serde_json::json!({"kind": self.name(), "seconds": s})).ok()
            }
        }
    }

    /// Whether this build's simulator knows the fault.
    pub fn available(self) -> bool {
        self.fault(self.seconds_range().map(|r| *r.start()))
            .is_some()
    }
}

/// One fault picked by the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub kind: Kind,
    /// Duration of a stall, rejection or flood.
    pub seconds: Option<f64>,
    /// Seconds until the re-login (`expire_token` only).
    pub relogin_after: Option<f64>,
    /// Seconds from this fault to the next one.
    pub next_after: f64,
}

/// The seeded fault schedule: kinds from a shuffled bag (every kind once per round, so a short
/// run still sees each), parameters and intervals uniform in their ranges.
#[derive(Debug)]
pub struct Schedule {
    rng: ChaCha8Rng,
    kinds: Vec<Kind>,
    bag: Vec<Kind>,
    interval: RangeInclusive<f64>,
}

impl Schedule {
    /// `kinds` must not be empty; `interval` is seconds between two faults.
    pub fn new(seed: u64, kinds: Vec<Kind>, interval: RangeInclusive<f64>) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            kinds,
            bag: Vec::new(),
            interval,
        }
    }

    pub fn next(&mut self) -> Option<Draw> {
        if self.bag.is_empty() {
            self.bag = self.kinds.clone();
            self.bag.shuffle(&mut self.rng);
        }
        let kind = self.bag.pop()?;
        let seconds = kind.seconds_range().map(|r| self.rng.random_range(r));
        let relogin_after =
            (kind == Kind::ExpireToken).then(|| self.rng.random_range(RELOGIN_DELAY_SECONDS));
        let next_after = self.rng.random_range(self.interval.clone());
        Some(Draw {
            kind,
            seconds,
            relogin_after,
            next_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_known_faults_are_available() {
        for &k in KINDS {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        for k in [
            Kind::Drop,
            Kind::Stall,
            Kind::RejectWs,
            Kind::Malformed,
            Kind::ExpireToken,
        ] {
            assert!(k.available(), "{}", k.name());
        }
        assert_eq!(
            Kind::Stall.fault(Some(3.0)),
            Some(Fault::Stall { seconds: 3.0 })
        );
    }

    #[test]
    fn schedule_is_seeded_covers_every_kind_and_stays_in_range() {
        let kinds = vec![Kind::Drop, Kind::Stall, Kind::RejectWs, Kind::ExpireToken];
        let draws = |seed| {
            let mut s = Schedule::new(seed, kinds.clone(), 12.0..=25.0);
            (0..8).filter_map(|_| s.next()).collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7), "same seed, same run");
        assert_ne!(a, draws(8));
        for round in a.chunks(kinds.len()) {
            let mut seen: Vec<Kind> = round.iter().map(|d| d.kind).collect();
            seen.sort();
            assert_eq!(seen, kinds, "each kind once per round");
        }
        for d in &a {
            assert!((12.0..=25.0).contains(&d.next_after));
            match d.kind {
                Kind::Stall => assert!(d.seconds.is_some_and(|s| STALL_SECONDS.contains(&s))),
                Kind::RejectWs => {
                    assert!(d.seconds.is_some_and(|s| REJECT_WS_SECONDS.contains(&s)))
                }
                Kind::ExpireToken => assert!(
                    d.relogin_after
                        .is_some_and(|s| RELOGIN_DELAY_SECONDS.contains(&s))
                ),
                _ => assert!(d.seconds.is_none() && d.relogin_after.is_none()),
            }
        }
    }
}

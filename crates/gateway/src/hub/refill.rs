//! Rebuilding an instrument's numbered values from the recording (DESIGN.md §12), for a resume
//! that reaches back past the ring. The hub numbers its *merged* latest value, not the broker's
//! packets, and numbers REST values the recording never saw, so the recording alone cannot say
//! which value had which seq: the hub's anchors ([`crate::hub::replay::Anchor`]) can. From an
//! anchor, every later decoded WebSocket tick of the instrument is merged in exactly as the hub
//! merges it and numbered on; at each later anchor and at the plan's check point the rebuilt
//! value must equal what the hub had, or none of it is used. Pure: [`Refill::on_tick`] is fed
//! the recording's decoded ticks (the reading is `hub::recorded`).

use crate::hub::replay::{Anchor, RefillPlan};
use crate::model::tick::{Source, Tick};

/// What the recording gave for one plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refilled {
    /// The rebuilt values of `from..=to`, in seq order (REST values are not among them).
    pub ticks: Vec<(u64, Tick)>,
    /// Why nothing of the recording is used (`None`: checked and usable).
    pub failure: Option<&'static str>,
}

#[derive(Debug)]
enum State {
    /// Looking for anchor `i`'s own tick: `skip` more of the instrument's ticks of its
    /// millisecond come first.
    Seeking {
        i: usize,
        skip: u32,
    },
    /// Merging on from anchor `i` (the last anchor at or before `seq`).
    Following {
        i: usize,
        seq: u64,
        merged: Tick,
    },
    Done,
}

/// The rebuilding of one plan (see the module docs).
#[derive(Debug)]
pub struct Refill {
    plan: RefillPlan,
    state: State,
    out: Refilled,
}

impl Refill {
    pub fn new(plan: RefillPlan) -> Self {
        let state = match plan.anchors.first() {
            Some(a) => State::Seeking { i: 0, skip: a.nth },
            None => State::Done,
        };
        let failure = plan.anchors.is_empty().then_some("no anchor");
        Self {
            plan,
            state,
            out: Refilled {
                ticks: Vec::new(),
                failure,
            },
        }
    }

    pub fn plan(&self) -> &RefillPlan {
        &self.plan
    }

    /// Receive time (ms) of the first recorded tick needed.
    pub fn from_ms(&self) -> i64 {
        self.plan.anchors.first().map_or(0, |a| a.tick.received_ms)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Takes the instrument's next recorded tick (others are the caller's to skip).
    pub fn on_tick(&mut self, t: &Tick) {
        match &mut self.state {
            State::Done => {}
            State::Seeking { i, skip } => {
                let anchor = self.plan.anchors[*i];
                if t.received_ms < anchor.tick.received_ms {
                    return;
                }
                if t.received_ms == anchor.tick.received_ms && *skip > 0 {
                    *skip -= 1;
                    return;
                }
                if !produced(&anchor, t) {
                    return self.fail("the recording does not hold an anchor's tick");
                }
                let i = *i;
                self.state = State::Following {
                    i,
                    seq: anchor.seq,
                    merged: anchor.tick,
                };
                self.emit(anchor.seq, anchor.tick);
            }
            State::Following { i, seq, merged } => {
                *seq += 1;
                merged.merge_newer(t);
                let (seq, merged) = (*seq, *merged);
                // A later anchor inside the run: the hub's value there is the truth to match.
                if let Some(j) = (self.plan.anchors.iter()).position(|a| a.seq == seq) {
                    if self.plan.anchors[j].tick != merged {
                        return self.fail("the recording differs from the hub at an anchor");
                    }
                    *i = j;
                }
                self.emit(seq, merged);
            }
        }
        self.after_value();
    }

    /// Ends the run at its anchor's `run_end` (a REST value followed): the next anchor is
    /// sought; the seqs between are not in the recording.
    fn after_value(&mut self) {
        let State::Following { i, seq, .. } = self.state else {
            return;
        };
        if self.plan.anchors[i].run_end == Some(seq) {
            self.state = match self.plan.anchors.get(i + 1) {
                Some(next) => State::Seeking {
                    i: i + 1,
                    skip: next.nth,
                },
                // Nothing recorded reaches the check point.
                None => {
                    self.fail("REST values up to the check point");
                    return;
                }
            };
        }
    }

    fn emit(&mut self, seq: u64, value: Tick) {
        let (check_seq, check) = self.plan.check;
        if seq >= self.plan.from && seq <= self.plan.to {
            self.out.ticks.push((seq, value));
        }
        if seq == check_seq {
            if value != check {
                return self.fail("the recording differs from the hub at the check point");
            }
            self.state = State::Done;
        }
    }

    fn fail(&mut self, why: &'static str) {
        self.out.failure.get_or_insert(why);
        self.out.ticks.clear();
        self.state = State::Done;
    }

    /// What was rebuilt; a plan that never reached its check point is a failure.
    pub fn finish(mut self) -> Refilled {
        if self.out.failure.is_none() && !self.is_done() {
            self.fail("the recording ends before the check point");
        }
        self.out
    }
}

/// Whether the hub's merged value at `anchor` can have come from merging `t` (the fields a
/// merge takes from the newer tick are the anchor's).
fn produced(anchor: &Anchor, t: &Tick) -> bool {
    let a = &anchor.tick;
    t.src == Source::Ws
        && t.ltp == a.ltp
        && t.divisor == a.divisor
        && t.received_ms == a.received_ms
        && t.full == a.full
        && (t.quote.is_none() || t.quote == a.quote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::replay::{Anchoring, TickLog};
    use crate::model::tick::Quote;

    fn ws(ms: i64, ltp: i64, volume: Option<u64>) -> Tick {
        Tick {
            token: 1,
            divisor: 100,
            ltp,
            quote: volume.map(|v| Quote {
                volume: Some(v),
                ..Quote::default()
            }),
            full: None,
            received_ms: ms,
            src: Source::Ws,
        }
    }

    const ANCHORS: Anchoring = Anchoring { every: 4, keep: 8 };

    /// The hub's side: merges and numbers `incoming` as `HubCore::on_ticks` does, keeping
    /// `keep` values; returns the log and every merged value by seq.
    fn hub(incoming: &[Tick], keep: usize) -> (TickLog, Vec<Tick>) {
        let mut log = TickLog::default();
        let mut merged: Option<Tick> = None;
        let mut all = vec![];
        for t in incoming {
            let m = match &mut merged {
                Some(m) => {
                    m.merge_newer(t);
                    *m
                }
                None => *merged.insert(*t),
            };
            log.advance(&m, 7, keep, ANCHORS);
            all.push(m);
        }
        (log, all)
    }

    fn rebuild(plan: RefillPlan, recorded: &[Tick]) -> Refilled {
        let mut r = Refill::new(plan);
        for t in recorded {
            if r.is_done() {
                break;
            }
            r.on_tick(t);
        }
        r.finish()
    }

    /// Ticks alternating quote-carrying and ltp-only ones, two per millisecond at times.
    fn stream(n: i64) -> Vec<Tick> {
        (0..n)
            .map(|i| ws(1000 + i / 2, 100 + i, (i % 3 != 0).then_some(i as u64)))
            .collect()
    }

    #[test]
    fn the_recording_renumbers_what_the_ring_lost_exactly_as_the_hub_did() {
        let incoming = stream(40);
        let (log, all) = hub(&incoming, 4);
        // The ring holds 37..40; a client at 13 lost 14..36 (anchors: 12, 16, …).
        let plan = log.refill_plan(1, 13, &all[39]).unwrap();
        assert_eq!((plan.from, plan.to, plan.check.0), (14, 36, 37));
        assert_eq!(plan.anchors[0].seq, 12);
        let got = rebuild(plan, &incoming);
        assert_eq!(got.failure, None);
        let want: Vec<(u64, Tick)> = (14..=36).map(|s| (s, all[s as usize - 1])).collect();
        assert_eq!(got.ticks, want);
    }

    #[test]
    fn rest_values_are_left_out_and_the_run_after_them_found_again() {
        let mut incoming = stream(30);
        // Seqs 13 and 14 are REST quotes the recording never saw.
        for t in &mut incoming[12..14] {
            t.src = Source::Rest;
        }
        let (log, all) = hub(&incoming, 4);
        let plan = log.refill_plan(1, 5, &all[29]).unwrap();
        let recorded: Vec<Tick> = (incoming.iter())
            .filter(|t| t.src == Source::Ws)
            .copied()
            .collect();
        let got = rebuild(plan, &recorded);
        assert_eq!(got.failure, None);
        let seqs: Vec<u64> = got.ticks.iter().map(|(s, _)| *s).collect();
        let want: Vec<u64> = (6..=26).filter(|s| *s != 13 && *s != 14).collect();
        assert_eq!(seqs, want);
        for (s, t) in &got.ticks {
            assert_eq!(*t, all[*s as usize - 1], "seq {s}");
        }
    }

    #[test]
    fn a_recording_that_lost_a_frame_is_not_used() {
        let incoming = stream(40);
        let (log, all) = hub(&incoming, 4);
        let plan = log.refill_plan(1, 13, &all[39]).unwrap();
        let mut recorded = incoming.clone();
        recorded.remove(20);
        let got = rebuild(plan, &recorded);
        assert!(got.failure.is_some());
        assert!(got.ticks.is_empty(), "nothing wrong is sent");
    }

    #[test]
    fn a_recording_that_ends_early_is_not_used() {
        let incoming = stream(40);
        let (log, all) = hub(&incoming, 4);
        let plan = log.refill_plan(1, 13, &all[39]).unwrap();
        let got = rebuild(plan, &incoming[..30]);
        assert_eq!(
            got.failure,
            Some("the recording ends before the check point")
        );
        assert!(got.ticks.is_empty());
    }

    #[test]
    fn the_anchor_is_found_among_ticks_of_its_millisecond() {
        // All in one millisecond: the anchor's tick is told apart by its place.
        let incoming: Vec<Tick> = (0..12).map(|i| ws(5000, 100 + i, Some(i as u64))).collect();
        let (log, all) = hub(&incoming, 2);
        let plan = log.refill_plan(1, 6, &all[11]).unwrap();
        assert_eq!(plan.anchors[0].seq, 4);
        assert_eq!(plan.anchors[0].nth, 3);
        let got = rebuild(plan, &incoming);
        assert_eq!(got.failure, None);
        assert_eq!(got.ticks.len(), 4, "7..10");
        assert_eq!(got.ticks[0], (7, all[6]));
    }

    #[test]
    fn anchors_are_bounded_and_only_kept_with_a_ring() {
        let incoming = stream(200);
        let (log, all) = hub(&incoming, 4);
        let plan = log.refill_plan(1, 2, &all[199]).unwrap();
        // The last 8 (172, 176, …, 200), less the one past the gap.
        assert_eq!(plan.anchors.len(), ANCHORS.keep - 1);
        assert_eq!(plan.anchors[0].seq, 172, "older anchors were dropped");
        let (log, all) = hub(&incoming, 0);
        assert_eq!(log.refill_plan(1, 2, &all[199]), None);
    }

    /// A pending resume keeps what it will need in the ring however many values come.
    #[test]
    fn a_pin_holds_the_ring() {
        let mut log = TickLog::default();
        for i in 0..10 {
            log.advance(&ws(i, i, None), 7, 4, Anchoring::OFF);
        }
        log.pin(7);
        for i in 10..30 {
            log.advance(&ws(i, i, None), 7, 4, Anchoring::OFF);
        }
        let m = log.since(6);
        assert_eq!(m.gap, None);
        assert_eq!(m.ticks.len(), 24);
        log.unpin(7);
        log.advance(&ws(30, 30, None), 7, 4, Anchoring::OFF);
        assert_eq!(log.since(6).gap, Some((7, 27)));
    }
}

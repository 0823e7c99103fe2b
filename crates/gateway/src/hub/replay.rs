//! One instrument's numbered stream (DESIGN.md §12): every value the hub fans out gets the next
//! `seq` of the instrument's IST day, and the most recent ones are kept in a bounded ring so a
//! client that reconnects can be given exactly the values it missed. Pure: the hub owns one per
//! instrument and decides when values are kept.

use crate::model::tick::{Source, Tick, Token};
use std::collections::VecDeque;

/// Milliseconds IST is ahead of UTC.
const IST_OFFSET_MS: i64 = 19_800_000;
const DAY_MS: i64 = 86_400_000;

/// The IST day number of a wall-clock instant (Unix ms): `seq` restarts at 1 each day.
pub fn ist_day(now_ms: i64) -> i64 {
    (now_ms + IST_OFFSET_MS).div_euclid(DAY_MS)
}

/// What a client that last saw `after` can be given.
#[derive(Debug, PartialEq)]
pub struct Missed<'a> {
    /// The values after `after`, oldest first.
    pub ticks: Vec<(u64, &'a Tick)>,
    /// Values the ring no longer holds: `(first, last)` seq, inclusive.
    pub gap: Option<(u64, u64)>,
}

/// A point from which the recording can renumber an instrument's values: the merged value the
/// hub numbered `seq`, and which decoded WebSocket tick of the recording produced it (the
/// `nth` of the instrument's ticks received in its `received_ms`, counting from 0; a frame is
/// recorded with the receive time its ticks carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub tick: Tick,
    pub nth: u32,
    /// The last seq of the WebSocket run starting here, once a value from elsewhere (a REST
    /// quote, not in the recording) followed it; `None` while the run goes on.
    pub run_end: Option<u64>,
}

/// Which values become anchors: every `every`-th value and every WebSocket value after one
/// from elsewhere, the last `keep` of them (0: none, the recording is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchoring {
    pub every: u64,
    pub keep: usize,
}

impl Anchoring {
    pub const OFF: Self = Self { every: 1, keep: 0 };
}

/// Kept values a pending resume holds on to are dropped anyway past this many (a resume that
/// waits on the recording for long gets the rest reported missing rather than pin memory).
pub const PINNED_MAX: usize = 16_384;

/// The numbered stream of one instrument.
#[derive(Debug, Default)]
pub struct TickLog {
    day: i64,
    seq: u64,
    ring: VecDeque<(u64, Tick)>,
    anchors: VecDeque<Anchor>,
    /// The receive time of the latest WebSocket value and how many came before it in that
    /// millisecond (an anchor's `nth`).
    last_ws: Option<(i64, u32)>,
    /// Whether the latest value came from the WebSocket.
    ws_run: bool,
    /// Lowest seq each pending resume still needs from the ring.
    pins: Vec<u64>,
}

impl TickLog {
    /// The seq of the latest value (0: none today).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers `tick` (the merged latest value) and, when `keep` is non-zero, keeps it among the
    /// last `keep` values (more while a pending resume pins them) and anchors it as `anchoring`
    /// says. Returns its seq.
    pub fn advance(&mut self, tick: &Tick, day: i64, keep: usize, anchoring: Anchoring) -> u64 {
        if day != self.day {
            self.day = day;
            self.seq = 0;
            self.ring.clear();
            self.anchors.clear();
            self.last_ws = None;
            self.ws_run = false;
        }
        self.seq += 1;
        let ws = tick.src == Source::Ws;
        let nth = match self.last_ws {
            Some((ms, n)) if ws && ms == tick.received_ms => n + 1,
            _ => 0,
        };
        if ws {
            self.last_ws = Some((tick.received_ms, nth));
        }
        if keep > 0 && anchoring.keep > 0 {
            if ws && (!self.ws_run || self.seq.is_multiple_of(anchoring.every)) {
                while self.anchors.len() >= anchoring.keep {
                    self.anchors.pop_front();
                }
                self.anchors.push_back(Anchor {
                    seq: self.seq,
                    tick: *tick,
                    nth,
                    run_end: None,
                });
            } else if !ws
                && self.ws_run
                && let Some(last) = self.anchors.back_mut()
                && last.run_end.is_none()
            {
                last.run_end = Some(self.seq - 1);
            }
        } else if !self.anchors.is_empty() {
            self.anchors.clear();
        }
        self.ws_run = ws;
        let floor = self.pins.iter().min().copied();
        let keep = if floor.is_some() { keep.max(1) } else { keep };
        if keep > 0 {
            while self.ring.len() >= keep
                && (floor.is_none_or(|f| self.ring.front().is_some_and(|(s, _)| *s < f))
                    || self.ring.len() >= PINNED_MAX)
            {
                self.ring.pop_front();
            }
            self.ring.push_back((self.seq, *tick));
        } else if !self.ring.is_empty() {
            self.ring.clear();
        }
        self.seq
    }

    /// The values after `after`, and what is lost of them. `after` beyond the current seq (a
    /// client of another day) is answered with what the ring holds and the whole day as a gap.
    pub fn since(&self, after: u64) -> Missed<'_> {
        if after == self.seq {
            return Missed {
                ticks: Vec::new(),
                gap: None,
            };
        }
        let after = if after > self.seq { 0 } else { after };
        let ticks: Vec<(u64, &Tick)> = (self.ring.iter())
            .filter(|(s, _)| *s > after)
            .map(|(s, t)| (*s, t))
            .collect();
        let first_kept = ticks.first().map_or(self.seq + 1, |(s, _)| *s);
        let gap = (first_kept > after + 1).then_some((after + 1, first_kept - 1));
        Missed { ticks, gap }
    }

    /// What the recording would have to reproduce to fill the gap after `after` (see
    /// [`crate::hub::refill`]); `None` when there is no gap or no anchor before its end.
    /// `latest` is the instrument's latest value (the check when the ring holds nothing).
    pub fn refill_plan(&self, token: Token, after: u64, latest: &Tick) -> Option<RefillPlan> {
        let (from, to) = self.since(after).gap?;
        let start = (self.anchors.iter())
            .rposition(|a| a.seq <= from)
            .unwrap_or(0);
        let anchors: Vec<Anchor> = (self.anchors.iter().skip(start))
            .filter(|a| a.seq <= to)
            .copied()
            .collect();
        anchors.first()?;
        let check = match self.ring.front() {
            Some((s, t)) if *s == to + 1 => (*s, *t),
            _ if to == self.seq => (to, *latest),
            _ => return None,
        };
        Some(RefillPlan {
            token,
            from,
            to,
            anchors,
            check,
        })
    }

    /// Keeps the values from `seq` on in the ring until [`TickLog::unpin`] (a resume waits for
    /// the recording).
    pub fn pin(&mut self, seq: u64) {
        self.pins.push(seq);
    }

    pub fn unpin(&mut self, seq: u64) {
        if let Some(i) = self.pins.iter().position(|p| *p == seq) {
            self.pins.swap_remove(i);
        }
    }

    pub fn pinned(&self) -> bool {
        !self.pins.is_empty()
    }

    /// Drops the kept values and anchors (nobody can resume this instrument any more).
    pub fn forget(&mut self) {
        if self.pinned() {
            return;
        }
        self.ring = VecDeque::new();
        self.anchors = VecDeque::new();
    }
}

/// The seqs `from..=to` of one instrument, to be rebuilt from the recording: starting at the
/// first anchor, every later WebSocket value merged in as the hub did and numbered on; the
/// rebuilt value at `check.0` must equal `check.1` (what the hub had) or nothing is used.
#[derive(Debug, Clone, PartialEq)]
pub struct RefillPlan {
    pub token: Token,
    pub from: u64,
    pub to: u64,
    /// In seq order; the first is at or before `from` unless older ones were dropped.
    pub anchors: Vec<Anchor>,
    pub check: (u64, Tick),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(ltp: i64) -> Tick {
        Tick {
            token: 1,
            divisor: 100,
            ltp,
            quote: None,
            full: None,
            received_ms: 0,
            src: Source::Ws,
        }
    }

    fn ltps(m: &Missed<'_>) -> Vec<(u64, i64)> {
        m.ticks.iter().map(|(s, t)| (*s, t.ltp)).collect()
    }

    #[test]
    fn a_client_gets_exactly_what_came_after_its_last_seq() {
        let mut log = TickLog::default();
        for p in 1..=5 {
            assert_eq!(log.advance(&tick(p * 10), 7, 8, Anchoring::OFF), p as u64);
        }
        let m = log.since(2);
        assert_eq!(ltps(&m), [(3, 30), (4, 40), (5, 50)]);
        assert_eq!(m.gap, None);
        assert_eq!(
            log.since(5),
            Missed {
                ticks: vec![],
                gap: None
            },
            "up to date"
        );
    }

    #[test]
    fn what_the_ring_no_longer_holds_is_a_gap() {
        let mut log = TickLog::default();
        for p in 1..=10 {
            log.advance(&tick(p), 7, 4, Anchoring::OFF);
        }
        let m = log.since(3);
        assert_eq!(ltps(&m), [(7, 7), (8, 8), (9, 9), (10, 10)]);
        assert_eq!(m.gap, Some((4, 6)));
        log.forget();
        let m = log.since(8);
        assert!(m.ticks.is_empty());
        assert_eq!(m.gap, Some((9, 10)));
    }

    /// The README's memory figure for `FEEDGATE_RESUME_BUFFER` rests on this size.
    #[test]
    fn a_kept_value_is_about_half_a_kibibyte() {
        let entry = std::mem::size_of::<(u64, Tick)>();
        assert!((400..=520).contains(&entry), "{entry} bytes");
    }

    /// The README's figure for the anchors (16 per instrument, ~8 KiB) rests on this size.
    #[test]
    fn an_anchor_is_about_half_a_kibibyte() {
        let anchor = std::mem::size_of::<Anchor>();
        assert!((400..=540).contains(&anchor), "{anchor} bytes");
    }

    #[test]
    fn seq_restarts_each_ist_day() {
        let mut log = TickLog::default();
        let d = ist_day(1_795_430_100_000);
        log.advance(&tick(1), d, 4, Anchoring::OFF);
        log.advance(&tick(2), d, 4, Anchoring::OFF);
        assert_eq!(log.advance(&tick(3), d + 1, 4, Anchoring::OFF), 1);
        // A client still at yesterday's seq 2 > today's 1: everything of today is news.
        let m = log.since(2);
        assert_eq!(ltps(&m), [(1, 3)]);
        assert_eq!(m.gap, None);
        // 18:29:59.999 UTC is still the IST day before 18:30 UTC.
        assert_eq!(ist_day(1_795_458_599_999) + 1, ist_day(1_795_458_600_000));
    }
}

//! One instrument's numbered stream (DESIGN.md §12): every value the hub fans out gets the next
//! `seq` of the instrument's IST day, and the most recent ones are kept in a bounded ring so a
//! client that reconnects can be given exactly the values it missed. Pure: the hub owns one per
//! instrument and decides when values are kept.

use crate::model::tick::Tick;
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

/// The numbered stream of one instrument.
#[derive(Debug, Default)]
pub struct TickLog {
    day: i64,
    seq: u64,
    ring: VecDeque<(u64, Tick)>,
}

impl TickLog {
    /// The seq of the latest value (0: none today).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers `tick` (the merged latest value) and, when `keep` is non-zero, keeps it among the
    /// last `keep` values. Returns its seq.
    pub fn advance(&mut self, tick: &Tick, day: i64, keep: usize) -> u64 {
        if day != self.day {
            self.day = day;
            self.seq = 0;
            self.ring.clear();
        }
        self.seq += 1;
        if keep > 0 {
            while self.ring.len() >= keep {
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

    /// Drops the kept values (nobody can resume this instrument any more).
    pub fn forget(&mut self) {
        self.ring = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tick::Source;

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
            assert_eq!(log.advance(&tick(p * 10), 7, 8), p as u64);
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
            log.advance(&tick(p), 7, 4);
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

    #[test]
    fn seq_restarts_each_ist_day() {
        let mut log = TickLog::default();
        let d = ist_day(1_795_430_100_000);
        log.advance(&tick(1), d, 4);
        log.advance(&tick(2), d, 4);
        assert_eq!(log.advance(&tick(3), d + 1, 4), 1);
        // A client still at yesterday's seq 2 > today's 1: everything of today is news.
        let m = log.since(2);
        assert_eq!(ltps(&m), [(1, 3)]);
        assert_eq!(m.gap, None);
        // 18:29:59.999 UTC is still the IST day before 18:30 UTC.
        assert_eq!(ist_day(1_795_458_599_999) + 1, ist_day(1_795_458_600_000));
    }
}

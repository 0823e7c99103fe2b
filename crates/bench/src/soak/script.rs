//! The soak's script: a seeded random source (xorshift: reproducible everywhere, no
//! dependency), the faults it draws and when, and the IST instants a day is made of.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use feedgate_sim::Fault;

/// The fault kinds, in the order the report lists them.
pub const KINDS: [&str; 7] = [
    "drop",
    "stall",
    "reject_ws",
    "malformed",
    "heartbeat_flood",
    "rest_429",
    "expire_token",
];

/// A seeded random source for the days' script.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        // xorshift has one fixed point, 0.
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A whole number in `[lo, hi)`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }

    /// A real number in `[lo, hi)`.
    pub fn real(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// One fault drawn at random, with its kind (one of [`KINDS`]).
    pub fn fault(&mut self) -> (&'static str, Fault) {
        match self.int(0, 7) {
            0 => ("drop", Fault::Drop),
            1 => (
                "stall",
                Fault::Stall {
                    seconds: self.real(2.0, 8.0),
                },
            ),
            2 => (
                "reject_ws",
                Fault::RejectWs {
                    seconds: self.real(10.0, 60.0),
                },
            ),
            3 => ("malformed", Fault::Malformed),
            4 => (
                "heartbeat_flood",
                Fault::HeartbeatFlood {
                    seconds: self.real(5.0, 30.0),
                },
            ),
            5 => (
                "rest_429",
                Fault::Rest429 {
                    seconds: self.real(2.0, 10.0),
                },
            ),
            _ => ("expire_token", Fault::ExpireToken),
        }
    }
}

pub fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 1800).expect("+05:30 is a valid offset")
}

/// `hh:mm` IST on `day`.
pub fn at(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    let local = day.and_hms_opt(hh, mm, 0).unwrap_or_default();
    ist()
        .from_local_datetime(&local)
        .single()
        .map_or_else(|| local.and_utc(), |t| t.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_script() {
        let draw = |seed| {
            let mut d = Dice::new(seed);
            (0..50).map(|_| d.fault().0).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        assert!(
            KINDS.iter().all(|k| draw(3).contains(k)),
            "every kind is drawn"
        );
    }

    #[test]
    fn ist_instants() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(at(day, 9, 15).to_rfc3339(), "2026-11-23T03:45:00+00:00");
    }
}

//! The simulated market over the universe, independent of any broker's wire format: state per
//! instrument, advanced one timer tick at a time. Deterministic: the same seed and the same
//! number of ticks give the same prices, whatever the wall clock or the subscribers.

/// One instrument's model.
mod model;
/// Which instruments update when.
mod schedule;

pub use model::{DEPTH_LEVELS, Level, Quote};
pub use schedule::TICK_PERIOD;

use crate::clock;
use crate::universe::Universe;
use chrono::{DateTime, Utc};
use model::InstrumentModel;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schedule::Schedule;
use std::sync::Arc;

/// How fast the market moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Aggregate updates per second across all instruments; `None` = about one per second per
    /// instrument (jittered).
    pub rate: Option<f64>,
    /// Multiplies the update rate.
    pub speed: f64,
}

/// The market: one model per instrument plus the update schedule.
#[derive(Debug)]
pub struct Market {
    universe: Arc<Universe>,
    models: Vec<InstrumentModel>,
    rng: ChaCha8Rng,
    schedule_rng: ChaCha8Rng,
    schedule: Schedule,
    tick: u64,
}

impl Market {
    /// Opens the market at `now` with the seed's prices.
    pub fn new(universe: Arc<Universe>, seed: u64, pace: Pace, now: DateTime<Utc>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // A separate stream for scheduling keeps prices independent of the pace.
        let mut schedule_rng = ChaCha8Rng::seed_from_u64(seed);
        schedule_rng.set_stream(1);
        let day = clock::ist_date(now);
        let secs = now.timestamp();
        let models = universe
            .instruments()
            .iter()
            .map(|inst| InstrumentModel::start(inst, &mut rng, secs, day))
            .collect();
        let n = universe.len();
        let schedule = match pace.rate {
            Some(rate) => Schedule::rate(n, rate * pace.speed),
            None => Schedule::jittered_with_slow(
                n,
                universe.synthetic_from(),
                crate::universe::SYNTHETIC_UPDATE_INTERVAL,
                pace.speed,
                &mut schedule_rng,
            ),
        };
        Self {
            universe,
            models,
            rng,
            schedule_rng,
            schedule,
            tick: 0,
        }
    }

    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Timer ticks elapsed so far: a market-wide sequence number for consistent snapshots.
    pub fn seq(&self) -> u64 {
        self.tick
    }

    /// The current state of instrument `idx`.
    pub fn quote(&self, idx: usize) -> Option<&Quote> {
        self.models.get(idx).map(InstrumentModel::quote)
    }

    /// Advances one timer tick ([`TICK_PERIOD`] of market time) ending at wall time `now`.
    /// Returns the updated instruments as rounds: each instrument at most once per round.
    pub fn advance(&mut self, now: DateTime<Utc>) -> Vec<Vec<usize>> {
        self.tick += 1;
        let rounds = self.schedule.due(self.tick, &mut self.schedule_rng);
        let day = clock::ist_date(now);
        let secs = now.timestamp();
        for idx in rounds.iter().flatten() {
            if let Some(model) = self.models.get_mut(*idx) {
                model.update(&mut self.rng, secs, day);
            }
        }
        rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    fn market(seed: u64, pace: Pace) -> Market {
        let now = DateTime::parse_from_rfc3339("2025-11-10T05:00:00Z")
            .unwrap()
            .to_utc();
        let universe = Arc::new(build_universe(clock::ist_date(now)));
        Market::new(universe, seed, pace, now)
    }

    fn run(seed: u64, ticks: u64) -> Vec<Quote> {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let mut m = market(seed, pace);
        let now = DateTime::parse_from_rfc3339("2025-11-10T05:00:00Z")
            .unwrap()
            .to_utc();
        for _ in 0..ticks {
            m.advance(now);
        }
        (0..m.universe().len())
            .map(|i| *m.quote(i).unwrap())
            .collect()
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(run(42, 400), run(42, 400));
        assert_ne!(run(42, 400), run(43, 400));
    }

    #[test]
    fn default_pace_updates_each_instrument_about_once_a_second() {
        let quotes = run(1, 20 * 60); // 60 s
        for q in quotes {
            assert!((50..=70).contains(&q.updates), "{} updates", q.updates);
        }
    }

    #[test]
    fn rate_pace_sustains_the_aggregate_rate() {
        let mut m = market(
            1,
            Pace {
                rate: Some(100_000.0),
                speed: 1.0,
            },
        );
        let now = Utc::now();
        let mut total = 0;
        for _ in 0..20 {
            total += m.advance(now).iter().map(Vec::len).sum::<usize>();
        }
        // How fast the simulator generates it is a benchmark's question (`feedgate-bench`
        // drives it at 10k–100k ticks/s), not a wall-clock assertion that fails on a busy box.
        assert_eq!(total, 100_000, "one second of market time");
    }
}

//! When instruments update: each on its own jittered clock, about one update per second (the
//! default, [`Jitter`]), or a fixed aggregate rate spread over all instruments (benchmarks,
//! [`Schedule`]). A jittered instrument's clock depends on nothing but its own random stream, so
//! it can be run forward only when someone looks. Updates are grouped into rounds in which every
//! instrument appears at most once, so that one round becomes one ticker frame (Kite never
//! repeats an instrument inside a message).

use rand::Rng;
use std::time::Duration;

/// The market's timer period: updates are generated in batches, one batch per period.
pub const TICK_PERIOD: Duration = Duration::from_millis(50);

pub(crate) const TICK_PERIOD_US: u64 = 50_000;

/// The timer tick (1-based) whose batch carries an update due at `due_us` of market time: tick
/// k ends at k × [`TICK_PERIOD`] and carries what fell due since tick k − 1.
pub(crate) fn tick_of(due_us: u64) -> u64 {
    due_us.div_ceil(TICK_PERIOD_US).max(1)
}

/// One instrument's update clock: due again after a uniformly jittered interval around a mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Jitter {
    mean_us: u64,
}

impl Jitter {
    /// About one update per `interval`, `speed` times faster.
    pub(crate) fn every(interval: Duration, speed: f64) -> Self {
        // speed is validated to a finite positive value; the floor keeps the interval ≥ 1 µs.
        Self {
            mean_us: ((interval.as_micros() as f64 / speed) as u64).max(1),
        }
    }

    /// When the first update falls due, in market microseconds.
    pub(crate) fn first<R: Rng>(self, rng: &mut R) -> u64 {
        rng.random_range(0..self.mean_us)
    }

    /// The wait until the next update: uniform in [mean / 2, 3 × mean / 2].
    pub(crate) fn gap<R: Rng>(self, rng: &mut R) -> u64 {
        let (low, high) = (self.mean_us / 2, (self.mean_us * 3 / 2).max(1));
        rng.random_range(low..=high).max(1)
    }
}

/// A fixed aggregate rate: `per_tick` updates per timer tick (fraction carried over), spread
/// evenly over `n` instruments.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    n: usize,
    per_tick: f64,
    carry: f64,
}

impl Schedule {
    /// `ticks_per_second` updates per second across `n` instruments.
    pub(crate) fn rate(n: usize, ticks_per_second: f64) -> Self {
        Self {
            n,
            per_tick: ticks_per_second * TICK_PERIOD.as_secs_f64(),
            carry: 0.0,
        }
    }

    /// The rounds of instrument indices due on the next timer tick.
    pub(crate) fn due<R: Rng>(&mut self, rng: &mut R) -> Vec<Vec<usize>> {
        let n = self.n;
        if n == 0 {
            return Vec::new();
        }
        let total = self.per_tick + self.carry;
        let count = total.floor();
        self.carry = total - count;
        // `count` is bounded by the validated maximum rate, far below usize::MAX.
        let count = count as usize;
        let mut rounds: Vec<Vec<usize>> = (0..count / n).map(|_| (0..n).collect()).collect();
        let rest = count % n;
        if rest > 0 {
            let mut partial = rand::seq::index::sample(rng, n, rest).into_vec();
            partial.sort_unstable();
            rounds.push(partial);
        }
        rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashSet;

    /// Updates of one instrument on `jitter`'s clock within the first `secs` of market time.
    fn updates_within(jitter: Jitter, secs: u64, rng: &mut ChaCha8Rng) -> u32 {
        let end = secs * 1_000_000;
        let mut due = jitter.first(rng);
        let mut n = 0;
        while due <= end {
            n += 1;
            due += jitter.gap(rng);
        }
        n
    }

    #[test]
    fn jitter_gives_about_one_update_per_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let second = Jitter::every(Duration::from_secs(1), 1.0);
        for idx in 0..60 {
            let n = updates_within(second, 100, &mut rng);
            assert!((90..=110).contains(&n), "instrument {idx}: {n} updates");
        }
        let slow = Jitter::every(Duration::from_secs(30), 1.0);
        let total: u32 = (0..1_000)
            .map(|_| updates_within(slow, 300, &mut rng))
            .sum();
        assert!((9_000..=11_000).contains(&total), "slow total {total}");
    }

    #[test]
    fn speed_multiplies_the_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let fast = Jitter::every(Duration::from_secs(1), 100.0);
        let total: u32 = (0..10).map(|_| updates_within(fast, 10, &mut rng)).sum();
        // 10 instruments × 100 updates/s × 10 s.
        assert!((9_500..=10_500).contains(&total), "{total}");
    }

    #[test]
    fn ticks_carry_what_fell_due_since_the_previous_one() {
        let cases = [
            (0, 1),
            (1, 1),
            (50_000, 1),
            (50_001, 2),
            (100_000, 2),
            (100_001, 3),
        ];
        for (due, tick) in cases {
            assert_eq!(tick_of(due), tick, "due at {due} µs");
        }
    }

    #[test]
    fn aggregate_rate_is_exact_over_time() {
        let table = [(10.0, 61), (1_000.0, 61), (100_000.0, 61), (123_456.0, 7)];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for (rate, n) in table {
            let mut schedule = Schedule::rate(n, rate);
            let mut total = 0usize;
            // 20 s of market time.
            for _ in 1..=400 {
                let rounds = schedule.due(&mut rng);
                for round in &rounds {
                    let unique: HashSet<_> = round.iter().collect();
                    assert_eq!(
                        unique.len(),
                        round.len(),
                        "an instrument repeats in a round"
                    );
                }
                total += rounds.iter().map(Vec::len).sum::<usize>();
            }
            let want = (rate * 20.0) as usize;
            assert!(total.abs_diff(want) <= 1, "rate {rate}: {total} vs {want}");
        }
    }
}

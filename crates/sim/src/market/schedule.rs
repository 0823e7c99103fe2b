//! Which instruments update on each timer tick: about one update per second per instrument with
//! jitter (the default), or a fixed aggregate rate spread over all instruments (benchmarks).
//! Updates are grouped into rounds in which every instrument appears at most once, so that one
//! round becomes one ticker frame (Kite never repeats an instrument inside a message).

use rand::Rng;
use std::time::Duration;

/// The market's timer period: updates are generated in batches, one batch per period.
pub const TICK_PERIOD: Duration = Duration::from_millis(50);

const TICK_PERIOD_US: u64 = 50_000;

/// Update schedule over `n` instruments.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// Each instrument is due again after a uniformly jittered interval around `mean_us`
    /// (`slow_mean_us` for the instruments from index `slow_from` on: the synthetic ones).
    Jittered {
        next_due_us: Vec<u64>,
        mean_us: u64,
        slow_from: usize,
        slow_mean_us: u64,
    },
    /// `per_tick` updates per timer tick (fraction carried over), spread evenly.
    Rate { n: usize, per_tick: f64, carry: f64 },
}

impl Schedule {
    /// About one update per second per instrument, `speed` times faster.
    #[cfg(test)]
    pub(crate) fn jittered<R: Rng>(n: usize, speed: f64, rng: &mut R) -> Self {
        Self::jittered_with_slow(n, n, Duration::from_secs(1), speed, rng)
    }

    /// Like [`Self::jittered`], but the instruments from index `slow_from` on update about
    /// once per `slow_interval` (then `speed` times faster). With `slow_from == n` this is
    /// exactly `jittered`, random draws included.
    pub(crate) fn jittered_with_slow<R: Rng>(
        n: usize,
        slow_from: usize,
        slow_interval: Duration,
        speed: f64,
        rng: &mut R,
    ) -> Self {
        // speed is validated to a finite positive value; the floor keeps the interval ≥ 1 µs.
        let mean_us = ((1_000_000.0 / speed) as u64).max(1);
        let slow_mean_us = ((slow_interval.as_micros() as f64 / speed) as u64).max(1);
        let next_due_us = (0..n)
            .map(|idx| {
                let mean = if idx >= slow_from {
                    slow_mean_us
                } else {
                    mean_us
                };
                rng.random_range(0..mean)
            })
            .collect();
        Self::Jittered {
            next_due_us,
            mean_us,
            slow_from,
            slow_mean_us,
        }
    }

    /// `ticks_per_second` updates per second across `n` instruments.
    pub(crate) fn rate(n: usize, ticks_per_second: f64) -> Self {
        Self::Rate {
            n,
            per_tick: ticks_per_second * TICK_PERIOD.as_secs_f64(),
            carry: 0.0,
        }
    }

    /// The rounds of instrument indices due on timer tick `tick` (1-based; tick k ends at
    /// k × [`TICK_PERIOD`] of market time).
    pub(crate) fn due<R: Rng>(&mut self, tick: u64, rng: &mut R) -> Vec<Vec<usize>> {
        match self {
            Self::Jittered {
                next_due_us,
                mean_us,
                slow_from,
                slow_mean_us,
            } => {
                let now_us = tick.saturating_mul(TICK_PERIOD_US);
                let mut rounds: Vec<Vec<usize>> = Vec::new();
                let bounds = |mean: u64| (mean / 2, (mean * 3 / 2).max(1));
                let (fast, slow) = (bounds(*mean_us), bounds(*slow_mean_us));
                for (idx, due) in next_due_us.iter_mut().enumerate() {
                    let (low, high) = if idx >= *slow_from { slow } else { fast };
                    let mut occurrence = 0;
                    while *due <= now_us {
                        if rounds.len() <= occurrence {
                            rounds.push(Vec::new());
                        }
                        if let Some(round) = rounds.get_mut(occurrence) {
                            round.push(idx);
                        }
                        occurrence += 1;
                        *due += rng.random_range(low..=high).max(1);
                    }
                }
                rounds
            }
            Self::Rate { n, per_tick, carry } => {
                if *n == 0 {
                    return Vec::new();
                }
                let total = *per_tick + *carry;
                let count = total.floor();
                *carry = total - count;
                // `count` is bounded by the validated maximum rate, far below usize::MAX.
                let count = count as usize;
                let mut rounds: Vec<Vec<usize>> =
                    (0..count / *n).map(|_| (0..*n).collect()).collect();
                let rest = count % *n;
                if rest > 0 {
                    let mut partial = rand::seq::index::sample(rng, *n, rest).into_vec();
                    partial.sort_unstable();
                    rounds.push(partial);
                }
                rounds
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashSet;

    fn assert_rounds_unique(rounds: &[Vec<usize>]) {
        for round in rounds {
            let unique: HashSet<_> = round.iter().collect();
            assert_eq!(
                unique.len(),
                round.len(),
                "an instrument repeats in a round"
            );
        }
    }

    #[test]
    fn jittered_gives_about_one_update_per_second_each() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut schedule = Schedule::jittered(60, 1.0, &mut rng);
        let mut counts = [0u32; 60];
        // 100 s of market time.
        for tick in 1..=2_000 {
            let rounds = schedule.due(tick, &mut rng);
            assert_rounds_unique(&rounds);
            for idx in rounds.iter().flatten() {
                counts[*idx] += 1;
            }
        }
        for (idx, count) in counts.iter().enumerate() {
            assert!(
                (90..=110).contains(count),
                "instrument {idx}: {count} updates"
            );
        }
    }

    #[test]
    fn slow_instruments_update_at_their_own_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut schedule =
            Schedule::jittered_with_slow(1_010, 10, Duration::from_secs(30), 1.0, &mut rng);
        let mut counts = vec![0u32; 1_010];
        // 300 s of market time: ~300 updates for each fast one, ~10 for each slow one.
        for tick in 1..=6_000 {
            for idx in schedule.due(tick, &mut rng).iter().flatten() {
                counts[*idx] += 1;
            }
        }
        for (idx, count) in counts.iter().enumerate().take(10) {
            assert!((280..=320).contains(count), "fast {idx}: {count}");
        }
        let slow: u32 = counts[10..].iter().sum();
        assert!((9_000..=11_000).contains(&slow), "slow total {slow}");
        assert!(counts[10..].iter().all(|c| (5..=15).contains(c)));
    }

    #[test]
    fn no_slow_instruments_is_the_plain_schedule() {
        let plain = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut s = Schedule::jittered(20, 1.0, &mut rng);
            (1..=100).map(|t| s.due(t, &mut rng)).collect::<Vec<_>>()
        };
        let split = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut s =
                Schedule::jittered_with_slow(20, 20, Duration::from_secs(30), 1.0, &mut rng);
            (1..=100).map(|t| s.due(t, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(plain(5), split(5));
    }

    #[test]
    fn speed_multiplies_the_rate_and_splits_rounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut schedule = Schedule::jittered(10, 100.0, &mut rng);
        let mut total = 0;
        for tick in 1..=200 {
            let rounds = schedule.due(tick, &mut rng);
            assert_rounds_unique(&rounds);
            total += rounds.iter().map(Vec::len).sum::<usize>();
        }
        // 10 instruments × 100 updates/s × 10 s.
        assert!((9_500..=10_500).contains(&total), "{total}");
    }

    #[test]
    fn aggregate_rate_is_exact_over_time() {
        let table = [(10.0, 61), (1_000.0, 61), (100_000.0, 61), (123_456.0, 7)];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for (rate, n) in table {
            let mut schedule = Schedule::rate(n, rate);
            let mut total = 0usize;
            // 20 s of market time.
            for tick in 1..=400 {
                let rounds = schedule.due(tick, &mut rng);
                assert_rounds_unique(&rounds);
                total += rounds.iter().map(Vec::len).sum::<usize>();
            }
            let want = (rate * 20.0) as usize;
            assert!(total.abs_diff(want) <= 1, "rate {rate}: {total} vs {want}");
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut schedule = Schedule::jittered(20, 1.0, &mut rng);
            (1..=100)
                .map(|t| schedule.due(t, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}

//! Reconnect backoff (pure): `FEED_RECONNECT_DELAY`, then ×3, then doubling, capped at
//! `FEED_MAX_RECONNECT_DELAY` (5 → 15 → 30 → 60 s with the defaults), with ±20 % jitter so a
//! fleet of gateways does not reconnect in lock-step after a broker outage.
//!
//! Failures are punished, blips are not: after a connection that delivered data is lost, the
//! next attempt comes at once, and attempts that fail then wait the [`QUICK`] delays (0.5, 1,
//! 2 s) before the ladder applies to those that keep failing ([`Backoff::after`]). A socket that opens and dies before any
//! data never resets the count, and the connection machine's flap guard bounds the attempts per
//! minute, so a connect-then-die broker is not hammered either.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

/// Jitter as a fraction of the delay.
const JITTER: f64 = 0.2;

/// The delays after the first failed attempts that follow the loss of a connection that
/// delivered data (the loss itself is retried at once): about 0.5, 1 and 2 s. Only attempts
/// that keep failing after these climb the ladder.
pub const QUICK: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// Consecutive failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failed attempt and returns how long to wait before the next one.
    /// `unit` is a uniform random number in `[0, 1)` (injected so tests are exact).
    pub fn fail(&mut self, unit: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = self.nominal(self.failures);
        let factor = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(factor).min(self.max)
    }

    /// The delay before the next attempt after `failures` consecutive failures (counted since
    /// the last data). `quick`: they follow the loss of a connection that delivered data, so
    /// the first ones wait [`QUICK`]. Jittered like [`Self::fail`]; zero stays zero.
    pub fn after(&self, failures: u32, quick: bool, unit: f64) -> Duration {
        let steps = QUICK.len() as u32;
        let base = match (quick, failures) {
            (_, 0) => return Duration::ZERO,
            (true, n) if n <= steps => QUICK[(n - 1) as usize],
            (true, n) => self.nominal(n - steps),
            (false, n) => self.nominal(n),
        };
        let factor = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(factor).min(self.max)
    }

    /// The delay without jitter after `failures` consecutive failures.
    pub fn nominal(&self, failures: u32) -> Duration {
        let mult: u32 = match failures {
            0 => return Duration::ZERO,
            1 => 1,
            n => 3u32.saturating_mul(1u32.checked_shl(n - 2).unwrap_or(u32::MAX)),
        };
        self.initial.saturating_mul(mult).min(self.max)
    }

    /// A connection stayed healthy: start again from the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_5_15_30_60_and_caps() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let got: Vec<u64> = (0..=8).map(|n| b.nominal(n).as_secs()).collect();
        assert_eq!(got, [0, 5, 15, 30, 60, 60, 60, 60, 60]);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        for _ in 0..10_000 {
            assert!(b.fail(0.99) <= Duration::from_secs(60));
        }
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_20_percent_and_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let low = b.fail(0.0);
        assert_eq!(low, Duration::from_secs(4));
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let high = b.fail(0.999_999);
        assert!(high > Duration::from_millis(5990) && high <= Duration::from_secs(6));
        for _ in 0..10 {
            b.fail(0.999_999);
        }
        assert_eq!(
            b.fail(0.999_999),
            Duration::from_secs(60),
            "capped after jitter"
        );
    }

    #[test]
    fn a_loss_after_data_retries_at_once_then_quickly_then_climbs_the_ladder() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let quick: Vec<u128> = (0..=8).map(|n| b.after(n, true, 0.5).as_millis()).collect();
        assert_eq!(
            quick,
            [0, 500, 1000, 2000, 5000, 15000, 30000, 60000, 60000]
        );
        let cold: Vec<u64> = (1..=4).map(|n| b.after(n, false, 0.5).as_secs()).collect();
        assert_eq!(
            cold,
            [5, 15, 30, 60],
            "failures from a cold start climb at once"
        );
        assert_eq!(
            b.after(0, true, 0.99),
            Duration::ZERO,
            "at once stays at once"
        );
        assert!(b.after(1, true, 0.0) >= Duration::from_millis(400));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        b.fail(0.5);
        b.fail(0.5);
        assert_eq!(b.failures(), 2);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.fail(0.5), Duration::from_secs(1));
    }
}

//! The wall clock of a replay: the recorded day's time, so market phase, candles and `ts`
//! follow the recording. At `--speed X` it runs X times faster than `tokio::time` from the
//! first replayed instant (from [`ReplayClock::run`] on; before, it stands there); at
//! `--speed max` the feed sets it to each frame's receive time.

use crate::model::clock::Clock;
use chrono::{DateTime, Utc};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

/// How fast a recording is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Recorded time runs this many times faster than real time (`1.0`: as it happened).
    Times(f64),
    /// As fast as the gateway takes the frames.
    Max,
}

/// The replay's wall clock (see the module doc).
#[derive(Debug)]
pub struct ReplayClock {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Paced {
        origin_ns: i64,
        /// When it started to run.
        start: OnceLock<tokio::time::Instant>,
        speed: f64,
    },
    /// The receive time of the frame last handed to the gateway.
    Stepped(AtomicI64),
}

impl ReplayClock {
    /// A clock standing at `origin_ns` (the first replayed instant) until [`ReplayClock::run`].
    pub fn new(origin_ns: i64, speed: Speed) -> Self {
        let kind = match speed {
            Speed::Times(speed) => Kind::Paced {
                origin_ns,
                start: OnceLock::new(),
                speed,
            },
            Speed::Max => Kind::Stepped(AtomicI64::new(origin_ns)),
        };
        Self { kind }
    }

    /// Starts a paced clock running (from now; again is a no-op).
    pub fn run(&self) {
        if let Kind::Paced { start, .. } = &self.kind {
            start.get_or_init(tokio::time::Instant::now);
        }
    }

    /// The recorded instant it is now, in ns.
    pub fn now_ns(&self) -> i64 {
        match &self.kind {
            Kind::Paced {
                origin_ns,
                start,
                speed,
            } => {
                let elapsed = start.get().map_or(0.0, |s| s.elapsed().as_nanos() as f64);
                origin_ns.saturating_add((elapsed * speed) as i64)
            }
            Kind::Stepped(ns) => ns.load(Ordering::Relaxed),
        }
    }

    /// The real time (on `tokio::time`) at which recorded instant `ns` is due; `None` for
    /// `--speed max` (everything is due at once). A paced clock runs from its first call on, if
    /// [`ReplayClock::run`] did not start it.
    pub fn due(&self, ns: i64) -> Option<tokio::time::Instant> {
        match &self.kind {
            Kind::Paced {
                origin_ns,
                start,
                speed,
            } => {
                let start = *start.get_or_init(tokio::time::Instant::now);
                let after = ns.saturating_sub(*origin_ns).max(0) as f64 / speed;
                Some(start + std::time::Duration::from_nanos(after as u64))
            }
            Kind::Stepped(_) => None,
        }
    }

    /// Moves a `--speed max` clock to `ns` (never backwards); a paced clock ignores it.
    pub fn reach(&self, ns: i64) {
        if let Kind::Stepped(at) = &self.kind {
            at.fetch_max(ns, Ordering::Relaxed);
        }
    }
}

impl Clock for ReplayClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.now_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000_000_000;

    #[tokio::test(start_paused = true)]
    async fn a_paced_clock_runs_speed_times_faster_and_says_when_frames_are_due() {
        let clock = ReplayClock::new(T0, Speed::Times(10.0));
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        assert_eq!(clock.now_ns(), T0, "stands until it runs");
        clock.run();
        let due = clock.due(T0 + 5_000_000_000).unwrap();
        assert_eq!(
            due - tokio::time::Instant::now(),
            std::time::Duration::from_millis(500)
        );
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        assert_eq!(clock.now_ns(), T0 + 20_000_000_000);
        clock.reach(T0 + 100_000_000_000);
        assert_eq!(
            clock.now_ns(),
            T0 + 20_000_000_000,
            "only the feed's clock is stepped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_max_clock_moves_only_with_the_frames_and_never_back() {
        let clock = ReplayClock::new(T0, Speed::Max);
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        assert_eq!(clock.now_ns(), T0);
        assert_eq!(clock.due(T0 + 1), None);
        clock.reach(T0 + 7);
        clock.reach(T0 + 3);
        assert_eq!(clock.now_ns(), T0 + 7);
        assert_eq!(clock.now().timestamp_nanos_opt(), Some(T0 + 7));
    }
}

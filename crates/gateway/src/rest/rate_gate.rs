//! Spacing of broker REST quote calls shared by everything that makes them (REST fallback,
//! closed-hours quotes), so together they stay within the broker's limit (Kite: 1 quote
//! request per second per api_key), and back off together after a 429.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Longest `Retry-After` honoured: a broker (or a proxy in front of it) asking for more must
/// not freeze the REST fallback for hours; another 429 extends the wait anyway.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RateGate {
    next: Mutex<Option<Instant>>,
    interval: Duration,
}

impl RateGate {
    pub fn new(interval: Duration) -> Self {
        Self {
            next: Mutex::new(None),
            interval,
        }
    }

    /// Waits for this caller's slot: at least `interval` after the previous caller's.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// After a 429 (`BrokerError::RateLimited`): no caller gets a slot before the broker's
    /// `Retry-After` has passed (at most [`MAX_RETRY_AFTER`]) or, when it sent none, before two
    /// intervals from now. The one place every quote caller backs off, so they agree.
    pub fn rate_limited(&self, retry_after: Option<Duration>) {
        let wait = retry_after.map_or(self.interval * 2, |d| d.min(MAX_RETRY_AFTER));
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = Instant::now() + wait;
        *next = Some(next.map_or(earliest, |n| n.max(earliest)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn callers_are_spaced_by_the_interval() {
        let gate = Arc::new(RateGate::new(Duration::from_millis(1100)));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let g = gate.clone();
            handles.push(tokio::spawn(async move {
                g.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap().duration_since(start).as_millis());
        }
        times.sort_unstable();
        assert_eq!(times, [0, 1100, 2200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_every_caller_for_the_brokers_retry_after() {
        // (Retry-After, next slot before the 429 (from now), wait for the next caller)
        let cases = [
            // No hint: two intervals from now.
            (None, 0, 2_000),
            (None, 1_000, 2_000),
            // The broker's hint wins, however long the scheduled spacing was.
            (Some(5_000), 1_000, 5_000),
            (Some(0), 1_000, 1_000),
            // Capped: a bogus hour-long hint does not freeze polling.
            (Some(3_600_000), 0, 60_000),
        ];
        for (retry_after, scheduled, want) in cases {
            let gate = RateGate::new(Duration::from_secs(1));
            if scheduled > 0 {
                gate.acquire().await; // now; the next slot is 1 s away
            }
            gate.rate_limited(retry_after.map(Duration::from_millis));
            let t = Instant::now();
            gate.acquire().await;
            assert_eq!(
                t.elapsed(),
                Duration::from_millis(want),
                "{retry_after:?} {scheduled}"
            );
        }
    }
}

//! Spacing of broker REST quote calls shared by everything that makes them (REST fallback,
//! closed-hours snapshots), so together they stay within the broker's limit (Kite: 1 quote
//! request per second per api_key).

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

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

    /// Pushes the next slot out (after a 429, back off a little more).
    pub fn penalize(&self, extra: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let base = next.unwrap_or_else(Instant::now).max(Instant::now());
        *next = Some(base + extra);
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
        gate.penalize(Duration::from_secs(2));
        let t = Instant::now();
        gate.acquire().await;
        // The next slot was 3.3 s; the penalty moves it 2 s later: 5.3 s, i.e. 3.1 s from now.
        assert_eq!(t.elapsed(), Duration::from_millis(3100));
    }
}

//! One request budget for every Fyers API call feedgate makes (profile, quotes, symbol-token,
//! the login exchange): Fyers allows 10 requests per second and 200 per minute per app, counted
//! across endpoints. A caller waits for its slot instead of being refused with 429. Not the
//! spacing of REST quote polls (the rate gate in `rest/`, a layer above, which sits on top of
//! this for quotes); not the symbol master or the index-name file, which are static downloads.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Fyers' documented limits per app.
pub const PER_SECOND: usize = 10;
pub const PER_MINUTE: usize = 200;
/// The windows, a little wider than Fyers' own: requests sent at the edge of a window may
/// arrive closer together than they left.
const SECOND_WINDOW: Duration = Duration::from_millis(1100);
const MINUTE_WINDOW: Duration = Duration::from_secs(61);

/// Grants request slots so that no window of `SECOND_WINDOW` holds more than `per_second`
/// of them and no window of `MINUTE_WINDOW` more than `per_minute`. First come, first served.
#[derive(Debug)]
pub struct ApiLimiter {
    /// Granted slots (past and future), oldest first; those older than a minute window are
    /// dropped as new ones are granted.
    granted: Mutex<VecDeque<Instant>>,
    per_second: usize,
    per_minute: usize,
}

impl Default for ApiLimiter {
    fn default() -> Self {
        Self::new(PER_SECOND, PER_MINUTE)
    }
}

impl ApiLimiter {
    pub fn new(per_second: usize, per_minute: usize) -> Self {
        Self {
            granted: Mutex::new(VecDeque::new()),
            per_second: per_second.max(1),
            per_minute: per_minute.max(1),
        }
    }

    /// Waits until this caller may send one request. A caller that gives up while waiting
    /// leaves its slot unused (never more requests than the budget, at worst fewer).
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// The earliest slot at or after `now` (and after every slot granted before) that keeps
    /// both windows within their budgets; records it.
    fn reserve(&self, now: Instant) -> Instant {
        let mut granted = self.granted.lock().unwrap_or_else(|p| p.into_inner());
        while granted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE_WINDOW)
        {
            granted.pop_front();
        }
        let mut slot = granted.back().map_or(now, |last| (*last).max(now));
        let n = granted.len();
        if n >= self.per_second {
            slot = slot.max(granted[n - self.per_second] + SECOND_WINDOW);
        }
        if n >= self.per_minute {
            slot = slot.max(granted[n - self.per_minute] + MINUTE_WINDOW);
        }
        granted.push_back(slot);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The most slots any window of `width` holds.
    fn densest(slots: &[Instant], width: Duration) -> usize {
        slots
            .iter()
            .map(|start| {
                slots
                    .iter()
                    .filter(|t| **t >= *start && t.duration_since(*start) < width)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spread_over_both_windows() {
        let limiter = ApiLimiter::default();
        let start = Instant::now();
        let slots: Vec<Instant> = (0..450).map(|_| limiter.reserve(start)).collect();
        assert_eq!(slots[..10], [start; 10], "the first ten go at once");
        assert_eq!(slots[10], start + SECOND_WINDOW);
        assert!(
            slots.windows(2).all(|w| w[0] <= w[1]),
            "first come, first served"
        );
        assert!(densest(&slots, Duration::from_secs(1)) <= PER_SECOND);
        assert!(densest(&slots, Duration::from_secs(60)) <= PER_MINUTE);
        // 200 in the first minute, the next 200 a minute window after the first.
        assert!(slots[199] < start + Duration::from_secs(22));
        assert!(slots[200] >= start + MINUTE_WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_wait_for_their_slots() {
        let limiter = Arc::new(ApiLimiter::new(2, 100));
        let start = Instant::now();
        let handles: Vec<_> = (0..5)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now().duration_since(start)
                })
            })
            .collect();
        let mut waited = Vec::new();
        for h in handles {
            waited.push(h.await.unwrap().as_millis());
        }
        waited.sort_unstable();
        assert_eq!(waited, [0, 0, 1100, 1100, 2200]);
        // A quiet spell frees the budget again.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t = Instant::now();
        limiter.acquire().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}

//! The data API's rate limit (Fyers documents 10 requests per second and 200 per minute per
//! app): a window of the allowed requests' instants. Only allowed requests count, so a client
//! hammering at 429 does not lock itself out. Time is `tokio::time`.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

const PER_SECOND: usize = 10;
const PER_MINUTE: usize = 200;
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// The instants of the allowed requests of the last minute.
#[derive(Debug, Default)]
pub(crate) struct QuoteWindow {
    allowed: VecDeque<Instant>,
}

impl QuoteWindow {
    /// Whether a request at `now` is within both limits (and records it if so).
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        while self
            .allowed
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            self.allowed.pop_front();
        }
        let last_second = self
            .allowed
            .iter()
            .rev()
            .take_while(|t| now.saturating_duration_since(**t) < SECOND)
            .count();
        if last_second >= PER_SECOND || self.allowed.len() >= PER_MINUTE {
            return false;
        }
        self.allowed.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_per_second_and_two_hundred_per_minute() {
        let mut w = QuoteWindow::default();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(w.allow(t0), "request {i}");
        }
        assert!(!w.allow(t0), "11th in the same second");
        assert!(!w.allow(t0 + Duration::from_millis(999)));
        assert!(w.allow(t0 + SECOND));
        // Fill the minute: 200 allowed in total, then refused until the oldest leave.
        let mut at = t0 + SECOND;
        let mut allowed = 11;
        while allowed < PER_MINUTE {
            at += Duration::from_millis(150);
            if w.allow(at) {
                allowed += 1;
            }
        }
        assert!(at < t0 + MINUTE);
        assert!(!w.allow(at + Duration::from_secs(2)), "minute budget used");
        assert!(w.allow(t0 + MINUTE + Duration::from_millis(1)));
    }
}

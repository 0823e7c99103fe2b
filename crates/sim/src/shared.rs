//! State shared by every part of a running simulator: configuration, universe, market, wall
//! clock, issued tokens, connection registry, fault switches and the feed's batch channel.

use crate::SimConfig;
use crate::auth::TokenStore;
use crate::clock::WallClock;
use crate::fyers::FyersShared;
use crate::kite::ticker::batch::Batch;
use crate::market::Market;
use crate::registry::{Registry, lock};
use crate::universe::Universe;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Kite's quote endpoints allow one request per second per api_key.
const QUOTE_INTERVAL: Duration = Duration::from_secs(1);
/// Slack for clients that schedule exactly one second apart and get woken a little early.
const QUOTE_TOLERANCE: Duration = Duration::from_millis(50);

/// Everything the handlers and tasks share (behind one `Arc`).
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub addr: SocketAddr,
    pub universe: Arc<Universe>,
    pub market: Mutex<Market>,
    pub clock: WallClock,
    pub tokens: Mutex<TokenStore>,
    pub registry: Arc<Registry>,
    /// End of a `reject_ws` fault.
    pub reject_ws_until: Mutex<Option<Instant>>,
    /// End of a `rest_429` fault.
    pub rest_429_until: Mutex<Option<Instant>>,
    pub quote_limiter: Mutex<QuoteLimiter>,
    /// Kite's historical candles: 3 requests per second per api_key.
    pub history_limiter: Mutex<WindowLimiter>,
    /// Encoded market batches, one per timer tick with demanded updates.
    pub batches: broadcast::Sender<Arc<Batch>>,
    pub shutdown: CancellationToken,
    /// The Fyers front-end's state.
    pub fyers: FyersShared,
}

impl Shared {
    pub(crate) fn reject_ws_active(&self, now: Instant) -> bool {
        lock(&self.reject_ws_until).is_some_and(|until| until > now)
    }

    /// Whether a `rest_429` fault answers quote calls with 429 at `now`.
    pub(crate) fn rest_429_active(&self, now: Instant) -> bool {
        lock(&self.rest_429_until).is_some_and(|until| until > now)
    }

    /// Whether `api_key`/`access_token` is a valid pair right now.
    pub(crate) fn credentials_valid(&self, api_key: &str, access_token: &str) -> bool {
        api_key == self.cfg.api_key && lock(&self.tokens).is_valid(access_token)
    }
}

/// The quote endpoints' per-api_key rate limit (one bucket for `/quote`, `/quote/ltp` and
/// `/quote/ohlc`: Kite documents a single "Quote" limit).
#[derive(Debug, Default)]
pub(crate) struct QuoteLimiter {
    last_allowed: HashMap<String, Instant>,
}

impl QuoteLimiter {
    /// Whether a quote request from `api_key` at `now` is within the limit; only allowed
    /// requests restart the interval (a client hammering at 429 does not lock itself out).
    pub(crate) fn allow(&mut self, api_key: &str, now: Instant) -> bool {
        let min_gap = QUOTE_INTERVAL.saturating_sub(QUOTE_TOLERANCE);
        match self.last_allowed.get(api_key) {
            Some(last) if now.saturating_duration_since(*last) < min_gap => false,
            _ => {
                self.last_allowed.insert(api_key.to_owned(), now);
                true
            }
        }
    }
}

/// At most `max` requests per `window` per key (Kite's historical API: 3 per second). Counts
/// allowed requests only, like [`QuoteLimiter`].
#[derive(Debug)]
pub(crate) struct WindowLimiter {
    max: usize,
    window: Duration,
    recent: HashMap<String, std::collections::VecDeque<Instant>>,
}

impl WindowLimiter {
    /// Kite's historical limit, with the quote limiter's slack for clients waking a little early.
    pub(crate) fn historical() -> Self {
        Self {
            max: 3,
            window: Duration::from_secs(1).saturating_sub(QUOTE_TOLERANCE),
            recent: HashMap::new(),
        }
    }

    pub(crate) fn allow(&mut self, key: &str, now: Instant) -> bool {
        let recent = self.recent.entry(key.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            recent.pop_front();
        }
        if recent.len() >= self.max {
            return false;
        }
        recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn historical_limit_is_three_per_second() {
        let mut limiter = WindowLimiter::historical();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(limiter.allow("k", at(0)));
        assert!(limiter.allow("k", at(10)));
        assert!(limiter.allow("k", at(20)));
        assert!(!limiter.allow("k", at(500)), "a fourth within the second");
        assert!(limiter.allow("other", at(500)), "per api_key");
        assert!(limiter.allow("k", at(955)), "the first left the window");
        assert!(!limiter.allow("k", at(956)));
        // Evenly spaced at 3/s never hits the limit.
        let mut limiter = WindowLimiter::historical();
        assert!((0..30).all(|i| limiter.allow("k", at(2_000 + i * 334))));
    }

    #[tokio::test(start_paused = true)]
    async fn quote_limit_is_one_per_second_with_tolerance() {
        let mut limiter = QuoteLimiter::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let cases = [
            (0, true),
            (500, false),
            (949, false),
            (950, true), // 50 ms early is tolerated
            (1_400, false),
            (2_000, true),
        ];
        for (at, allowed) in cases {
            assert_eq!(limiter.allow("k", t0 + ms(at)), allowed, "at {at} ms");
        }
        assert!(
            limiter.allow("other", t0 + ms(2_001)),
            "limits are per api_key"
        );
    }
}

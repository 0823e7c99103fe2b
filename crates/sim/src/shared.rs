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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Per-client limits: symbol count, message size and completion time, pending outbound bytes,
//! and the inbound frame rate (a token bucket in monotonic time, so tests drive it with paused
//! time; every frame counts, pings and pongs included).

use std::time::Duration;
use tokio::time::Instant;

/// Limits applied to every client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Instruments one connection may subscribe to (Kite's own per-socket cap is 3000).
    pub max_symbols: usize,
    /// Largest inbound message or frame (the WebSocket reader's limit, checked at the frame
    /// header, so a larger one is never buffered): it gets an `error` and the connection is
    /// closed with 1009, since the reader cannot skip it.
    pub max_message_bytes: usize,
    /// A message whose first bytes arrived this long ago and that is still incomplete closes
    /// the connection (1008): a client holding a half-sent frame holds its buffer.
    pub unfinished_message_timeout: Duration,
    /// Bytes the WebSocket layer may hold for a client that does not read (our messages and
    /// its pongs); beyond them the connection is closed as a slow consumer.
    pub max_pending_out_bytes: usize,
    /// Sustained requests per second a client may send.
    pub rate_per_sec: u32,
    /// Requests a client may send in a burst above the sustained rate.
    pub burst: u32,
    /// Requests dropped for rate within one `flood_window` before the client is disconnected.
    pub flood_drops: u32,
    pub flood_window: Duration,
    /// Byte budget of the immediate (non-conflating) outbox queue.
    pub outbox_immediate_bytes: usize,
    /// A client whose socket does not take a write within this long is disconnected.
    pub write_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_symbols: 3000,
            max_message_bytes: 64 * 1024,
            unfinished_message_timeout: Duration::from_secs(10),
            max_pending_out_bytes: 1 << 20,
            rate_per_sec: 20,
            burst: 100,
            flood_drops: 200,
            flood_window: Duration::from_secs(10),
            outbox_immediate_bytes: 4 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Verdict on one inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Accept,
    /// Over the rate: drop the request and tell the client (at most once per second).
    Drop {
        notify: bool,
    },
    /// Persistent flooding: disconnect.
    Disconnect,
}

/// Token bucket with flood detection.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    flood_drops: u32,
    flood_window: Duration,
    window_start: Instant,
    drops_in_window: u32,
    /// When the client was last sent a notice (over the rate, or a binary frame): one a
    /// second at most, whichever kind.
    last_notice: Option<Instant>,
}

/// At most one notice of a kind per this long.
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Whether a notice last given at `last` may be given again at `now` (and records it).
fn notice_due(last: &mut Option<Instant>, now: Instant) -> bool {
    let due = last.is_none_or(|t| now.saturating_duration_since(t) >= NOTICE_EVERY);
    if due {
        *last = Some(now);
    }
    due
}

impl RateLimiter {
    pub fn new(limits: &ClientLimits, now: Instant) -> Self {
        let burst = f64::from(limits.burst.max(1));
        Self {
            rate: f64::from(limits.rate_per_sec.max(1)),
            burst,
            tokens: burst,
            last: now,
            flood_drops: limits.flood_drops.max(1),
            flood_window: limits.flood_window,
            window_start: now,
            drops_in_window: 0,
            last_notice: None,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Accept;
        }
        if now.saturating_duration_since(self.window_start) > self.flood_window {
            self.window_start = now;
            self.drops_in_window = 0;
        }
        self.drops_in_window += 1;
        if self.drops_in_window >= self.flood_drops {
            return Admit::Disconnect;
        }
        Admit::Drop {
            notify: notice_due(&mut self.last_notice, now),
        }
    }

    /// Whether an admitted binary frame gets its `unsupported_frame` error: at most one a
    /// second (shared with the rate notices), so tiny frames cannot make the server send many
    /// times their size back.
    pub fn binary_notice(&mut self, now: Instant) -> bool {
        notice_due(&mut self.last_notice, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_rate_then_disconnects_floods() {
        let limits = ClientLimits {
            rate_per_sec: 10,
            burst: 5,
            flood_drops: 20,
            ..ClientLimits::default()
        };
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&limits, t0);
        for _ in 0..5 {
            assert_eq!(rl.admit(t0), Admit::Accept);
        }
        assert_eq!(rl.admit(t0), Admit::Drop { notify: true });
        assert_eq!(
            rl.admit(t0),
            Admit::Drop { notify: false },
            "one notice per second"
        );
        // 100 ms later one token has been refilled.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.admit(t1), Admit::Accept);
        let mut verdict = Admit::Accept;
        for _ in 0..30 {
            verdict = rl.admit(t1);
            if verdict == Admit::Disconnect {
                break;
            }
        }
        assert_eq!(verdict, Admit::Disconnect);
    }

    #[tokio::test(start_paused = true)]
    async fn binary_notices_are_one_a_second() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&ClientLimits::default(), t0);
        assert!(rl.binary_notice(t0));
        assert!(!rl.binary_notice(t0 + Duration::from_millis(999)));
        assert!(rl.binary_notice(t0 + Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_client_is_never_limited() {
        let limits = ClientLimits::default();
        let mut now = Instant::now();
        let mut rl = RateLimiter::new(&limits, now);
        for _ in 0..10_000 {
            now += Duration::from_millis(60); // ~16/s, under the 20/s rate
            assert_eq!(rl.admit(now), Admit::Accept);
        }
    }
}

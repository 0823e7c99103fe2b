//! Whether market data flows into feedgate now, and since when: the input of the one freshness
//! rule (`json::ticker::Freshness`). A value is live only if it arrived during the current live
//! period; a value from before an outage stays a last-known one (with its age) after the feed
//! comes back, until it ticks again.

/// The feed's liveness as the status monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedLive {
    /// Unix ms of the last moment the feed was seen not live, while it is live now; `None`
    /// while it is not. (The last "down" observation, not the first "up" one: a snapshot can
    /// arrive a moment before the monitor notices the connection, and it belongs to the new
    /// period.)
    since_ms: Option<i64>,
}

impl FeedLive {
    /// No data flows (closed market, login needed, outage).
    pub const DOWN: Self = Self { since_ms: None };

    /// Live, after having last been seen down at `since_ms`.
    pub const fn since(since_ms: i64) -> Self {
        Self {
            since_ms: Some(since_ms),
        }
    }

    /// Live from the very beginning of time (tests and benchmarks of the live path).
    pub const ALWAYS: Self = Self::since(i64::MIN);

    pub fn is_live(self) -> bool {
        self.since_ms.is_some()
    }

    /// Whether a value received at `received_ms` arrived over the feed as it flows now.
    pub fn delivered(self, received_ms: i64) -> bool {
        self.since_ms.is_some_and(|s| received_ms >= s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_of_the_current_live_period_are_delivered() {
        assert!(!FeedLive::DOWN.is_live());
        assert!(!FeedLive::DOWN.delivered(i64::MAX));
        let live = FeedLive::since(1_000);
        assert!(live.is_live());
        assert!(live.delivered(1_000) && live.delivered(5_000));
        assert!(!live.delivered(999), "from before the outage");
        assert!(FeedLive::ALWAYS.delivered(0));
    }
}

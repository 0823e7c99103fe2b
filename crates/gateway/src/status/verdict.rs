//! The health verdict and the rules behind it (pure): which banner wins (`AUTH_REQUIRED` >
//! `FEED_DISCONNECTED` > `MARKET_SESSION`; a clustered node that cannot reach Redis says so
//! under `FEED_DISCONNECTED`) with a message that says what to do, when data is
//! fresh, when the feed is healthy, and how the feed mode is named. The health document
//! ([`crate::status::health`]) and the status monitor both decide freshness, health and mode
//! with these, so the banner and `connection_status` never disagree about the feed.

use crate::upstream::FeedState;
use serde::Serialize;

/// The banner's verdict, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    AuthRequired,
    FeedDisconnected,
    MarketSession,
}

/// What the verdict needs to know (pure input).
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictInput<'a> {
    pub requires_login: bool,
    pub login_url: &'a str,
    /// The market is in a phase that should produce data.
    pub expects_data: bool,
    pub feed_healthy: bool,
    pub feed_state: FeedState,
    pub fallback: bool,
    /// REST quotes bridge the WebSocket's gap (before the fallback is reported).
    pub bridging: bool,
    pub reconnect_attempts: u32,
    pub market_title: &'a str,
    pub market_description: &'a str,
    /// In a cluster, this node holds no broker feed by design (`None` for role `all`, and for
    /// the leader itself).
    pub feed_elsewhere: Option<FeedElsewhere<'a>>,
    /// A clustered node that cannot reach Redis: the URL, password redacted.
    pub redis_unreachable: Option<&'a str>,
}

/// Why a clustered node holds no broker connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedElsewhere<'a> {
    /// An ingest node that does not lead; the leader's name, when known.
    Standby { leader: Option<&'a str> },
    /// An edge never holds one.
    Edge,
}

/// `AUTH_REQUIRED` > `FEED_DISCONNECTED` (Redis unreachable in a cluster, at any phase: the
/// node gets no ticks through it; else only when the phase should have data) >
/// `MARKET_SESSION`, with a message that tells a person what to do.
pub fn verdict(i: &VerdictInput<'_>) -> (Priority, String) {
    if i.requires_login {
        return (
            Priority::AuthRequired,
            format!(
                "Login required to view live data: log in at {}",
                i.login_url
            ),
        );
    }
    if let Some(url) = i.redis_unreachable {
        return (
            Priority::FeedDisconnected,
            format!(
                "Redis unreachable at {url}: this node keeps its clients and serves the last values (stale) while it reconnects with backoff. Check that Redis runs and that FEEDGATE_REDIS_URL points to it."
            ),
        );
    }
    if i.expects_data && !i.feed_healthy {
        let msg = if let Some(elsewhere) = i.feed_elsewhere {
            elsewhere_message(elsewhere)
        } else if i.fallback {
            "Using REST fallback: the broker WebSocket is unavailable, quotes are polled while it reconnects"
                .to_string()
        } else {
            let what = match i.feed_state {
                FeedState::Stale => "feed stale (no data while the market is open); reconnecting",
                FeedState::Connecting => "reconnecting to the broker",
                FeedState::Error => "cannot reach the broker feed; retrying with backoff",
                FeedState::Disconnected => "disconnected from the broker; reconnecting",
                FeedState::Connected => "connected but no data is arriving; checking the feed",
            };
            let bridge = if i.bridging {
                "; quotes bridged over REST meanwhile"
            } else {
                ""
            };
            if i.reconnect_attempts > 0 {
                format!(
                    "Feed disconnected: {what} (attempt {}){bridge}. No action needed unless this persists.",
                    i.reconnect_attempts
                )
            } else {
                format!("Feed disconnected: {what}{bridge}. No action needed unless this persists.")
            }
        };
        return (Priority::FeedDisconnected, msg);
    }
    (
        Priority::MarketSession,
        format!("{}: {}", i.market_title, i.market_description),
    )
}

fn elsewhere_message(e: FeedElsewhere<'_>) -> String {
    match e {
        FeedElsewhere::Standby { leader } => format!(
            "Feed disconnected: this node is a standby; the leader ({}) holds the broker connection. No action needed: this node takes over if the leader fails.",
            leader.unwrap_or("not known yet")
        ),
        FeedElsewhere::Edge => {
            "Feed disconnected: this node is an edge; it serves clients and holds no broker connection."
                .to_string()
        }
    }
}

/// Data is fresh: the last tick arrived less than the stale threshold ago.
pub fn is_fresh(last_tick_seconds_ago: Option<f64>, stale_after_s: f64) -> bool {
    last_tick_seconds_ago.is_some_and(|s| s < stale_after_s)
}

/// The feed is healthy: connected, and receiving fresh data unless the market is in a phase
/// without any. The one rule behind the health document and what clients are told.
pub fn feed_is_healthy(state: FeedState, fresh: bool, expects_data: bool) -> bool {
    state == FeedState::Connected && (fresh || !expects_data)
}

/// How data reaches feedgate, as the health document and `connection_status` name it.
pub fn feed_mode(fallback: bool) -> &'static str {
    if fallback {
        "REST API Polling"
    } else {
        "WebSocket"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        requires_login: bool,
        expects_data: bool,
        feed_healthy: bool,
    ) -> VerdictInput<'static> {
        VerdictInput {
            requires_login,
            login_url: "http://h/api/login",
            expects_data,
            feed_healthy,
            feed_state: if feed_healthy {
                FeedState::Connected
            } else {
                FeedState::Connecting
            },
            fallback: false,
            bridging: false,
            reconnect_attempts: 0,
            market_title: "Market Live",
            market_description: "Active trading (9:15 AM - 3:30 PM)",
            feed_elsewhere: None,
            redis_unreachable: None,
        }
    }

    /// Every combination of the three inputs.
    #[test]
    fn verdict_table() {
        use Priority::*;
        let cases = [
            // (login needed, phase should have data, feed healthy) → verdict
            ((true, true, true), AuthRequired),
            ((true, true, false), AuthRequired),
            ((true, false, true), AuthRequired),
            ((true, false, false), AuthRequired),
            ((false, true, true), MarketSession),
            ((false, true, false), FeedDisconnected),
            ((false, false, true), MarketSession),
            ((false, false, false), MarketSession),
        ];
        for ((login, data, healthy), want) in cases {
            let (got, msg) = verdict(&input(login, data, healthy));
            assert_eq!(got, want, "login={login} data={data} healthy={healthy}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn messages_tell_what_to_do() {
        let (_, m) = verdict(&input(true, true, true));
        assert_eq!(
            m,
            "Login required to view live data: log in at http://h/api/login"
        );
        let mut i = input(false, true, false);
        i.reconnect_attempts = 3;
        i.feed_state = FeedState::Error;
        let (_, m) = verdict(&i);
        assert!(m.contains("attempt 3") && m.contains("retrying"), "{m}");
        i.bridging = true;
        assert!(
            verdict(&i).1.contains("bridged over REST"),
            "{}",
            verdict(&i).1
        );
        i.fallback = true;
        assert!(verdict(&i).1.starts_with("Using REST fallback"));
        let (_, m) = verdict(&input(false, true, true));
        assert_eq!(m, "Market Live: Active trading (9:15 AM - 3:30 PM)");
        let mut standby = input(false, true, false);
        standby.feed_elsewhere = Some(FeedElsewhere::Standby {
            leader: Some("node-a"),
        });
        let (p, m) = verdict(&standby);
        assert_eq!(p, Priority::FeedDisconnected);
        assert!(m.contains("standby") && m.contains("(node-a)"), "{m}");
        assert!(!m.contains("reconnecting"), "{m}");
        standby.feed_elsewhere = Some(FeedElsewhere::Edge);
        let (_, m) = verdict(&standby);
        assert!(m.contains("an edge") && !m.contains("takes over"), "{m}");
    }

    #[test]
    fn a_node_that_cannot_reach_redis_says_so_at_any_phase() {
        for (data, healthy) in [(true, false), (false, false), (true, true)] {
            let mut edge = input(false, data, healthy);
            edge.feed_elsewhere = Some(FeedElsewhere::Edge);
            edge.redis_unreachable = Some("redis://:***@cache:6379/0");
            let (p, m) = verdict(&edge);
            assert_eq!(
                p,
                Priority::FeedDisconnected,
                "data={data} healthy={healthy}"
            );
            assert!(
                m.starts_with("Redis unreachable at redis://:***@cache:6379/0")
                    && m.contains("keeps its clients")
                    && m.contains("FEEDGATE_REDIS_URL"),
                "{m}"
            );
        }
        // A login still comes first: without it there is nothing to relay either.
        let mut standby = input(true, true, false);
        standby.redis_unreachable = Some("redis://127.0.0.1:6379/0");
        assert_eq!(verdict(&standby).0, Priority::AuthRequired);
    }
}

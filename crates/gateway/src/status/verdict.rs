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
    /// In a cluster, whose feed (and login) the other inputs are: `None` for this node's own
    /// (role `all`, or the leader).
    pub feed_from: Option<FeedFrom<'a>>,
    /// A clustered node that cannot reach Redis: the URL, password redacted.
    pub redis_unreachable: Option<&'a str>,
}

/// Whose feed a clustered node that does not lead reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFrom<'a> {
    /// The leader's, named: it published its status within a lease.
    Leader(&'a str),
    /// Nobody's: no leader has published a status for a lease.
    NoLeader,
}

/// `AUTH_REQUIRED` > `FEED_DISCONNECTED` (in a cluster, Redis unreachable or no leader, at any
/// phase: the node gets no ticks; else only when the phase should have data) >
/// `MARKET_SESSION`, with a message that tells a person what to do. In a cluster the login and
/// the feed are the leader's.
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
    let on = match i.feed_from {
        Some(FeedFrom::NoLeader) => return (Priority::FeedDisconnected, NO_LEADER.to_string()),
        Some(FeedFrom::Leader(node)) => format!(" on the leader ({node})"),
        None => String::new(),
    };
    if i.expects_data && !i.feed_healthy {
        let msg = if i.fallback {
            format!(
                "Using REST fallback{on}: the broker WebSocket is unavailable, quotes are polled while it reconnects"
            )
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
                    "Feed disconnected{on}: {what} (attempt {}){bridge}. No action needed unless this persists.",
                    i.reconnect_attempts
                )
            } else {
                format!(
                    "Feed disconnected{on}: {what}{bridge}. No action needed unless this persists."
                )
            }
        };
        return (Priority::FeedDisconnected, msg);
    }
    (
        Priority::MarketSession,
        format!("{}: {}", i.market_title, i.market_description),
    )
}

/// A cluster without a leader: nobody holds the broker feed.
const NO_LEADER: &str = "No leader: no ingest node holds the broker feed (none has published its status for a lease, 3 s). Start an ingest node (FEEDGATE_ROLE=ingest) on this Redis, or check the ingest nodes' health and logs for why none leads. Meanwhile this node keeps its clients and serves the last values (stale).";

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
            feed_from: None,
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
    }

    /// A node that does not lead speaks for the leader's login and feed, and says so.
    #[test]
    fn a_follower_gives_the_leaders_verdict_naming_it() {
        let mut edge = input(false, true, false);
        edge.feed_from = Some(FeedFrom::Leader("in-1"));
        edge.reconnect_attempts = 2;
        let (p, m) = verdict(&edge);
        assert_eq!(p, Priority::FeedDisconnected);
        assert!(
            m.starts_with(
                "Feed disconnected on the leader (in-1): reconnecting to the broker (attempt 2)"
            ),
            "{m}"
        );
        edge.fallback = true;
        assert!(
            verdict(&edge)
                .1
                .starts_with("Using REST fallback on the leader (in-1):")
        );
        let mut login = input(true, true, false);
        login.feed_from = Some(FeedFrom::Leader("in-1"));
        assert_eq!(
            verdict(&login),
            (
                Priority::AuthRequired,
                "Login required to view live data: log in at http://h/api/login".to_string()
            )
        );
        let mut live = input(false, true, true);
        live.feed_from = Some(FeedFrom::Leader("in-1"));
        assert_eq!(verdict(&live).0, Priority::MarketSession);
    }

    /// No leader: nobody holds the broker feed, at any phase, whatever this node's own feed says.
    #[test]
    fn a_cluster_without_a_leader_says_so_and_what_to_do() {
        for (data, healthy) in [(true, false), (false, false), (true, true), (false, true)] {
            let mut edge = input(false, data, healthy);
            edge.feed_from = Some(FeedFrom::NoLeader);
            let (p, m) = verdict(&edge);
            assert_eq!(
                p,
                Priority::FeedDisconnected,
                "data={data} healthy={healthy}"
            );
            assert!(
                m.starts_with("No leader: no ingest node holds the broker feed")
                    && m.contains("FEEDGATE_ROLE=ingest")
                    && m.contains("last values"),
                "{m}"
            );
        }
        let mut down = input(false, true, false);
        down.feed_from = Some(FeedFrom::NoLeader);
        down.redis_unreachable = Some("redis://cache:6379/0");
        assert!(
            verdict(&down).1.starts_with("Redis unreachable"),
            "Redis down explains the rest"
        );
    }

    #[test]
    fn a_node_that_cannot_reach_redis_says_so_at_any_phase() {
        for (data, healthy) in [(true, false), (false, false), (true, true)] {
            let mut edge = input(false, data, healthy);
            edge.feed_from = Some(FeedFrom::NoLeader);
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

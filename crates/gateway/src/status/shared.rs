//! The leader's status as the rest of a cluster shows it (DESIGN.md §9), pure: what the leader
//! publishes ([`LeaderStatus`]: its auth, feed and recording sections, its name and term), its
//! JSON form, and which status a node that does not lead may show ([`follow`]).
//!
//! Only the leader holds the broker feed and the login that serves it, so a non-leading node's
//! own auth and feed say nothing about the data its clients get; it shows the leader's, marked
//! with `from`. The market section stays each node's own: every node computes it from the same
//! calendar and its own (NTP-set) clock, so it is the same everywhere to the second, counts down
//! without a one-second hop through Redis, and still shows when there is no leader at all.

use crate::status::sections::{AuthSection, FeedSection, RecordingSection};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// What the leader publishes about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderStatus {
    /// The leader's node name.
    pub node: String,
    /// Its term (the fencing token) when it wrote this.
    pub term: u64,
    /// As served to an admin (the identity is redacted per caller where it is served again).
    pub auth: AuthSection,
    pub feed: FeedSection,
    pub recording: RecordingSection,
}

/// A status as read from Redis, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub status: LeaderStatus,
    pub at: Instant,
}

impl LeaderStatus {
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn decode(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The sections as a follower shows them: each marked with where it came from.
    pub fn shown(&self) -> (AuthSection, FeedSection, RecordingSection) {
        let from = Some(self.node.clone());
        (
            AuthSection {
                from: from.clone(),
                ..self.auth.clone()
            },
            FeedSection {
                from: from.clone(),
                ..self.feed.clone()
            },
            RecordingSection {
                from,
                ..self.recording.clone()
            },
        )
    }
}

/// The leader's status a node that does not lead may show at `now`: the last one read, unless
/// it is older than `ttl` (it would have vanished from Redis by now; a failing read keeps the
/// last one only that long) or of a term older than the election's (`view_term`: a deposed
/// leader's). `None` means no leader has spoken for a lease.
pub fn follow(
    got: Option<&Received>,
    view_term: Option<u64>,
    now: Instant,
    ttl: Duration,
) -> Option<&LeaderStatus> {
    let r = got?;
    if now.saturating_duration_since(r.at) > ttl {
        return None;
    }
    if view_term.is_some_and(|t| r.status.term < t) {
        return None;
    }
    Some(&r.status)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::status::sections::{auth_section, feed_section, recording_section};
    use crate::upstream::{FeedState, ShardStatus};

    pub(crate) fn status(node: &str, term: u64) -> LeaderStatus {
        let view = crate::auth::AuthView {
            state: crate::auth::AuthState::Valid,
            user_id: Some("AB1234".into()),
            user_name: None,
            origin: Some(crate::auth::TokenOrigin::Login),
            issued_at: None,
            expiry_hint: None,
            failures: 0,
            last_error: None,
            login_url: "http://in-1/api/login".into(),
        };
        let shard = ShardStatus {
            state: FeedState::Connected,
            subscribed: 3,
            ..ShardStatus::default()
        };
        LeaderStatus {
            node: node.into(),
            term,
            auth: auth_section(&view, chrono::Utc::now()),
            feed: feed_section(&[shard], true, 97.5, Some(0.4), 10.0, true),
            recording: recording_section(&Default::default()),
        }
    }

    #[test]
    fn a_status_survives_its_json_and_is_shown_with_its_origin() {
        let s = status("in-1", 7);
        let json = s.encode().unwrap();
        assert!(!json.contains("\"from\""), "{json}");
        assert_eq!(LeaderStatus::decode(&json).unwrap(), s);
        let (auth, feed, recording) = s.shown();
        assert_eq!(
            (auth.from, feed.from, recording.from),
            (
                Some("in-1".into()),
                Some("in-1".into()),
                Some("in-1".into())
            )
        );
        assert_eq!(
            (auth.state, feed.state, feed.mode),
            ("valid", "connected", "WebSocket")
        );
        let bad = json.replace("\"connected\"", "\"sideways\"");
        assert!(LeaderStatus::decode(&bad).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_shows_a_fresh_status_of_the_current_term_only() {
        let ttl = Duration::from_secs(3);
        let got = Received {
            status: status("in-1", 7),
            at: Instant::now(),
        };
        let now = Instant::now();
        assert_eq!(follow(Some(&got), Some(7), now, ttl), Some(&got.status));
        assert_eq!(follow(Some(&got), None, now, ttl), Some(&got.status));
        assert_eq!(follow(Some(&got), Some(8), now, ttl), None, "a stale term");
        assert_eq!(
            follow(None, Some(7), now, ttl),
            None,
            "no status: no leader"
        );
        tokio::time::advance(Duration::from_millis(2900)).await;
        assert!(follow(Some(&got), Some(7), Instant::now(), ttl).is_some());
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(
            follow(Some(&got), Some(7), Instant::now(), ttl),
            None,
            "older than a lease: the leader is gone"
        );
    }
}

//! What the clients of a node that does not lead are told (DESIGN.md §9): such a node holds no
//! broker socket and no login of its own that matters, so its `connection_status` and
//! heartbeats speak of the leader's feed, freshness, REST fallback, login and quality (from the
//! status the leader shares, [`super::shared`]). With no leader for a lease: disconnected, and no login asked of the
//! clients (nobody can tell whether one is needed).

use super::monitor::Inputs;
use super::shared::{LeaderStatus, Received, follow};
use crate::auth::AuthState;
use crate::cluster::board::STATUS_TTL;
use crate::cluster::elect::ElectionView;
use crate::upstream::FeedState;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// The monitor's view of the leader (clustered roles only).
#[derive(Debug)]
pub struct Follow {
    pub received: watch::Receiver<Option<Arc<Received>>>,
    pub view: watch::Receiver<ElectionView>,
}

impl Follow {
    /// `own` as this node's clients should see it at `now`: unchanged while it leads.
    pub fn inputs(&self, own: Inputs, now: Instant) -> Inputs {
        let view = self.view.borrow();
        if view.leading {
            return own;
        }
        let received = self.received.borrow();
        as_follower(own, follow(received.as_deref(), view.term, now, STATUS_TTL))
    }
}

/// The next change of the leader's status as read; never, outside a cluster (or once the
/// status sharing has stopped).
pub async fn changed(follow: &mut Option<Follow>) {
    match follow {
        Some(f) => {
            if f.received.changed().await.is_err() {
                *follow = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// Pure: `own` with the leader's feed, fallback, login state and quality.
pub fn as_follower(own: Inputs, leader: Option<&LeaderStatus>) -> Inputs {
    let Some(l) = leader else {
        return Inputs {
            feed: FeedState::Disconnected,
            fallback: false,
            bridging: false,
            auth: AuthState::Refreshing,
            quality: 0.0,
            ..own
        };
    };
    // The names came from these enums when the status was read.
    let feed = FeedState::deserialize(serde_json::Value::from(l.feed.state))
        .unwrap_or(FeedState::Disconnected);
    let auth = AuthState::deserialize(serde_json::Value::from(l.auth.state))
        .unwrap_or(AuthState::Refreshing);
    Inputs {
        feed,
        fallback: l.feed.using_rest_fallback,
        bridging: l.feed.rest_bridge,
        auth,
        // The relayed ticks go straight into the hub, past this node's own freshness gauge:
        // the leader's healthy feed is what they are as fresh as (a relay that stopped means
        // Redis stopped, and the leader's status then stops too).
        fresh: l.feed.is_healthy,
        quality: l.feed.connection_quality,
        ..own
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::monitor::client_status;
    use crate::status::schedule::MarketView;

    fn own() -> Inputs {
        Inputs {
            feed: FeedState::Disconnected,
            fallback: false,
            bridging: false,
            market: MarketView {
                phase: "LIVE",
                expects_data: true,
            },
            auth: AuthState::Required,
            fresh: true,
            quality: 0.0,
            login_url: "http://edge/api/login".into(),
            poll_interval_s: 2,
        }
    }

    #[test]
    fn an_edge_tells_its_clients_about_the_leaders_feed() {
        let leader = crate::status::shared::tests::status("in-1", 3);
        let st = client_status(&as_follower(own(), Some(&leader)));
        assert_eq!(st.feed_state, "connected", "{st:?}");
        assert!(!st.auth_required, "{st:?}");
        assert!(st.message.starts_with('✓'), "{st:?}");
        // Its own state would have said the opposite.
        let mine = client_status(&own());
        assert!(mine.auth_required && mine.feed_state == "disconnected");
    }

    #[test]
    fn the_leaders_login_and_fallback_reach_the_edges_clients() {
        let mut leader = crate::status::shared::tests::status("in-1", 3);
        leader.feed.using_rest_fallback = true;
        let st = client_status(&as_follower(own(), Some(&leader)));
        assert!(st.using_rest_fallback && st.quality == "DEGRADED", "{st:?}");
        leader.auth.state = "required";
        let st = client_status(&as_follower(own(), Some(&leader)));
        assert!(st.auth_required, "{st:?}");
        assert!(st.message.contains("http://edge/api/login"), "{st:?}");
    }

    #[test]
    fn no_leader_is_disconnected_without_asking_for_a_login() {
        let st = client_status(&as_follower(own(), None));
        assert_eq!(st.feed_state, "disconnected");
        assert!(!st.auth_required, "{st:?}");
        assert!(!st.is_healthy);
    }
}

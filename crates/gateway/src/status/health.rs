//! The health document (DESIGN.md §5) and the reader that assembles it from the live status
//! (its sections from [`crate::status::sections`]), with the verdict from
//! [`crate::status::verdict`]. In a cluster, a node that does not lead serves the leader's
//! auth, feed and recording sections ([`crate::status::shared`]) and their verdict.

use crate::auth::AuthView;
use crate::cluster::board::STATUS_TTL;
use crate::cluster::{ClusterHandle, ClusterSection};
use crate::model::clock::SharedClock;
use crate::model::gauges::Gauges;
use crate::status::shared::{Received, follow};
use crate::status::verdict::{FeedFrom, Priority, VerdictInput, verdict};
use crate::store::recording::tap::RecordStats;
use crate::upstream::{FeedState, ShardStatus, aggregate_state};
use feedgate_session::MarketStatus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

pub use crate::status::sections::{
    AuthSection, FeedSection, Name, RecordingSection, auth_section, feed_section, recording_section,
};

/// The `clients` section: who is connected to feedgate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClientsSection {
    /// Open client WebSockets, both protocols.
    pub connections: usize,
    /// Of those, apps speaking Kite's ticker protocol on `/kite`.
    pub kite: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthDocument {
    pub priority_status: Priority,
    pub priority_message: String,
    pub market: MarketStatus,
    pub auth: AuthSection,
    pub feed: FeedSection,
    pub clients: ClientsSection,
    pub recording: RecordingSection,
    /// Present only in a cluster (`FEEDGATE_ROLE` other than `all`; DESIGN.md §9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSection>,
}

/// Live sources of the health document.
#[derive(Debug, Clone)]
pub struct HealthSources {
    pub market: watch::Receiver<MarketStatus>,
    pub expects_data: watch::Receiver<crate::status::schedule::MarketView>,
    pub auth: watch::Receiver<AuthView>,
    pub shards: watch::Receiver<Vec<ShardStatus>>,
    pub fallback: watch::Receiver<bool>,
    pub quality: watch::Receiver<f64>,
    pub gauges: Arc<Gauges>,
    pub clock: SharedClock,
    pub stale_threshold_s: f64,
    pub recording: Arc<RecordStats>,
    /// The cluster this node is part of (`None` for role `all`).
    pub cluster: Option<ClusterHandle>,
    /// The leader's status as last read from Redis (clustered roles only; see
    /// [`crate::status::shared_io`]).
    pub shared: Option<watch::Receiver<Option<Arc<Received>>>>,
}

/// The sections that speak for the feed, and whose they are.
#[derive(Debug)]
struct FeedSide {
    auth: AuthSection,
    feed: FeedSection,
    feed_state: FeedState,
    recording: RecordingSection,
    whose: Whose,
}

/// Whose auth and feed a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// Its own: role `all`, or the leader.
    Own,
    /// The leader's, as published (named in the sections' `from`).
    Leader,
    /// No leader published a status for a lease: its own, for want of any other.
    NoLeader,
}

impl HealthSources {
    /// The market status as of this request (the scheduler's copy was computed at its last
    /// wake-up, up to a minute ago). Each node's own, also in a cluster (see
    /// [`crate::status::shared`]).
    pub fn market(&self) -> MarketStatus {
        self.market.borrow().clone().as_of(self.clock.now())
    }

    /// The `auth` section as served: the leader's on a clustered node that follows one.
    pub fn auth(&self) -> AuthSection {
        self.feed_side(self.cluster_section().as_ref()).auth
    }

    /// The `feed` section as served: the leader's on a clustered node that follows one.
    pub fn feed(&self) -> FeedSection {
        self.feed_side(self.cluster_section().as_ref()).feed
    }

    /// This node's own `auth` section.
    pub fn own_auth(&self) -> AuthSection {
        auth_section(&self.auth.borrow(), self.clock.now())
    }

    /// This node's own `recording` section.
    pub fn own_recording(&self) -> RecordingSection {
        recording_section(&self.recording)
    }

    /// This node's own feed section and the aggregate feed state, both from one look at the
    /// shards (a second look could see a newer state than the section reports).
    pub fn own_feed(&self) -> (FeedSection, FeedState) {
        let expects_data = self.expects_data.borrow().expects_data;
        let now_ms = self.clock.now_ms();
        let shards = self.shards.borrow();
        let mut section = feed_section(
            &shards,
            *self.fallback.borrow(),
            *self.quality.borrow(),
            self.gauges.last_tick_seconds_ago(now_ms),
            self.stale_threshold_s,
            expects_data,
        );
        section.order_updates_total = self.gauges.order_updates.load(Ordering::Relaxed);
        (section, aggregate_state(&shards))
    }

    fn cluster_section(&self) -> Option<ClusterSection> {
        self.cluster
            .as_ref()
            .map(|c| c.section(tokio::time::Instant::now()))
    }

    /// The auth, feed and recording sections to serve (see [`pick`]).
    fn feed_side(&self, cluster: Option<&ClusterSection>) -> FeedSide {
        let got = self.shared.as_ref().and_then(|r| r.borrow().clone());
        pick(
            || {
                let (feed, feed_state) = self.own_feed();
                (self.own_auth(), feed, feed_state, self.own_recording())
            },
            cluster,
            got.as_deref(),
            tokio::time::Instant::now(),
        )
    }

    pub fn document(&self) -> HealthDocument {
        let market = self.market();
        let expects_data = self.expects_data.borrow().expects_data;
        let cluster = self.cluster_section();
        let side = self.feed_side(cluster.as_ref());
        let (priority_status, priority_message) =
            judge(&side, &market, expects_data, cluster.as_ref());
        let FeedSide {
            auth,
            feed,
            recording,
            ..
        } = side;
        HealthDocument {
            priority_status,
            priority_message,
            market,
            auth,
            feed,
            clients: ClientsSection {
                connections: self.gauges.connections.load(Ordering::Relaxed),
                kite: self.gauges.kite_connections.load(Ordering::Relaxed),
            },
            recording,
            cluster,
        }
    }
}

/// This node's own sections, as `(auth, feed, feed state, recording)`.
type Own = (AuthSection, FeedSection, FeedState, RecordingSection);

/// The auth, feed and recording sections to serve, and whose they are (pure): this node's own
/// (role `all`, or the leader); else the leader's as last `got` (see [`follow`]); else — no
/// leader — this node's own, for want of any other.
fn pick(
    own: impl FnOnce() -> Own,
    cluster: Option<&ClusterSection>,
    got: Option<&Received>,
    now: tokio::time::Instant,
) -> FeedSide {
    let mine = own();
    let own = |whose| {
        let (auth, feed, feed_state, recording) = mine.clone();
        FeedSide {
            auth,
            feed,
            feed_state,
            recording,
            whose,
        }
    };
    let Some(c) = cluster.filter(|c| !c.is_leader) else {
        return own(Whose::Own);
    };
    let Some(status) = follow(got, c.term, now, STATUS_TTL) else {
        return own(Whose::NoLeader);
    };
    let (mut auth, feed, recording) = status.shown();
    // A login completes on any node (the leader exchanges the code): the browser starts it
    // here, where its session is, not at the leader's address (which it may not reach).
    auth.login_url = mine.0.login_url.clone();
    // The name came from a `FeedState` when the status was read.
    let feed_state = FeedState::deserialize(serde_json::Value::from(feed.state))
        .unwrap_or(FeedState::Disconnected);
    FeedSide {
        auth,
        feed,
        feed_state,
        recording,
        whose: Whose::Leader,
    }
}

/// The verdict on the sections served (pure).
fn judge(
    side: &FeedSide,
    market: &MarketStatus,
    expects_data: bool,
    cluster: Option<&ClusterSection>,
) -> (Priority, String) {
    let FeedSide {
        auth,
        feed,
        feed_state,
        whose,
        ..
    } = side;
    let feed_from = match whose {
        Whose::Own => None,
        Whose::Leader => Some(FeedFrom::Leader(feed.from.as_deref().unwrap_or_default())),
        Whose::NoLeader => Some(FeedFrom::NoLeader),
    };
    verdict(&VerdictInput {
        // Without a leader nobody's login serves the data: the verdict says "no leader".
        requires_login: auth.requires_login && *whose != Whose::NoLeader,
        login_url: &auth.login_url,
        expects_data,
        feed_healthy: feed.is_healthy,
        feed_state: *feed_state,
        fallback: feed.using_rest_fallback,
        bridging: feed.rest_bridge,
        reconnect_attempts: feed.reconnect_attempts,
        market_title: &market.title,
        market_description: &market.description,
        feed_from,
        redis_unreachable: cluster.filter(|c| !c.redis_ok).map(|c| c.redis.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::shared::LeaderStatus;

    #[test]
    fn document_serializes_in_the_contract_shape() {
        let doc_keys = [
            "priority_status",
            "priority_message",
            "market",
            "auth",
            "feed",
            "clients",
            "recording",
        ];
        let d = HealthDocument {
            priority_status: Priority::MarketSession,
            priority_message: "m".into(),
            market: feedgate_session::market_status(
                &feedgate_session::Calendar::builtin(),
                feedgate_session::Segment::NseCm,
                chrono::DateTime::parse_from_rfc3339("2026-11-23T10:15:00+05:30")
                    .unwrap()
                    .to_utc(),
            ),
            auth: AuthSection {
                state: "valid",
                is_valid: true,
                requires_login: false,
                token_age_hours: Some(2.5),
                login_url: "/api/login".into(),
                user_id: None,
                user_name: None,
                token_source: None,
                expiry_hint: None,
                consecutive_failures: 0,
                last_error: None,
                from: None,
            },
            feed: feed_section(&[], false, 98.5, Some(0.8), 10.0, true),
            clients: ClientsSection {
                connections: 3,
                kite: 1,
            },
            recording: recording_section(&RecordStats::default()),
            cluster: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert!(
            v.get("cluster").is_none(),
            "a single node's health has no cluster"
        );
        for k in doc_keys {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["priority_status"], "MARKET_SESSION");
        assert_eq!(v["market"]["seconds_to_next_phase"], 18900);
        for k in [
            "state",
            "is_valid",
            "requires_login",
            "token_age_hours",
            "login_url",
        ] {
            assert!(v["auth"].get(k).is_some(), "auth.{k}");
        }
        for k in [
            "state",
            "is_healthy",
            "mode",
            "using_rest_fallback",
            "last_tick_seconds_ago",
            "connection_quality",
            "reconnect_attempts",
            "subscribed",
        ] {
            assert!(v["feed"].get(k).is_some(), "feed.{k}");
        }
        assert_eq!(
            v["recording"],
            serde_json::json!({"enabled": false, "day": null, "bytes_today": 0,
                "frames_written": 0, "dropped_frames": 0, "failing": false})
        );
    }

    fn cluster(is_leader: bool, term: Option<u64>, redis_ok: bool) -> ClusterSection {
        ClusterSection {
            node: "edge-1".into(),
            role: "edge",
            leader: Some("in-1".into()),
            is_leader,
            lease_ms: Some(2500),
            term,
            redis: "redis://cache:6379/0".into(),
            redis_ok,
            ticks: crate::cluster::ticks::TickStats::default().section(),
            edges: Vec::new(),
        }
    }

    /// An edge's own view: no broker feed, and a login it does not need.
    fn own_edge() -> Own {
        let view = AuthView {
            state: crate::auth::AuthState::Required,
            user_id: None,
            user_name: None,
            origin: None,
            issued_at: None,
            expiry_hint: None,
            failures: 0,
            last_error: None,
            login_url: "http://edge-1/api/login".into(),
        };
        let idle = ShardStatus {
            state: FeedState::Disconnected,
            idle: true,
            ..ShardStatus::default()
        };
        (
            auth_section(&view, chrono::Utc::now()),
            feed_section(&[idle], false, 0.0, None, 10.0, true),
            FeedState::Disconnected,
            recording_section(&RecordStats::default()),
        )
    }

    fn live_market() -> MarketStatus {
        feedgate_session::market_status(
            &feedgate_session::Calendar::builtin(),
            feedgate_session::Segment::NseCm,
            chrono::DateTime::parse_from_rfc3339("2026-11-23T10:15:00+05:30")
                .unwrap()
                .to_utc(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_edge_serves_the_leaders_auth_and_feed_and_its_verdict() {
        let mut status = crate::status::shared::tests::status("in-1", 7);
        let got = |status: &LeaderStatus| Received {
            status: status.clone(),
            at: tokio::time::Instant::now(),
        };
        let now = tokio::time::Instant::now();
        let c = cluster(false, Some(7), true);
        let side = pick(own_edge, Some(&c), Some(&got(&status)), now);
        assert_eq!(side.whose, Whose::Leader);
        assert_eq!(
            (side.auth.state, side.auth.from.as_deref(), side.feed.state),
            ("valid", Some("in-1"), "connected")
        );
        assert_eq!(
            (side.feed.subscribed, side.feed.from.as_deref()),
            (3, Some("in-1"))
        );
        assert_eq!(side.recording.from.as_deref(), Some("in-1"));
        let (p, m) = judge(&side, &live_market(), true, Some(&c));
        assert_eq!(p, Priority::MarketSession, "{m}");

        // A login the leader needs is the edge's verdict, with the login started here (the
        // browser's session is on this node; the leader exchanges the code).
        status.auth.state = "required";
        status.auth.requires_login = true;
        let side = pick(own_edge, Some(&c), Some(&got(&status)), now);
        let (p, m) = judge(&side, &live_market(), true, Some(&c));
        assert_eq!(p, Priority::AuthRequired);
        assert!(m.ends_with("http://edge-1/api/login"), "{m}");

        // The leader's feed down: said of the leader.
        let mut down = crate::status::shared::tests::status("in-1", 7);
        down.feed.state = "connecting";
        down.feed.is_healthy = false;
        let side = pick(own_edge, Some(&c), Some(&got(&down)), now);
        let (p, m) = judge(&side, &live_market(), true, Some(&c));
        assert_eq!(p, Priority::FeedDisconnected);
        assert!(
            m.starts_with("Feed disconnected on the leader (in-1): reconnecting"),
            "{m}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_fresh_status_of_the_current_term_an_edge_says_no_leader() {
        let status = crate::status::shared::tests::status("in-1", 7);
        let got = Received {
            status,
            at: tokio::time::Instant::now(),
        };
        let now = tokio::time::Instant::now();
        let stale_term = cluster(false, Some(8), true);
        for (c, got, why) in [
            (&stale_term, Some(&got), "a deposed leader's status"),
            (&cluster(false, Some(7), true), None, "no status"),
        ] {
            let side = pick(own_edge, Some(c), got, now);
            assert_eq!(side.whose, Whose::NoLeader, "{why}");
            assert_eq!(side.auth.from, None, "{why}: its own auth, unmarked");
            let (p, m) = judge(&side, &live_market(), false, Some(c));
            assert_eq!(p, Priority::FeedDisconnected, "{why}");
            assert!(
                m.starts_with("No leader: no ingest node holds the broker feed"),
                "{why}: {m}"
            );
        }
        let down = cluster(false, Some(7), false);
        let side = pick(own_edge, Some(&down), None, now);
        let (_, m) = judge(&side, &live_market(), true, Some(&down));
        assert!(m.starts_with("Redis unreachable"), "{m}");

        // The leader and a single node serve their own.
        let leader = cluster(true, Some(7), true);
        assert_eq!(
            pick(own_edge, Some(&leader), Some(&got), now).whose,
            Whose::Own
        );
        assert_eq!(pick(own_edge, None, Some(&got), now).whose, Whose::Own);
        tokio::time::advance(STATUS_TTL + std::time::Duration::from_millis(1)).await;
        let c = cluster(false, Some(7), true);
        let side = pick(own_edge, Some(&c), Some(&got), tokio::time::Instant::now());
        assert_eq!(side.whose, Whose::NoLeader, "a status older than a lease");
    }
}

//! The health document (DESIGN.md §5): its three sections and the reader that assembles them
//! from the live status, with the verdict from [`crate::status::verdict`].

use crate::auth::AuthView;
use crate::cluster::{ClusterHandle, ClusterSection};
use crate::config::Role;
use crate::model::clock::SharedClock;
use crate::model::gauges::Gauges;
use crate::status::verdict::{
    FeedElsewhere, Priority, VerdictInput, feed_is_healthy, feed_mode, is_fresh, verdict,
};
use crate::store::recording::tap::RecordStats;
use crate::upstream::{FeedState, ShardStatus, aggregate_state, fallback_reported, rest_wanted};
use feedgate_session::MarketStatus;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

/// The `auth` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthSection {
    pub state: &'static str,
    pub is_valid: bool,
    pub requires_login: bool,
    pub token_age_hours: Option<f64>,
    pub login_url: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub token_source: Option<crate::auth::TokenOrigin>,
    pub expiry_hint: Option<String>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

/// The `feed` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedSection {
    pub state: &'static str,
    pub is_healthy: bool,
    pub mode: &'static str,
    /// The REST fallback serves: `FEED_MAX_RECONNECTS` consecutive failures, quotes polled.
    pub using_rest_fallback: bool,
    /// REST quotes bridge a gap of the WebSocket that has not (yet) reached the fallback.
    pub rest_bridge: bool,
    pub last_tick_seconds_ago: Option<f64>,
    pub connection_quality: f64,
    pub reconnect_attempts: u32,
    pub subscribed: usize,
    pub connections: usize,
    pub reconnects_total: u64,
    pub stalls_total: u64,
    pub should_run: bool,
    pub last_error: Option<String>,
    /// Broker order updates relayed to clients with the `orders` scope since start.
    pub order_updates_total: u64,
}

/// The `clients` section: who is connected to feedgate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClientsSection {
    /// Open client WebSockets, both protocols.
    pub connections: usize,
    /// Of those, apps speaking Kite's ticker protocol on `/kite`.
    pub kite: usize,
}

/// The `recording` section (DESIGN.md §12).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingSection {
    /// `FEEDGATE_RECORD`.
    pub enabled: bool,
    /// The IST day being recorded (`YYYY-MM-DD`), once a frame arrived.
    pub day: Option<String>,
    /// Bytes on disk for that day.
    pub bytes_today: u64,
    pub frames_written: u64,
    /// Frames not recorded: the recorder fell behind, or the disk failed.
    pub dropped_frames: u64,
    /// Writing fails right now (recording pauses and retries).
    pub failing: bool,
}

/// Builds the `recording` section from the recorder's counters.
pub fn recording_section(s: &RecordStats) -> RecordingSection {
    RecordingSection {
        enabled: s.enabled.load(Ordering::Relaxed),
        day: s.day().map(|d| d.format("%Y-%m-%d").to_string()),
        bytes_today: s.bytes_today.load(Ordering::Relaxed),
        frames_written: s.frames_written.load(Ordering::Relaxed),
        dropped_frames: s.dropped_frames.load(Ordering::Relaxed),
        failing: s.failing.load(Ordering::Relaxed),
    }
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

/// Builds the `auth` section from the auth task's view (pure).
pub fn auth_section(s: &AuthView, now: chrono::DateTime<chrono::Utc>) -> AuthSection {
    AuthSection {
        state: s.state.as_str(),
        is_valid: s.state == crate::auth::AuthState::Valid,
        requires_login: s.state.requires_login(),
        token_age_hours: s
            .issued_at
            .map(|t| ((now - t).num_seconds().max(0) as f64 / 360.0).round() / 10.0),
        login_url: s.login_url.clone(),
        user_id: s.user_id.clone(),
        user_name: s.user_name.clone(),
        token_source: s.origin,
        expiry_hint: s.expiry_hint.map(feedgate_session::rfc3339_ist),
        consecutive_failures: s.failures,
        last_error: s.last_error.clone(),
    }
}

/// Builds the `feed` section (pure). `polling`: the REST bridge or fallback is polling.
pub fn feed_section(
    shards: &[ShardStatus],
    polling: bool,
    quality: f64,
    last_tick_seconds_ago: Option<f64>,
    stale_after_s: f64,
    expects_data: bool,
) -> FeedSection {
    let state = aggregate_state(shards);
    let fresh = is_fresh(last_tick_seconds_ago, stale_after_s);
    let polling = polling && rest_wanted(shards);
    let fallback = polling && fallback_reported(shards);
    FeedSection {
        state: state.as_str(),
        is_healthy: feed_is_healthy(state, fresh, expects_data),
        mode: feed_mode(fallback),
        using_rest_fallback: fallback,
        rest_bridge: polling && !fallback,
        last_tick_seconds_ago,
        connection_quality: quality,
        reconnect_attempts: shards.iter().map(|s| s.failures).max().unwrap_or(0),
        subscribed: shards.iter().map(|s| s.subscribed).sum(),
        connections: shards
            .iter()
            .filter(|s| s.state == FeedState::Connected)
            .count(),
        reconnects_total: shards.iter().map(|s| s.reconnects).sum(),
        stalls_total: shards.iter().map(|s| s.stalls).sum(),
        should_run: shards.iter().any(|s| !s.idle),
        last_error: shards.iter().find_map(|s| s.last_error.clone()),
        // Counted by the upstream in the gauges; the reader fills it in.
        order_updates_total: 0,
    }
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
}

impl HealthSources {
    /// The market status as of this request (the scheduler's copy was computed at its last
    /// wake-up, up to a minute ago).
    pub fn market(&self) -> MarketStatus {
        self.market.borrow().clone().as_of(self.clock.now())
    }

    pub fn auth(&self) -> AuthSection {
        auth_section(&self.auth.borrow(), self.clock.now())
    }

    pub fn feed(&self) -> FeedSection {
        self.feed_and_state(self.expects_data.borrow().expects_data)
            .0
    }

    /// The feed section and the aggregate feed state, both from one look at the shards (a
    /// second look could see a newer state than the section reports).
    fn feed_and_state(&self, expects_data: bool) -> (FeedSection, FeedState) {
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

    pub fn document(&self) -> HealthDocument {
        let market = self.market();
        let auth = self.auth();
        let expects_data = self.expects_data.borrow().expects_data;
        let (feed, feed_state) = self.feed_and_state(expects_data);
        let cluster = self
            .cluster
            .as_ref()
            .map(|c| c.section(tokio::time::Instant::now()));
        let feed_elsewhere = cluster.as_ref().and_then(|c| match c.role {
            _ if c.is_leader => None,
            role if role == Role::Edge.as_str() => Some(FeedElsewhere::Edge),
            _ => Some(FeedElsewhere::Standby {
                leader: c.leader.as_deref(),
            }),
        });
        let (priority_status, priority_message) = verdict(&VerdictInput {
            requires_login: auth.requires_login,
            login_url: &auth.login_url,
            expects_data,
            feed_healthy: feed.is_healthy,
            feed_state,
            fallback: feed.using_rest_fallback,
            bridging: feed.rest_bridge,
            reconnect_attempts: feed.reconnect_attempts,
            market_title: &market.title,
            market_description: &market.description,
            feed_elsewhere,
            redis_unreachable: cluster
                .as_ref()
                .filter(|c| !c.redis_ok)
                .map(|c| c.redis.as_str()),
        });
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
            recording: recording_section(&self.recording),
            cluster,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_section_sums_shards() {
        let s = |state, subscribed, failures| ShardStatus {
            state,
            subscribed,
            failures,
            idle: false,
            ..ShardStatus::default()
        };
        let f = feed_section(
            &[
                s(FeedState::Connected, 3000, 0),
                s(FeedState::Connected, 12, 0),
            ],
            false,
            99.5,
            Some(0.4),
            10.0,
            true,
        );
        assert_eq!(
            (f.state, f.is_healthy, f.subscribed, f.connections),
            ("connected", true, 3012, 2)
        );
        let reported = ShardStatus {
            fallback_wanted: true,
            ..s(FeedState::Error, 0, 4)
        };
        let f = feed_section(&[reported], true, 50.0, Some(30.0), 10.0, true);
        assert_eq!(
            (f.state, f.is_healthy, f.mode, f.reconnect_attempts),
            ("error", false, "REST API Polling", 4)
        );
        let quiet = feed_section(
            &[s(FeedState::Connected, 3, 0)],
            false,
            100.0,
            Some(600.0),
            10.0,
            false,
        );
        assert!(
            quiet.is_healthy,
            "no data expected (market closed): connected is healthy"
        );
    }

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
}

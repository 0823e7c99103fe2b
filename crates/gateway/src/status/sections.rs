//! The health document's `auth`, `feed` and `recording` sections (DESIGN.md §5) and their
//! builders (pure); in a cluster they also travel from the leader to the other nodes (see
//! [`crate::status::shared`]), so they read back from JSON too.

use crate::auth::AuthView;
use crate::status::verdict::{feed_is_healthy, feed_mode, is_fresh};
use crate::store::recording::tap::RecordStats;
use crate::upstream::{FeedState, ShardStatus, aggregate_state, fallback_reported, rest_wanted};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::atomic::Ordering;

/// A name out of a fixed set (a state, a mode). An alias, so that the derived `Deserialize`
/// does not borrow it from the input: it is read back through one of the set's own names.
pub type Name = &'static str;

/// The `auth` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSection {
    #[serde(deserialize_with = "auth_state")]
    pub state: Name,
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
    /// The leader's name when this is the leader's section, shown by a node that does not lead
    /// (DESIGN.md §9); absent for a node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// The `feed` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedSection {
    #[serde(deserialize_with = "feed_state")]
    pub state: Name,
    pub is_healthy: bool,
    #[serde(deserialize_with = "read_feed_mode")]
    pub mode: Name,
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
    /// The leader's name when this is the leader's section, shown by a node that does not lead
    /// (DESIGN.md §9); absent for a node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// The `recording` section (DESIGN.md §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The leader's name when this is the leader's section, shown by a node that does not lead
    /// (DESIGN.md §9); absent for a node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
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
        from: None,
    }
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
        from: None,
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
        from: None,
    }
}

/// `AuthSection::state` as read back: one of the auth states' names.
fn auth_state<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    crate::auth::AuthState::deserialize(d).map(crate::auth::AuthState::as_str)
}

/// `FeedSection::state` as read back: one of the feed states' names.
fn feed_state<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    crate::upstream::FeedState::deserialize(d).map(crate::upstream::FeedState::as_str)
}

/// `FeedSection::mode` as read back: one of the two modes.
fn read_feed_mode<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    [false, true]
        .map(feed_mode)
        .into_iter()
        .find(|m| *m == s)
        .ok_or_else(|| D::Error::custom(format!("unknown feed mode {s:?}")))
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
}

//! Scheduler decisions: should the upstream feed run now, should ticks be flowing, and what is
//! the next action (token check, feed start, feed stop) and when. Pure; the gateway owns timers.
//!
//! A *feed window* is one trading day of the configured segments, from the day's first phase
//! minus `feed_start_lead` to its last phase plus `feed_stop_lag`; the token check happens
//! `token_check_lead` before the first phase. With the default segments (NSE/BSE equity cash
//! and F&O) a regular day opens at 09:00 and closes at 16:00, which gives the token check at
//! 08:50, feed start at 08:55 and feed stop at 16:05 IST. Special sessions (Muhurat, Budget
//! Sunday) get the same lead times around their own hours. Windows of several segments that
//! overlap are merged.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::calendar::Calendar;
use crate::day::SEARCH_HORIZON_DAYS;
use crate::ist::ist_date;
use crate::phase::MarketPhase;
use crate::segment::Segment;
use crate::timeline::market_phase;

/// Longest accepted lead or lag: beyond this a window would swallow the night.
pub const MAX_OFFSET: Duration = Duration::from_secs(6 * 3600);

/// When nothing is scheduled within the search horizon, decide again after this long.
const RECHECK_AFTER: TimeDelta = TimeDelta::hours(24);

/// Scheduler settings (`ENABLE_SCHEDULER`, `DEV_MODE` and the lead/lag times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `false`: the feed runs at all times (token checks are still scheduled daily).
    pub enabled: bool,
    /// `true`: the market is treated as live (feed runs, data expected), for testing off-hours.
    pub dev_mode: bool,
    /// Token check this long before a day's first phase (default 10 min: 08:50 for 09:00).
    pub token_check_lead: Duration,
    /// Feed start this long before a day's first phase (default 5 min: 08:55 for 09:00).
    pub feed_start_lead: Duration,
    /// Feed stop this long after a day's last phase (default 5 min: 16:05 after post-close).
    pub feed_stop_lag: Duration,
    /// Segments whose sessions the feed serves.
    pub segments: Vec<Segment>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            enabled: true,
            dev_mode: false,
            token_check_lead: Duration::from_secs(10 * 60),
            feed_start_lead: Duration::from_secs(5 * 60),
            feed_stop_lag: Duration::from_secs(5 * 60),
            segments: vec![
                Segment::NseCm,
                Segment::NseFo,
                Segment::BseCm,
                Segment::BseFo,
            ],
        }
    }
}

/// A scheduler setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerConfigError {
    /// No segments: the scheduler would never start the feed.
    #[error("scheduler segments must not be empty")]
    NoSegments,
    /// The token would be checked after the feed already started with it.
    #[error(
        "token_check_lead ({token:?}) must be at least feed_start_lead ({start:?}) so the token is checked before the feed starts"
    )]
    TokenCheckAfterStart {
        /// Configured token-check lead.
        token: Duration,
        /// Configured feed-start lead.
        start: Duration,
    },
    /// A lead or lag longer than [`MAX_OFFSET`].
    #[error("{field} ({value:?}) is longer than the maximum of 6 hours")]
    TooLong {
        /// Setting name.
        field: &'static str,
        /// Configured value.
        value: Duration,
    },
}

impl SchedulerConfig {
    /// Checks the settings; `decide` also works on unvalidated settings (offsets are capped at
    /// [`MAX_OFFSET`]) but the gateway should reject bad ones at start-up.
    pub fn validate(&self) -> Result<(), SchedulerConfigError> {
        if self.segments.is_empty() {
            return Err(SchedulerConfigError::NoSegments);
        }
        for (field, value) in [
            ("token_check_lead", self.token_check_lead),
            ("feed_start_lead", self.feed_start_lead),
            ("feed_stop_lag", self.feed_stop_lag),
        ] {
            if value > MAX_OFFSET {
                return Err(SchedulerConfigError::TooLong { field, value });
            }
        }
        if self.feed_start_lead > self.token_check_lead {
            return Err(SchedulerConfigError::TokenCheckAfterStart {
                token: self.token_check_lead,
                start: self.feed_start_lead,
            });
        }
        Ok(())
    }
}

/// What the gateway should do at `next_action_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Validate the access token (log in if needed) before the feed starts.
    TokenCheck,
    /// Start the upstream feed.
    StartFeed,
    /// Stop the upstream feed.
    StopFeed,
    /// Nothing is scheduled within the search horizon; call `decide` again then.
    Recheck,
}

/// The scheduler's verdict at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScheduleDecision {
    /// The feed should be connected now (inside a feed window, or scheduler disabled, or dev mode).
    pub feed_should_run: bool,
    /// Ticks should be flowing now: some configured segment is `LIVE` (continuous trading), or
    /// dev mode. Pre-open, auction and post-close phases produce sparse data, so silence there
    /// is not a stale feed.
    pub market_expects_data: bool,
    /// The next action, strictly after `now`.
    pub next_action: Action,
    /// When to perform it.
    pub next_action_at: DateTime<Utc>,
}

/// One merged feed window.
#[derive(Debug, Clone, Copy)]
struct Window {
    token_at: DateTime<Utc>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
}

/// Decides what the feed should be doing at `now`.
pub fn decide(
    now: DateTime<Utc>,
    calendar: &Calendar,
    config: &SchedulerConfig,
) -> ScheduleDecision {
    let windows = windows(now, calendar, config);
    let live = config
        .segments
        .iter()
        .any(|&seg| market_phase(calendar, seg, now) == MarketPhase::Live);
    let inside = windows.iter().any(|w| w.start <= now && now < w.stop);

    let mut events: Vec<(DateTime<Utc>, Action)> = windows
        .iter()
        .flat_map(|w| {
            [
                (w.token_at, Action::TokenCheck),
                (w.start, Action::StartFeed),
                (w.stop, Action::StopFeed),
            ]
        })
        .filter(|(at, _)| *at > now)
        .collect();
    let always_on = !config.enabled || config.dev_mode;
    if always_on {
        // The feed never stops, but the daily token check still matters.
        events.retain(|(_, action)| *action == Action::TokenCheck);
    }
    events.sort_by_key(|(at, action)| (*at, order(*action)));
    let (next_action_at, next_action) = events
        .first()
        .copied()
        .unwrap_or((now + RECHECK_AFTER, Action::Recheck));

    ScheduleDecision {
        feed_should_run: always_on || inside,
        market_expects_data: config.dev_mode || live,
        next_action,
        next_action_at,
    }
}

/// Tie-break for actions at the same instant: check the token before starting, stop last.
fn order(action: Action) -> u8 {
    match action {
        Action::TokenCheck => 0,
        Action::StartFeed => 1,
        Action::StopFeed => 2,
        Action::Recheck => 3,
    }
}

/// Feed windows of every configured segment from yesterday (a window may run past midnight)
/// to the search horizon, merged where they overlap.
fn windows(now: DateTime<Utc>, calendar: &Calendar, config: &SchedulerConfig) -> Vec<Window> {
    let delta = |d: Duration| TimeDelta::from_std(d.min(MAX_OFFSET)).unwrap_or(TimeDelta::zero());
    let (token, start, stop) = (
        delta(config.token_check_lead),
        delta(config.feed_start_lead),
        delta(config.feed_stop_lag),
    );
    let today = ist_date(now);
    let mut segments = config.segments.clone();
    segments.sort();
    segments.dedup();

    let mut raw: Vec<Window> = (-1..=SEARCH_HORIZON_DAYS)
        .filter_map(|offset| today.checked_add_signed(TimeDelta::days(offset)))
        .flat_map(|date| {
            segments
                .iter()
                .filter_map(move |&seg| calendar.trading_day(date, seg))
        })
        .map(|day| Window {
            token_at: day.opens_at - token.max(start),
            start: day.opens_at - start,
            stop: day.closes_at + stop,
        })
        .collect();
    raw.sort_by_key(|w| w.start);

    let mut merged: Vec<Window> = Vec::with_capacity(raw.len());
    for w in raw {
        match merged.last_mut() {
            Some(last) if w.start <= last.stop => {
                last.stop = last.stop.max(w.stop);
                last.token_at = last.token_at.min(w.token_at);
            }
            _ => merged.push(w),
        }
    }
    merged
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

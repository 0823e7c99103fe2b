//! NSE/BSE/MCX market calendar, session phases and feed-scheduling decisions, all pure.
//!
//! - [`Calendar`]: the built-in calendar data (`data/calendar.toml`, embedded at build time),
//!   optionally extended by a `FEEDGATE_CALENDAR` file ([`Calendar::load_with_override`]).
//! - [`market_status`]: the `market` section of the health document for a segment at an instant.
//! - [`decide`]: whether the upstream feed should run and what the scheduler does next.
//!
//! Every computation happens in `Asia/Kolkata` through the tz database; the host timezone is
//! never read, so results are identical on any machine. The only I/O is reading a calendar file
//! from a path the caller gives. Updating the data: see `CALENDAR-UPDATE.md`.

/// Calendar data: schema, validation, overrides and lookups.
pub mod calendar;
/// Resolving one date of one segment into its day schedule.
pub mod day;
/// IST conversions and formatting.
pub mod ist;
/// Public market phases and detailed exchange phases.
pub mod phase;
/// Feed scheduling decisions.
pub mod scheduler;
/// Segment identifiers and CLI exchange codes.
pub mod segment;
/// The health document's `market` section.
pub mod status;
/// Public-phase timelines and countdowns.
pub mod timeline;
/// Warnings about calendar coverage and missing timings.
pub mod warning;

pub use calendar::{
    Calendar, CalendarError, Holiday, Problem, SessionKind, SessionPhase, SpecialSession,
};
pub use day::{DaySchedule, SEARCH_HORIZON_DAYS};
pub use ist::{IST, rfc3339_ist, to_ist};
pub use phase::{MarketPhase, PhaseKind};
pub use scheduler::{Action, ScheduleDecision, SchedulerConfig, SchedulerConfigError, decide};
pub use segment::{ParseSegmentError, Segment};
pub use status::{MarketStatus, market_status};
pub use timeline::market_phase;
pub use warning::{Warning, WarningKind};

#[cfg(test)]
mod tz_tests;

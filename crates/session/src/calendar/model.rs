//! Validated calendar records: session phases, templates, holidays and special sessions.
//!
//! Values of these types only come out of `validate`, so their invariants hold everywhere else:
//! phases are sorted, non-overlapping, `start < end`, and never go backwards within a session;
//! every holiday and template carries a source.

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::phase::PhaseKind;

/// One phase of a day's schedule in IST wall-clock time, half-open: `start` belongs to the phase,
/// `end` does not. Phases never cross midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPhase {
    /// The detailed exchange phase.
    pub kind: PhaseKind,
    /// First instant of the phase (IST).
    pub start: NaiveTime,
    /// First instant after the phase (IST).
    pub end: NaiveTime,
    /// Named trading session the phase belongs to (`morning`/`evening` on MCX), used by
    /// holidays that close only one session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Order entry closes at a random moment between this time and `end`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_close_from: Option<NaiveTime>,
    /// Free-text qualification from the calendar file ("current-month futures only").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The phases of a normal trading day, in force from `effective_from` until the next template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// First IST date on which this template applies.
    pub effective_from: NaiveDate,
    /// Circular or page the timings come from.
    pub source: String,
    /// Optional remark (e.g. which stocks a timing applies to).
    pub note: Option<String>,
    /// The day's phases, sorted and non-overlapping.
    pub phases: Vec<SessionPhase>,
}

/// A trading holiday (or, with `cancelled`, a formerly announced one that was withdrawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// The IST date.
    pub date: NaiveDate,
    /// Name as published by the exchange.
    pub name: String,
    /// Circular or page announcing it.
    pub source: String,
    /// When the exchange announced it, if added at short notice.
    pub added_on: Option<NaiveDate>,
    /// Sessions closed that day; `None` closes the whole day.
    pub closed_sessions: Option<Vec<String>>,
    /// Withdrawn by a later circular: the day trades normally.
    pub cancelled: bool,
    /// Free-text remark.
    pub note: Option<String>,
}

impl Holiday {
    /// Whether the holiday closes the phase tagged with `session`.
    pub(crate) fn closes(&self, session: Option<&str>) -> bool {
        match (&self.closed_sessions, session) {
            (None, _) => true,
            (Some(closed), Some(session)) => closed.iter().any(|c| c == session),
            // A partial closure names sessions; an untagged phase belongs to none of them.
            (Some(_), None) => false,
        }
    }
}

/// What kind of session a day has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A normal trading day under the template in force.
    Regular,
    /// Diwali Muhurat trading.
    Muhurat,
    /// Live session held for the Union Budget (often on a weekend).
    UnionBudget,
    /// Other announced live session (e.g. a Saturday that replaced a holiday).
    SpecialLive,
    /// Live trading session that switches between primary and disaster-recovery sites.
    DrSwitchover,
}

impl SessionKind {
    /// Kinds a calendar file may give a special session (not `regular`).
    pub(crate) const SPECIAL: [SessionKind; 4] = [
        SessionKind::Muhurat,
        SessionKind::UnionBudget,
        SessionKind::SpecialLive,
        SessionKind::DrSwitchover,
    ];

    /// The name used in calendar files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Regular => "regular",
            SessionKind::Muhurat => "muhurat",
            SessionKind::UnionBudget => "union_budget",
            SessionKind::SpecialLive => "special_live",
            SessionKind::DrSwitchover => "dr_switchover",
        }
    }

    /// Human label used to prefix descriptions of special sessions.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SessionKind::Regular => "Regular session",
            SessionKind::Muhurat => "Muhurat trading",
            SessionKind::UnionBudget => "Union Budget session",
            SessionKind::SpecialLive => "Special live session",
            SessionKind::DrSwitchover => "DR switchover session",
        }
    }
}

/// How a special session's timings are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecialTiming {
    /// The normal template in force on that date (e.g. Budget days: "standard timings").
    RegularTemplate,
    /// Explicit phases from the announcing circular.
    Phases(Vec<SessionPhase>),
    /// Announced, but the exchange has not published timings yet: the day is reported closed
    /// with a warning, never with guessed times.
    TimingsTba,
    /// Withdrawn: the day follows the normal rules again.
    Cancelled,
}

/// A session that replaces a day's normal rules for one segment (weekends included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialSession {
    /// The IST date.
    pub date: NaiveDate,
    /// Muhurat, Union Budget, …
    pub kind: SessionKind,
    /// Name as announced.
    pub name: String,
    /// Timings, or the honest lack of them.
    pub timing: SpecialTiming,
    /// Remarks such as `settlement_holiday`, `no_t0_session`.
    pub flags: Vec<String>,
    /// Circular or page announcing it.
    pub source: String,
    /// Free-text remark.
    pub note: Option<String>,
}

/// Which weekdays a segment trades on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekmask(pub(crate) [bool; 7]);

impl Weekmask {
    /// Whether `day` is a normal trading weekday.
    pub fn contains(self, day: Weekday) -> bool {
        self.0
            .get(day.num_days_from_monday() as usize)
            .copied()
            .unwrap_or(false)
    }
}

/// A segment's definition: weekdays, holiday list and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDef {
    /// Human name ("NSE equity cash").
    pub name: Option<String>,
    /// Normal trading weekdays.
    pub weekmask: Weekmask,
    /// Name of the holiday list (shared between segments with the same closures).
    pub holiday_list: String,
    /// Name of the effective-dated template set.
    pub schedule: String,
}

/// The period over which a holiday list is known to be complete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolidayListMeta {
    /// Human description.
    pub description: Option<String>,
    /// First date covered; earlier dates have no holiday data (warning).
    pub valid_from: Option<NaiveDate>,
    /// Last date covered; `None` means the file's `valid_through`.
    pub valid_through: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holiday(closed: Option<&[&str]>) -> Holiday {
        Holiday {
            date: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
            name: "Holi".into(),
            source: "test".into(),
            added_on: None,
            closed_sessions: closed.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
            cancelled: false,
            note: None,
        }
    }

    #[test]
    fn closes_whole_day_or_named_sessions() {
        type Row<'a> = (Option<&'a [&'a str]>, Option<&'a str>, bool);
        let table: [Row<'_>; 6] = [
            (None, None, true),
            (None, Some("morning"), true),
            (Some(&["morning"]), Some("morning"), true),
            (Some(&["morning"]), Some("evening"), false),
            (Some(&["morning"]), None, false),
            (Some(&["morning", "evening"]), Some("evening"), true),
        ];
        for (closed, session, want) in table {
            assert_eq!(
                holiday(closed).closes(session),
                want,
                "{closed:?} {session:?}"
            );
        }
    }

    #[test]
    fn weekmask_lookup() {
        let mask = Weekmask([true, true, true, true, true, false, false]);
        assert!(mask.contains(Weekday::Mon));
        assert!(mask.contains(Weekday::Fri));
        assert!(!mask.contains(Weekday::Sat));
        assert!(!mask.contains(Weekday::Sun));
    }
}

//! Resolving one IST date of one segment into its schedule: special session, holiday, weekend or
//! the template in force.
//!
//! Precedence: a special session for (segment, date) wins (it may fall on a weekend or a
//! holiday); then a holiday (whole day, or only the sessions it names); then the weekmask; then
//! the template with the latest `effective_from <= date`. This module does not look at instants
//! or compute countdowns (see `timeline`).

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Serialize;

use crate::calendar::{
    Calendar, Holiday, SessionKind, SessionPhase, SpecialSession, SpecialTiming,
};
use crate::ist::{ist_date, ist_instant};
use crate::segment::Segment;

/// How far ahead searches for the next session or phase change look. The longest closure in
/// Indian markets is a few days (a holiday next to a weekend); 30 days leaves room for data
/// errors without making a query scan unboundedly.
pub const SEARCH_HORIZON_DAYS: i64 = 30;

/// Why a day (or part of it) has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closure {
    /// The day has phases (possibly with a partial holiday closure).
    Open,
    /// Not a trading weekday.
    Weekend,
    /// A holiday closes every phase of the day.
    Holiday,
    /// A special session is announced but its timings are not.
    TimingsTba,
    /// No template is in force (date before the first `effective_from`).
    NoTemplate,
    /// The calendar does not define the segment.
    UndefinedSegment,
}

/// One resolved day: its phases plus the records that explain them.
#[derive(Debug, Clone)]
pub(crate) struct DayPlan<'a> {
    pub date: NaiveDate,
    pub kind: Option<SessionKind>,
    pub phases: Vec<SessionPhase>,
    pub holiday: Option<&'a Holiday>,
    pub special: Option<&'a SpecialSession>,
    pub closure: Closure,
}

impl DayPlan<'_> {
    /// The phase containing IST wall-clock `time` (half-open).
    pub fn phase_at(&self, time: NaiveTime) -> Option<&SessionPhase> {
        self.phases.iter().find(|p| p.start <= time && time < p.end)
    }
}

/// Resolves `date` for `segment`.
pub(crate) fn plan(cal: &Calendar, segment: Segment, date: NaiveDate) -> DayPlan<'_> {
    let mut plan = DayPlan {
        date,
        kind: None,
        phases: Vec::new(),
        holiday: cal.holiday_on(segment, date),
        special: None,
        closure: Closure::Open,
    };
    let Some(def) = cal.segment(segment) else {
        plan.closure = Closure::UndefinedSegment;
        return plan;
    };
    if let Some(special) = cal.special_on(segment, date)
        && special.timing != SpecialTiming::Cancelled
    {
        plan.special = Some(special);
        plan.kind = Some(special.kind);
        match &special.timing {
            SpecialTiming::Phases(phases) => plan.phases = phases.clone(),
            SpecialTiming::RegularTemplate => match cal.template_on(segment, date) {
                Some(t) => plan.phases = t.phases.clone(),
                None => plan.closure = Closure::NoTemplate,
            },
            SpecialTiming::TimingsTba => plan.closure = Closure::TimingsTba,
            SpecialTiming::Cancelled => {}
        }
        return plan;
    }
    if !def.weekmask.contains(date.weekday()) {
        plan.closure = Closure::Weekend;
        return plan;
    }
    let Some(template) = cal.template_on(segment, date) else {
        plan.closure = Closure::NoTemplate;
        return plan;
    };
    plan.phases = template
        .phases
        .iter()
        .filter(|p| plan.holiday.is_none_or(|h| !h.closes(p.session.as_deref())))
        .cloned()
        .collect();
    if plan.phases.is_empty() {
        plan.closure = Closure::Holiday;
    } else {
        plan.kind = Some(SessionKind::Regular);
    }
    plan
}

/// A trading day of one segment: its phases in IST and what kind of session it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySchedule {
    /// The IST date.
    pub date: NaiveDate,
    /// The segment.
    pub segment: Segment,
    /// Regular day or special session.
    pub session_kind: SessionKind,
    /// Name of the special session, if any ("Union Budget 2026 live session").
    pub special_session: Option<String>,
    /// Holiday that also falls on this day (Muhurat on a holiday, or a partial closure).
    pub holiday: Option<String>,
    /// The phases, sorted, half-open, IST wall-clock. Never empty.
    pub phases: Vec<SessionPhase>,
    /// Start of the first phase.
    pub opens_at: DateTime<Utc>,
    /// End of the last phase.
    pub closes_at: DateTime<Utc>,
}

impl Calendar {
    /// The schedule of `segment` on IST `date`, or `None` when nothing trades that day
    /// (weekend, holiday, special session with timings not yet announced).
    pub fn trading_day(&self, date: NaiveDate, segment: Segment) -> Option<DaySchedule> {
        let plan = plan(self, segment, date);
        let first = plan.phases.first()?;
        let last = plan.phases.last()?;
        Some(DaySchedule {
            date,
            segment,
            session_kind: plan.kind.unwrap_or(SessionKind::Regular),
            special_session: plan.special.map(|s| s.name.clone()),
            holiday: plan.holiday.map(|h| h.name.clone()),
            opens_at: ist_instant(date, first.start),
            closes_at: ist_instant(date, last.end),
            phases: plan.phases,
        })
    }

    /// The first instant strictly after `after` at which a session of `segment` starts (the
    /// start of a phase that follows a closed period), searching [`SEARCH_HORIZON_DAYS`] ahead.
    pub fn next_session_start(
        &self,
        after: DateTime<Utc>,
        segment: Segment,
    ) -> Option<DateTime<Utc>> {
        let today = ist_date(after);
        (0..=SEARCH_HORIZON_DAYS)
            .filter_map(|offset| today.checked_add_signed(TimeDelta::days(offset)))
            .flat_map(|date| {
                let phases = plan(self, segment, date).phases;
                let mut starts = Vec::new();
                let mut previous_end = None;
                for p in &phases {
                    if previous_end != Some(p.start) {
                        starts.push(ist_instant(date, p.start));
                    }
                    previous_end = Some(p.end);
                }
                starts
            })
            .find(|start| *start > after)
    }
}

#[cfg(test)]
#[path = "day_tests.rs"]
mod tests;

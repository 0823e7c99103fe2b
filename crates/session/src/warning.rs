//! Warnings about the calendar itself: out-of-date holiday data, announced sessions without
//! timings, dates the data does not cover.
//!
//! A warning never changes the computed phase; it tells the operator that the phase rests on
//! weekday rules or on missing data, so that nothing is silently guessed.

use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, SpecialTiming};
use crate::ist::day;
use crate::segment::Segment;

/// Days before `valid_through` from which a `calendar_expiring` warning is reported. NSE
/// publishes the next year's list in mid-December, so the warning starts before it appears.
pub const EXPIRY_NOTICE_DAYS: i64 = 30;

/// Days ahead within which an announced special session without timings is reported.
pub const TBA_NOTICE_DAYS: i64 = 14;

/// What a warning is about (stable identifiers for scripts and dashboards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The date is after the holiday list's `valid_through`: only weekday rules apply.
    CalendarExpired,
    /// `valid_through` is within [`EXPIRY_NOTICE_DAYS`].
    CalendarExpiring,
    /// The date is before the holiday list's `valid_from`: only weekday rules apply.
    BeforeCoverage,
    /// A special session is announced but its timings are not in the calendar.
    TimingsTba,
    /// No session template is in force on the date.
    NoTemplate,
    /// The calendar does not define the segment.
    UndefinedSegment,
    /// No session was found within the search horizon.
    NoUpcomingSession,
}

/// One warning with a human message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable identifier.
    pub kind: WarningKind,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Calendar {
    /// Warnings about the data behind `segment` on IST `date`: holiday coverage (expired,
    /// expiring, not yet started) and announced special sessions without timings from `date` to
    /// [`TBA_NOTICE_DAYS`] ahead. `feedgate check` and the health document report these.
    pub fn coverage_warnings(&self, segment: Segment, date: NaiveDate) -> Vec<Warning> {
        let Some((valid_from, valid_through)) = self.coverage(segment) else {
            return vec![Warning {
                kind: WarningKind::UndefinedSegment,
                message: format!(
                    "segment {segment} is not defined in the calendar, so it is reported CLOSED; \
                     add a [segments.{segment}] table (see the README on updating the calendar)"
                ),
            }];
        };
        let mut out = Vec::new();
        out.extend(expiry_warning(segment, date, valid_through));
        out.extend(before_coverage_warning(segment, date, valid_from));
        out.extend(self.timings_tba_warnings(segment, date));
        out
    }

    /// Announced special sessions of `segment` without timings, from `date` to
    /// [`TBA_NOTICE_DAYS`] ahead.
    fn timings_tba_warnings(&self, segment: Segment, date: NaiveDate) -> Vec<Warning> {
        let horizon = date
            .checked_add_signed(TimeDelta::days(TBA_NOTICE_DAYS))
            .unwrap_or(NaiveDate::MAX);
        self.special_sessions(segment)
            .filter(|special| {
                special.timing == SpecialTiming::TimingsTba
                    && special.date >= date
                    && special.date <= horizon
            })
            .map(|special| Warning {
                kind: WarningKind::TimingsTba,
                message: format!(
                    "{} on {} is announced but its timings are not published in the calendar; \
                     {segment} is reported CLOSED for it until they are added \
                     (FEEDGATE_CALENDAR, see the README on updating the calendar)",
                    special.name,
                    day(special.date)
                ),
            })
            .collect()
    }
}

/// `date` is past the holiday list's end, or within [`EXPIRY_NOTICE_DAYS`] of it.
fn expiry_warning(segment: Segment, date: NaiveDate, valid_through: NaiveDate) -> Option<Warning> {
    if date > valid_through {
        return Some(Warning {
            kind: WarningKind::CalendarExpired,
            message: format!(
                "holiday calendar for {segment} is valid through {valid_through}; holidays after \
                 that date are unknown, so only weekday rules apply. Update it with \
                 FEEDGATE_CALENDAR (see the README on updating the calendar)"
            ),
        });
    }
    let left = (valid_through - date).num_days();
    (left <= EXPIRY_NOTICE_DAYS).then(|| Warning {
        kind: WarningKind::CalendarExpiring,
        message: format!(
            "holiday calendar for {segment} is valid through {valid_through} ({left} days \
             left); add next year's holidays when the exchange publishes them \
             (FEEDGATE_CALENDAR, see the README on updating the calendar)"
        ),
    })
}

/// `date` is before the holiday list's first covered day.
fn before_coverage_warning(
    segment: Segment,
    date: NaiveDate,
    valid_from: Option<NaiveDate>,
) -> Option<Warning> {
    let from = valid_from.filter(|from| date < *from)?;
    Some(Warning {
        kind: WarningKind::BeforeCoverage,
        message: format!(
            "no holiday data for {segment} before {from}; only weekday rules and listed \
             special sessions apply to {date}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn kinds(cal: &Calendar, seg: Segment, date: &str) -> Vec<WarningKind> {
        cal.coverage_warnings(seg, d(date))
            .into_iter()
            .map(|w| w.kind)
            .collect()
    }

    #[test]
    fn coverage_table() {
        use WarningKind::*;
        let cal = Calendar::builtin();
        let table: [(Segment, &str, &[WarningKind]); 10] = [
            (Segment::NseCm, "2026-06-01", &[]),
            (Segment::NseCm, "2026-11-30", &[]),
            (Segment::NseCm, "2026-12-01", &[CalendarExpiring]),
            (Segment::NseCm, "2026-12-31", &[CalendarExpiring]),
            (Segment::NseCm, "2027-01-01", &[CalendarExpired]),
            (Segment::NseCm, "2024-06-03", &[BeforeCoverage]),
            (Segment::NseCd, "2025-06-02", &[BeforeCoverage]),
            (Segment::NseCd, "2026-06-01", &[]),
            // 2026-11-08 Muhurat: TBA within 14 days (inclusive) and on the day itself.
            (Segment::NseCm, "2026-10-25", &[TimingsTba]),
            (Segment::McxCom, "2026-11-08", &[TimingsTba]),
        ];
        for (seg, date, want) in table {
            assert_eq!(kinds(&cal, seg, date), want, "{seg} {date}");
        }
        assert_eq!(kinds(&cal, Segment::NseCm, "2026-10-24"), vec![]);
        assert_eq!(kinds(&cal, Segment::NseCm, "2026-11-09"), vec![]);
    }

    #[test]
    fn expired_message_says_what_to_do() {
        let cal = Calendar::builtin();
        let w = cal.coverage_warnings(Segment::NseCm, d("2027-03-01"));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].message.contains("valid through 2026-12-31"),
            "{}",
            w[0].message
        );
        assert!(
            w[0].message.contains("FEEDGATE_CALENDAR"),
            "{}",
            w[0].message
        );
    }

    #[test]
    fn warning_serializes_with_snake_case_kind() {
        let w = Warning {
            kind: WarningKind::TimingsTba,
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"kind":"timings_tba","message":"m"}"#
        );
    }
}

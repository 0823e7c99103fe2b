//! Errors from loading, validating and merging calendar files.
//!
//! Every validation error names the file, the entry and what is wrong, because the person
//! reading it is editing a TOML file by hand after an exchange circular came out.

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveTime};

use crate::phase::PhaseKind;

/// Loading or validating a calendar failed. Calendar errors are never retryable: the file has to
/// be fixed.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The file could not be read.
    #[error("cannot read calendar file {}: {source}", path.display())]
    Read {
        /// The path given by the caller (`FEEDGATE_CALENDAR`).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or does not have the calendar schema's shape (unknown key, wrong type).
    #[error("calendar file {file}: {message}")]
    Syntax {
        /// Which file.
        file: String,
        /// The parser's message, including line and column.
        message: String,
    },
    /// The file parsed but an entry is wrong.
    #[error("calendar file {file}: {entry}: {problem}")]
    Invalid {
        /// Which file (or which merge of files).
        file: String,
        /// The entry, e.g. `holidays.NSE_EQ[2026-01-26 "Republic Day"]`.
        entry: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

impl CalendarError {
    /// The validation problem, when this is one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            CalendarError::Invalid { problem, .. } => Some(problem),
            CalendarError::Read { .. } | CalendarError::Syntax { .. } => None,
        }
    }
}

/// What is wrong with one calendar entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// `schema_version` is not the one this code reads.
    #[error(
        "schema_version {found} is not supported (this feedgate reads schema_version {supported})"
    )]
    UnsupportedSchema {
        /// Version in the file.
        found: i64,
        /// Version this code reads.
        supported: i64,
    },
    /// Calendar times are IST; another timezone would silently shift every phase.
    #[error("timezone {0:?} is not supported: calendar times are always Asia/Kolkata wall-clock")]
    Timezone(String),
    /// A date field does not parse.
    #[error("bad {field} {value}: expected a date YYYY-MM-DD")]
    BadDate {
        /// Field name.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// A time field does not parse.
    #[error("bad {field} {value}: expected a 24-hour IST time HH:MM")]
    BadTime {
        /// Field name.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// A segment id that this code does not know.
    #[error(
        "unknown segment {0:?}: expected one of NSE_CM, NSE_FO, BSE_CM, BSE_FO, NSE_CD, MCX_COM"
    )]
    UnknownSegment(String),
    /// A phase kind that this code does not know.
    #[error("unknown phase kind {0:?}: expected one of {kinds}", kinds = crate::calendar::validate::phase_kind_names())]
    UnknownPhaseKind(String),
    /// A special-session kind that this code does not know.
    #[error(
        "unknown session kind {0:?}: expected one of muhurat, union_budget, special_live, dr_switchover"
    )]
    UnknownSessionKind(String),
    /// A special-session status that this code does not know.
    #[error("unknown status {0:?}: expected one of confirmed, timings_tba, cancelled")]
    UnknownStatus(String),
    /// A weekmask entry that is not a weekday.
    #[error("unknown weekday {0:?} in weekmask: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")]
    UnknownWeekday(String),
    /// A segment that never trades.
    #[error("weekmask is empty: a segment must trade on at least one weekday")]
    EmptyWeekmask,
    /// A required text field is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A phase does not end after it starts (phases cannot cross midnight).
    #[error(
        "phase {kind} ends at {}, not after its start {} (phases cannot cross midnight)",
        end.format("%H:%M"),
        start.format("%H:%M")
    )]
    PhaseNotAfterStart {
        /// Phase kind.
        kind: PhaseKind,
        /// Start.
        start: NaiveTime,
        /// End.
        end: NaiveTime,
    },
    /// Two phases of one day overlap.
    #[error("phases overlap: {first} and {second} (phases are half-open [start, end))")]
    OverlappingPhases {
        /// The earlier phase, `kind start-end`.
        first: String,
        /// The later phase, `kind start-end`.
        second: String,
    },
    /// A phase directly follows one that comes later in a session (e.g. continuous after post-close).
    #[error(
        "phase {later} directly follows {earlier}: within a session phases must go pre-open, auction, live, post-close"
    )]
    PhaseOrder {
        /// The phase that comes first in time.
        earlier: String,
        /// The phase that follows it.
        later: String,
    },
    /// `random_close_from` lies outside its phase.
    #[error(
        "random_close_from {} is not strictly inside the phase {}-{}",
        value.format("%H:%M"),
        start.format("%H:%M"),
        end.format("%H:%M")
    )]
    RandomCloseOutside {
        /// The random-close time.
        value: NaiveTime,
        /// Phase start.
        start: NaiveTime,
        /// Phase end.
        end: NaiveTime,
    },
    /// A template or special session without phases.
    #[error("phases must not be empty")]
    NoPhases,
    /// The same key appears twice in one file.
    #[error("duplicate entry: {0}")]
    Duplicate(String),
    /// A special session's status and timings contradict each other.
    #[error("{0}")]
    TimingsConflict(String),
    /// A reference to a holiday list that is not defined.
    #[error("holiday list {0:?} is not defined (add a [holiday_lists.{0}] table)")]
    UndefinedHolidayList(String),
    /// A reference to a schedule without templates.
    #[error("schedule {0:?} is not defined (add at least one [[schedules.{0}]] template)")]
    UndefinedSchedule(String),
    /// A special session for a segment the calendar does not define.
    #[error("segment {0} is not defined (add a [segments.{0}] table)")]
    UndefinedSegment(String),
    /// `closed_sessions` names a session that no phase of the list's segments carries.
    #[error(
        "closed_sessions names {session:?}, but no schedule used with this holiday list has a phase with session = {session:?}"
    )]
    UnknownSession {
        /// The session name as written.
        session: String,
    },
    /// A period whose start is after its end.
    #[error("valid_from {from} is after valid_through {through}")]
    EmptyPeriod {
        /// Start.
        from: NaiveDate,
        /// End.
        through: NaiveDate,
    },
}

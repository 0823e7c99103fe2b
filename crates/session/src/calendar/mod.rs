//! The exchange calendar: the built-in data file, `FEEDGATE_CALENDAR` overrides and lookups.
//!
//! This module owns the data and its validation. It does not decide phases (see `day` and
//! `status`). The file schema is documented at the top of `data/calendar.toml` and in
//! `CALENDAR-UPDATE.md`.

mod error;
mod file;
mod merge;
mod model;
mod phases;
pub(crate) mod validate;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDate;

pub use error::{CalendarError, Problem};
pub use model::{
    Holiday, HolidayListMeta, SegmentDef, SessionKind, SessionPhase, SpecialSession, SpecialTiming,
    Template, Weekmask,
};

use crate::segment::Segment;

/// The calendar shipped with feedgate (`crates/session/data/calendar.toml`).
pub const BUILTIN_TOML: &str = include_str!("../../data/calendar.toml");

/// How the built-in file is named in error messages and `origins()`.
pub const BUILTIN_NAME: &str = "built-in calendar (crates/session/data/calendar.toml)";

/// Parsed once; the unit test `builtin_calendar_is_valid` guarantees this cannot fail at runtime.
static BUILTIN: LazyLock<Calendar> = LazyLock::new(|| {
    // The embedded file is a compile-time constant; `builtin_calendar_is_valid` fails the build's
    // tests if it ever stops validating, so this cannot be reached by input.
    Calendar::parse_complete(BUILTIN_TOML, BUILTIN_NAME).expect("built-in calendar is valid")
});

/// A validated calendar: segments, holiday lists, effective-dated templates and special sessions.
///
/// Build one with [`Calendar::builtin`], [`Calendar::from_toml_str`] or
/// [`Calendar::load_with_override`]. All dates and times are IST (Asia/Kolkata).
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub(crate) origins: Vec<String>,
    pub(crate) valid_through: NaiveDate,
    pub(crate) data_as_of: NaiveDate,
    pub(crate) segments: BTreeMap<Segment, SegmentDef>,
    pub(crate) holiday_lists: BTreeMap<String, HolidayListMeta>,
    pub(crate) holidays: BTreeMap<String, BTreeMap<NaiveDate, Holiday>>,
    pub(crate) schedules: BTreeMap<String, BTreeMap<NaiveDate, Template>>,
    pub(crate) specials: BTreeMap<(Segment, NaiveDate), SpecialSession>,
}

impl Calendar {
    /// The calendar compiled into feedgate.
    pub fn builtin() -> Calendar {
        BUILTIN.clone()
    }

    /// Parses and validates one calendar file given as text (named `<inline>` in errors).
    ///
    /// The file may be partial (an override that only adds holidays): references to tables
    /// defined elsewhere are checked by [`Calendar::with_override`].
    pub fn from_toml_str(text: &str) -> Result<Calendar, CalendarError> {
        Calendar::parse(text, "<inline>")
    }

    /// Like [`Calendar::from_toml_str`], naming the file `name` in errors.
    pub fn parse(text: &str, name: &str) -> Result<Calendar, CalendarError> {
        let raw: file::RawFile = toml::from_str(text).map_err(|e| CalendarError::Syntax {
            file: name.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        validate::validate(raw, name)
    }

    /// Parses a file that must stand alone (every reference resolved).
    fn parse_complete(text: &str, name: &str) -> Result<Calendar, CalendarError> {
        let cal = Calendar::parse(text, name)?;
        merge::check_references(&cal, name)?;
        Ok(cal)
    }

    /// Applies `other` on top of `self` (see `merge` for the exact rules) and validates the result.
    pub fn with_override(self, other: Calendar) -> Result<Calendar, CalendarError> {
        merge::merge(self, other)
    }

    /// The built-in calendar extended by the file at `path` (`FEEDGATE_CALENDAR`).
    pub fn load_with_override(path: &Path) -> Result<Calendar, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let other = Calendar::parse(&text, &path.display().to_string())?;
        Calendar::builtin().with_override(other)
    }

    /// The files this calendar was built from, in application order.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Last date for which the holiday data is claimed complete (default for every list).
    pub fn valid_through(&self) -> NaiveDate {
        self.valid_through
    }

    /// Date of the newest exchange circular the data reflects.
    pub fn data_as_of(&self) -> NaiveDate {
        self.data_as_of
    }

    /// The definition of `segment`, if the calendar has one.
    pub fn segment(&self, segment: Segment) -> Option<&SegmentDef> {
        self.segments.get(&segment)
    }

    /// The holiday-list coverage period for `segment`: `(valid_from, valid_through)`.
    pub fn coverage(&self, segment: Segment) -> Option<(Option<NaiveDate>, NaiveDate)> {
        let def = self.segments.get(&segment)?;
        let meta = self.holiday_lists.get(&def.holiday_list)?;
        Some((
            meta.valid_from,
            meta.valid_through.unwrap_or(self.valid_through),
        ))
    }

    /// The active (not cancelled) holidays of `segment`, in date order.
    pub fn holidays(&self, segment: Segment) -> impl Iterator<Item = &Holiday> {
        self.segments
            .get(&segment)
            .and_then(|def| self.holidays.get(&def.holiday_list))
            .into_iter()
            .flat_map(|by_date| by_date.values())
            .filter(|h| !h.cancelled)
    }

    /// The special sessions of `segment`, in date order (including TBA and cancelled ones).
    pub fn special_sessions(&self, segment: Segment) -> impl Iterator<Item = &SpecialSession> {
        self.specials
            .range((segment, NaiveDate::MIN)..=(segment, NaiveDate::MAX))
            .map(|(_, s)| s)
    }

    /// The holiday of `segment` on `date`, if any (cancelled ones excluded).
    pub(crate) fn holiday_on(&self, segment: Segment, date: NaiveDate) -> Option<&Holiday> {
        let def = self.segments.get(&segment)?;
        self.holidays
            .get(&def.holiday_list)?
            .get(&date)
            .filter(|h| !h.cancelled)
    }

    /// The special session of `segment` on `date`, if any.
    pub(crate) fn special_on(&self, segment: Segment, date: NaiveDate) -> Option<&SpecialSession> {
        self.specials.get(&(segment, date))
    }

    /// The template of `segment` in force on `date`: the last one with `effective_from <= date`.
    pub(crate) fn template_on(&self, segment: Segment, date: NaiveDate) -> Option<&Template> {
        let def = self.segments.get(&segment)?;
        self.schedules
            .get(&def.schedule)?
            .range(..=date)
            .next_back()
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;

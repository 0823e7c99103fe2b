//! The calendar file schema as written on disk (TOML), before validation.
//!
//! These types only mirror the text: every date, time, segment id and phase name is kept as
//! written so that `validate` can report a bad value together with the entry it belongs to.
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo such as `valid_thru` fails loudly
//! instead of being ignored. Dates and times may be quoted strings or TOML date/time literals.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole calendar file: the built-in one or a `FEEDGATE_CALENDAR` override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub schema_version: i64,
    pub timezone: Option<String>,
    pub valid_through: toml::Value,
    pub data_as_of: toml::Value,
    #[serde(default)]
    pub segments: BTreeMap<String, RawSegment>,
    #[serde(default)]
    pub holiday_lists: BTreeMap<String, RawHolidayList>,
    #[serde(default)]
    pub holidays: BTreeMap<String, Vec<RawHoliday>>,
    #[serde(default)]
    pub schedules: BTreeMap<String, Vec<RawTemplate>>,
    #[serde(default)]
    pub special_sessions: Vec<RawSpecialSession>,
}

/// `[segments.NSE_CM]`: which weekdays trade and which holiday list and schedule apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSegment {
    pub name: Option<String>,
    pub weekmask: Vec<String>,
    pub holiday_list: String,
    pub schedule: String,
}

/// `[holiday_lists.NSE_EQ]`: the period for which a holiday list is known to be complete.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHolidayList {
    pub description: Option<String>,
    pub valid_from: Option<toml::Value>,
    pub valid_through: Option<toml::Value>,
}

/// `[[holidays.NSE_EQ]]`: one closure (or a cancelled one) with its name and source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHoliday {
    pub date: toml::Value,
    pub name: String,
    pub source: String,
    pub added_on: Option<toml::Value>,
    pub closed_sessions: Option<Vec<String>>,
    #[serde(default)]
    pub cancelled: bool,
    pub note: Option<String>,
}

/// `[[schedules.EQ_CASH]]`: the phases in force from `effective_from` until the next template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTemplate {
    pub effective_from: toml::Value,
    pub source: String,
    pub note: Option<String>,
    pub phases: Vec<RawPhase>,
}

/// One half-open phase `[start, end)` in IST wall-clock time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhase {
    pub kind: String,
    pub start: toml::Value,
    pub end: toml::Value,
    pub session: Option<String>,
    pub random_close_from: Option<toml::Value>,
    pub note: Option<String>,
}

/// `[[special_sessions]]`: a session that replaces the day's normal rules for some segments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpecialSession {
    pub date: toml::Value,
    pub kind: String,
    pub name: String,
    pub segments: Vec<String>,
    pub status: String,
    pub template: Option<String>,
    pub phases: Option<Vec<RawPhase>>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub source: String,
    pub note: Option<String>,
}

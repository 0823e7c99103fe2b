//! Turns a parsed calendar file into validated records, naming the entry of every problem.
//!
//! Checks here need nothing but the file itself (dates, times, phase lists via `phases`,
//! duplicates, status versus timings). Cross-references between tables (a segment's holiday
//! list, closed session names) are checked by `merge::check_references`, because an override
//! file may refer to tables that only the built-in calendar defines.

use std::collections::{BTreeMap, btree_map::Entry};

use chrono::{NaiveDate, NaiveTime, Weekday};

use super::Calendar;
use super::error::{CalendarError, Problem};
use super::file::{
    RawFile, RawHoliday, RawHolidayList, RawSegment, RawSpecialSession, RawTemplate,
};
use super::model::{
    Holiday, HolidayListMeta, SegmentDef, SessionKind, SpecialSession, SpecialTiming, Template,
    Weekmask,
};
use super::phases::phases;
use crate::phase::PhaseKind;
use crate::segment::Segment;

/// The only schema version this code reads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// The only timezone calendar times may be in.
const TIMEZONE: &str = "Asia/Kolkata";

/// Comma-separated phase kind names, for error messages.
pub(crate) fn phase_kind_names() -> String {
    PhaseKind::ALL.map(PhaseKind::as_str).join(", ")
}

/// Builds errors that carry the file name.
pub(super) struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, entry: impl Into<String>, problem: Problem) -> CalendarError {
        CalendarError::Invalid {
            file: self.file.to_owned(),
            entry: entry.into(),
            problem,
        }
    }

    pub(super) fn date(
        &self,
        entry: &str,
        field: &'static str,
        v: &toml::Value,
    ) -> Result<NaiveDate, CalendarError> {
        let text = scalar_text(v);
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
            self.err(
                entry,
                Problem::BadDate {
                    field,
                    value: shown(v),
                },
            )
        })
    }

    /// An optional date field: absent stays `None`, present must parse.
    pub(super) fn optional_date(
        &self,
        entry: &str,
        field: &'static str,
        v: Option<&toml::Value>,
    ) -> Result<Option<NaiveDate>, CalendarError> {
        v.map(|v| self.date(entry, field, v)).transpose()
    }

    pub(super) fn time(
        &self,
        entry: &str,
        field: &'static str,
        v: &toml::Value,
    ) -> Result<NaiveTime, CalendarError> {
        let text = scalar_text(v);
        NaiveTime::parse_from_str(&text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
            .map_err(|_| {
                self.err(
                    entry,
                    Problem::BadTime {
                        field,
                        value: shown(v),
                    },
                )
            })
    }

    pub(super) fn non_empty(
        &self,
        entry: &str,
        field: &'static str,
        v: &str,
    ) -> Result<(), CalendarError> {
        if v.trim().is_empty() {
            return Err(self.err(entry, Problem::Empty(field)));
        }
        Ok(())
    }
}

/// A date/time as text: quoted strings as written, TOML date/time literals in their canonical form.
fn scalar_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.trim().to_owned(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    }
}

/// A value as the user wrote it, for error messages.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Validates everything in `raw` that does not depend on other files.
///
/// Tables are checked in file order (header, segments, holiday lists, holidays, schedules,
/// special sessions), so the first error reported is the first one a reader meets.
pub(crate) fn validate(raw: RawFile, file: &str) -> Result<Calendar, CalendarError> {
    let ctx = Ctx { file };
    check_header(&ctx, &raw)?;
    let valid_through = ctx.date("valid_through", "valid_through", &raw.valid_through)?;
    let data_as_of = ctx.date("data_as_of", "data_as_of", &raw.data_as_of)?;
    Ok(Calendar {
        origins: vec![file.to_owned()],
        valid_through,
        data_as_of,
        segments: segments(&ctx, raw.segments)?,
        holiday_lists: holiday_lists(&ctx, raw.holiday_lists)?,
        holidays: holidays(&ctx, raw.holidays)?,
        schedules: schedules(&ctx, raw.schedules)?,
        specials: specials(&ctx, raw.special_sessions)?,
    })
}

/// The schema version and timezone, which decide whether anything else can be read at all.
fn check_header(ctx: &Ctx<'_>, raw: &RawFile) -> Result<(), CalendarError> {
    if raw.schema_version != SCHEMA_VERSION {
        return Err(ctx.err(
            "schema_version",
            Problem::UnsupportedSchema {
                found: raw.schema_version,
                supported: SCHEMA_VERSION,
            },
        ));
    }
    if let Some(tz) = raw.timezone.as_deref()
        && tz != TIMEZONE
    {
        return Err(ctx.err("timezone", Problem::Timezone(tz.to_owned())));
    }
    Ok(())
}

fn segments(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, RawSegment>,
) -> Result<BTreeMap<Segment, SegmentDef>, CalendarError> {
    let mut segments = BTreeMap::new();
    for (id, seg) in raw {
        let entry = format!("segments.{id}");
        let segment = Segment::from_id(&id)
            .ok_or_else(|| ctx.err(&entry, Problem::UnknownSegment(id.clone())))?;
        let weekmask = weekmask(ctx, &entry, &seg.weekmask)?;
        ctx.non_empty(&entry, "holiday_list", &seg.holiday_list)?;
        ctx.non_empty(&entry, "schedule", &seg.schedule)?;
        segments.insert(
            segment,
            SegmentDef {
                name: seg.name,
                weekmask,
                holiday_list: seg.holiday_list,
                schedule: seg.schedule,
            },
        );
    }
    Ok(segments)
}

fn weekmask(ctx: &Ctx<'_>, entry: &str, names: &[String]) -> Result<Weekmask, CalendarError> {
    let mut days = [false; 7];
    for name in names {
        let day: Weekday = name
            .trim()
            .parse()
            .map_err(|_| ctx.err(entry, Problem::UnknownWeekday(name.clone())))?;
        if let Some(slot) = days.get_mut(day.num_days_from_monday() as usize) {
            *slot = true;
        }
    }
    if !days.contains(&true) {
        return Err(ctx.err(entry, Problem::EmptyWeekmask));
    }
    Ok(Weekmask(days))
}

fn holiday_lists(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, RawHolidayList>,
) -> Result<BTreeMap<String, HolidayListMeta>, CalendarError> {
    let mut holiday_lists = BTreeMap::new();
    for (name, list) in raw {
        let entry = format!("holiday_lists.{name}");
        let valid_from = ctx.optional_date(&entry, "valid_from", list.valid_from.as_ref())?;
        let valid_through =
            ctx.optional_date(&entry, "valid_through", list.valid_through.as_ref())?;
        if let (Some(from), Some(through)) = (valid_from, valid_through)
            && from > through
        {
            return Err(ctx.err(&entry, Problem::EmptyPeriod { from, through }));
        }
        holiday_lists.insert(
            name,
            HolidayListMeta {
                description: list.description,
                valid_from,
                valid_through,
            },
        );
    }
    Ok(holiday_lists)
}

fn holidays(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, Vec<RawHoliday>>,
) -> Result<BTreeMap<String, BTreeMap<NaiveDate, Holiday>>, CalendarError> {
    let mut holidays: BTreeMap<String, BTreeMap<NaiveDate, Holiday>> = BTreeMap::new();
    for (list, entries) in raw {
        let by_date = holidays.entry(list.clone()).or_default();
        for (i, h) in entries.into_iter().enumerate() {
            let holiday = holiday(ctx, &list, i, h)?;
            let date = holiday.date;
            insert_unique(by_date, date, holiday, || {
                ctx.err(
                    format!("holidays.{list}[{i}]"),
                    Problem::Duplicate(format!("{date} is listed twice in holidays.{list}")),
                )
            })?;
        }
    }
    Ok(holidays)
}

fn schedules(
    ctx: &Ctx<'_>,
    raw: BTreeMap<String, Vec<RawTemplate>>,
) -> Result<BTreeMap<String, BTreeMap<NaiveDate, Template>>, CalendarError> {
    let mut schedules: BTreeMap<String, BTreeMap<NaiveDate, Template>> = BTreeMap::new();
    for (name, templates) in raw {
        let by_date = schedules.entry(name.clone()).or_default();
        for (i, t) in templates.into_iter().enumerate() {
            let template = template(ctx, &name, i, t)?;
            let from = template.effective_from;
            insert_unique(by_date, from, template, || {
                ctx.err(
                    format!("schedules.{name}[{i}]"),
                    Problem::Duplicate(format!(
                        "two templates effective from {from} in schedules.{name}"
                    )),
                )
            })?;
        }
    }
    Ok(schedules)
}

fn specials(
    ctx: &Ctx<'_>,
    raw: Vec<RawSpecialSession>,
) -> Result<BTreeMap<(Segment, NaiveDate), SpecialSession>, CalendarError> {
    let mut specials = BTreeMap::new();
    for (i, raw_special) in raw.into_iter().enumerate() {
        let (segs, special) = special_session(ctx, i, raw_special)?;
        for seg in segs {
            if specials
                .insert((seg, special.date), special.clone())
                .is_some()
            {
                return Err(ctx.err(
                    format!(
                        "special_sessions[{i}] ({} {})",
                        special.date,
                        special.kind.as_str()
                    ),
                    Problem::Duplicate(format!(
                        "a second special session for {seg} on {}",
                        special.date
                    )),
                ));
            }
        }
    }
    Ok(specials)
}

/// Inserts `value` under `key`, or returns `duplicate()` when the key is already taken (the
/// first entry stays; a second one for the same date is a mistake in the file).
fn insert_unique<K: Ord, V>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    duplicate: impl FnOnce() -> CalendarError,
) -> Result<(), CalendarError> {
    match map.entry(key) {
        Entry::Occupied(_) => Err(duplicate()),
        Entry::Vacant(slot) => {
            slot.insert(value);
            Ok(())
        }
    }
}

fn holiday(ctx: &Ctx<'_>, list: &str, i: usize, h: RawHoliday) -> Result<Holiday, CalendarError> {
    let entry = format!(
        "holidays.{list}[{i}] ({} {:?})",
        scalar_text(&h.date),
        h.name
    );
    let date = ctx.date(&entry, "date", &h.date)?;
    ctx.non_empty(&entry, "name", &h.name)?;
    ctx.non_empty(&entry, "source", &h.source)?;
    let added_on = ctx.optional_date(&entry, "added_on", h.added_on.as_ref())?;
    if let Some(closed) = &h.closed_sessions
        && (closed.is_empty() || closed.iter().any(|s| s.trim().is_empty()))
    {
        return Err(ctx.err(&entry, Problem::Empty("closed_sessions")));
    }
    Ok(Holiday {
        date,
        name: h.name,
        source: h.source,
        added_on,
        closed_sessions: h.closed_sessions,
        cancelled: h.cancelled,
        note: h.note,
    })
}

fn template(
    ctx: &Ctx<'_>,
    schedule: &str,
    i: usize,
    t: RawTemplate,
) -> Result<Template, CalendarError> {
    let entry = format!(
        "schedules.{schedule}[{i}] (effective_from {})",
        scalar_text(&t.effective_from)
    );
    let effective_from = ctx.date(&entry, "effective_from", &t.effective_from)?;
    ctx.non_empty(&entry, "source", &t.source)?;
    let phases = phases(ctx, &entry, &t.phases)?;
    Ok(Template {
        effective_from,
        source: t.source,
        note: t.note,
        phases,
    })
}

fn special_session(
    ctx: &Ctx<'_>,
    i: usize,
    s: RawSpecialSession,
) -> Result<(Vec<Segment>, SpecialSession), CalendarError> {
    let entry = format!(
        "special_sessions[{i}] ({} {})",
        scalar_text(&s.date),
        s.kind
    );
    let date = ctx.date(&entry, "date", &s.date)?;
    let kind = SessionKind::SPECIAL
        .into_iter()
        .find(|k| k.as_str() == s.kind)
        .ok_or_else(|| ctx.err(&entry, Problem::UnknownSessionKind(s.kind.clone())))?;
    ctx.non_empty(&entry, "name", &s.name)?;
    ctx.non_empty(&entry, "source", &s.source)?;
    let segments = special_segments(ctx, &entry, &s.segments)?;
    let timing = special_timing(ctx, &entry, &s)?;
    let special = SpecialSession {
        date,
        kind,
        name: s.name,
        timing,
        flags: s.flags,
        source: s.source,
        note: s.note,
    };
    Ok((segments, special))
}

/// The segments a special session applies to: at least one, each a known id.
fn special_segments(
    ctx: &Ctx<'_>,
    entry: &str,
    ids: &[String],
) -> Result<Vec<Segment>, CalendarError> {
    if ids.is_empty() {
        return Err(ctx.err(entry, Problem::Empty("segments")));
    }
    ids.iter()
        .map(|id| {
            Segment::from_id(id).ok_or_else(|| ctx.err(entry, Problem::UnknownSegment(id.clone())))
        })
        .collect()
}

/// How a special session's timings are given: `status` decides whether `template` or `phases`
/// may (and must) be present.
fn special_timing(
    ctx: &Ctx<'_>,
    entry: &str,
    s: &RawSpecialSession,
) -> Result<SpecialTiming, CalendarError> {
    let conflict = |why: String| Err(ctx.err(entry, Problem::TimingsConflict(why)));
    match (
        s.status.as_str(),
        s.template.as_deref(),
        s.phases.as_deref(),
    ) {
        ("confirmed", Some("regular"), None) => Ok(SpecialTiming::RegularTemplate),
        ("confirmed", None, Some(raw)) => Ok(SpecialTiming::Phases(phases(ctx, entry, raw)?)),
        ("confirmed", Some(other), None) => conflict(format!(
            "template {other:?} is not supported: use template = \"regular\" or list phases"
        )),
        ("confirmed", _, _) => conflict(
            "status confirmed needs exactly one of template = \"regular\" or phases".into(),
        ),
        ("timings_tba" | "cancelled", Some(_), _) | ("timings_tba" | "cancelled", _, Some(_)) => {
            conflict(format!(
                "status {} must not have template or phases (set status = \"confirmed\" when timings are published)",
                s.status
            ))
        }
        ("timings_tba", None, None) => Ok(SpecialTiming::TimingsTba),
        ("cancelled", None, None) => Ok(SpecialTiming::Cancelled),
        (other, _, _) => Err(ctx.err(entry, Problem::UnknownStatus(other.to_owned()))),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

//! Combining the built-in calendar with a `FEEDGATE_CALENDAR` override, and the cross-reference
//! checks a complete calendar must pass.
//!
//! Merge rules (documented for users in `CALENDAR-UPDATE.md`):
//! - segments: an override's `[segments.X]` replaces the whole definition of X;
//! - holidays: keyed by (list, date); an override entry replaces the built-in one, and
//!   `cancelled = true` withdraws it;
//! - templates: keyed by (schedule, effective_from); replaced or added;
//! - special sessions: keyed by (segment, date); replaced or added (`status = "cancelled"`
//!   withdraws one);
//! - holiday-list metadata: the override's description and `valid_from` win when given;
//! - `valid_through` and `data_as_of`: the later of the two, because an override extends the
//!   data it sits on (an old override must not make a newer built-in look expired).

use std::collections::BTreeSet;

use super::Calendar;
use super::error::{CalendarError, Problem};

/// Applies `over` on top of `base` and checks the result is complete.
pub(crate) fn merge(mut base: Calendar, over: Calendar) -> Result<Calendar, CalendarError> {
    let label = format!(
        "{} + {}",
        base.origins.join(" + "),
        over.origins.join(" + ")
    );

    for (name, meta) in over.holiday_lists {
        let base_global = base.valid_through;
        let slot = base.holiday_lists.entry(name).or_default();
        slot.description = meta.description.or(slot.description.take());
        slot.valid_from = meta.valid_from.or(slot.valid_from);
        slot.valid_through = match (slot.valid_through, meta.valid_through) {
            (None, None) => None,
            (b, o) => Some(
                b.unwrap_or(base_global)
                    .max(o.unwrap_or(over.valid_through)),
            ),
        };
    }
    base.valid_through = base.valid_through.max(over.valid_through);
    base.data_as_of = base.data_as_of.max(over.data_as_of);
    base.origins.extend(over.origins);
    base.segments.extend(over.segments);
    for (list, entries) in over.holidays {
        base.holidays.entry(list).or_default().extend(entries);
    }
    for (schedule, templates) in over.schedules {
        base.schedules
            .entry(schedule)
            .or_default()
            .extend(templates);
    }
    base.specials.extend(over.specials);

    check_references(&base, &label)?;
    Ok(base)
}

/// Checks that every reference in a complete calendar resolves.
pub(crate) fn check_references(cal: &Calendar, label: &str) -> Result<(), CalendarError> {
    let err = |entry: String, problem: Problem| CalendarError::Invalid {
        file: label.to_owned(),
        entry,
        problem,
    };
    for (segment, def) in &cal.segments {
        if !cal.holiday_lists.contains_key(&def.holiday_list) {
            return Err(err(
                format!("segments.{segment}"),
                Problem::UndefinedHolidayList(def.holiday_list.clone()),
            ));
        }
        if cal
            .schedules
            .get(&def.schedule)
            .is_none_or(|t| t.is_empty())
        {
            return Err(err(
                format!("segments.{segment}"),
                Problem::UndefinedSchedule(def.schedule.clone()),
            ));
        }
    }
    for (list, entries) in &cal.holidays {
        if !cal.holiday_lists.contains_key(list) {
            return Err(err(
                format!("holidays.{list}"),
                Problem::UndefinedHolidayList(list.clone()),
            ));
        }
        let sessions = sessions_for_list(cal, list);
        for h in entries.values() {
            for closed in h.closed_sessions.iter().flatten() {
                if !sessions.contains(closed.as_str()) {
                    return Err(err(
                        format!("holidays.{list} ({} {:?})", h.date, h.name),
                        Problem::UnknownSession {
                            session: closed.clone(),
                        },
                    ));
                }
            }
        }
    }
    for (segment, date) in cal.specials.keys() {
        if !cal.segments.contains_key(segment) {
            return Err(err(
                format!("special_sessions ({date})"),
                Problem::UndefinedSegment(segment.id().to_owned()),
            ));
        }
    }
    Ok(())
}

/// Session names carried by phases of every schedule used by a segment with holiday list `list`.
fn sessions_for_list<'a>(cal: &'a Calendar, list: &str) -> BTreeSet<&'a str> {
    cal.segments
        .values()
        .filter(|def| def.holiday_list == list)
        .filter_map(|def| cal.schedules.get(&def.schedule))
        .flat_map(|templates| templates.values())
        .flat_map(|t| t.phases.iter())
        .filter_map(|p| p.session.as_deref())
        .collect()
}

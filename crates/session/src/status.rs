//! The `market` section of the health document (DESIGN.md §5): phase, title, description, icon,
//! countdown to the next phase, holiday and warnings, for one segment at one instant.
//!
//! `feedgate session` prints this struct with `serde_json::to_string_pretty`, so its field names
//! and order are the contract. Descriptions are generated from the day's actual phases, so they
//! change when a dated template changes (e.g. F&O live until 3:40 PM from 2026-08-03).

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, SessionKind, SessionPhase};
use crate::day::{Closure, DayPlan, SEARCH_HORIZON_DAYS};
use crate::ist::{clock, day, rfc3339_ist, to_ist};
use crate::phase::{MarketPhase, PhaseKind};
use crate::segment::Segment;
use crate::timeline::{Span, locate, next_change, spans};
use crate::warning::{Warning, WarningKind};

/// Market status of one segment at one instant, shaped as DESIGN.md §5's `market` section plus
/// extra fields (`exchange` and after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketStatus {
    /// Public phase.
    pub phase: MarketPhase,
    /// Short title ("Market Live").
    pub title: String,
    /// What is happening, with the day's actual times ("Active trading (9:15 AM - 3:30 PM)").
    pub description: String,
    /// Traffic-light icon.
    pub icon: String,
    /// True while continuous trading is on (`LIVE`).
    pub is_trading_hours: bool,
    /// Whole seconds until the next phase change, rounded up so that `now + seconds` is inside
    /// the next phase; `null` when no change lies within the search horizon (30 days).
    pub seconds_to_next_phase: Option<i64>,
    /// The phase after the next change.
    pub next_phase: Option<MarketPhase>,
    /// The instant asked about, RFC 3339 in IST (`2026-11-23T10:15:00+05:30`).
    pub now: String,
    /// Holiday name while closed for a holiday (also on weekend holidays), else `null`.
    pub holiday: Option<String>,
    /// Exchange operating the segment (`NSE`).
    pub exchange: String,
    /// Segment id (`NSE_CM`).
    pub segment: Segment,
    /// Kind of today's session (`regular`, `muhurat`, `union_budget`, …); `null` when nothing
    /// trades today.
    pub session_kind: Option<SessionKind>,
    /// Detailed exchange phase (`pre_open_matching`, `closing_auction_entry`, …) when in one.
    pub exchange_phase: Option<PhaseKind>,
    /// When the next phase starts, RFC 3339 in IST.
    pub next_phase_at: Option<String>,
    /// Problems with the calendar data behind this answer (empty when none).
    pub warnings: Vec<Warning>,
}

impl MarketStatus {
    /// The same answer as seen at `now`, a little later than it was computed: `now` and the
    /// countdown move on, the phase does not (whoever keeps a status recomputes it at every
    /// phase change). A status shown to a user must carry the instant they asked at, not the
    /// instant it was cached.
    pub fn as_of(mut self, now: DateTime<Utc>) -> Self {
        self.now = rfc3339_ist(now);
        if let Some(next) = self
            .next_phase_at
            .as_deref()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        {
            self.seconds_to_next_phase = Some(ceil_seconds(next.with_timezone(&Utc) - now).max(0));
        }
        self
    }
}

/// Computes the market status of `segment` at `now`. Pure: the same inputs always give the same
/// output, whatever the host timezone.
pub fn market_status(cal: &Calendar, segment: Segment, now: DateTime<Utc>) -> MarketStatus {
    let (plan, time) = locate(cal, segment, now);
    let current = plan.phase_at(time);
    let phase = current.map_or(MarketPhase::Closed, |p| p.kind.public());
    let next = next_change(cal, segment, now, phase);

    let warnings = warnings(cal, segment, &plan, next.is_some());
    let holiday = match phase {
        MarketPhase::Closed => plan.holiday.map(|h| h.name.clone()),
        _ => None,
    };
    let title = match (&holiday, phase) {
        (Some(_), MarketPhase::Closed) => "Market Holiday".to_owned(),
        _ => phase.title().to_owned(),
    };
    let description = describe(&plan, current, time, holiday.is_some(), next);

    MarketStatus {
        phase,
        title,
        description,
        icon: phase.icon().to_owned(),
        is_trading_hours: phase == MarketPhase::Live,
        seconds_to_next_phase: next.map(|(at, _)| ceil_seconds(at - now)),
        next_phase: next.map(|(_, p)| p),
        now: rfc3339_ist(now),
        holiday,
        exchange: segment.exchange().to_owned(),
        segment,
        session_kind: plan.kind,
        exchange_phase: current.map(|p| p.kind),
        next_phase_at: next.map(|(at, _)| rfc3339_ist(at)),
        warnings,
    }
}

/// Coverage warnings plus those about this particular answer.
fn warnings(cal: &Calendar, segment: Segment, plan: &DayPlan<'_>, has_next: bool) -> Vec<Warning> {
    let mut out = cal.coverage_warnings(segment, plan.date);
    if plan.closure == Closure::NoTemplate {
        out.push(Warning {
            kind: WarningKind::NoTemplate,
            message: format!(
                "no session template for {segment} is in force on {}; the calendar's schedules \
                 start later, so the day is reported CLOSED",
                plan.date
            ),
        });
    }
    if !has_next {
        out.push(Warning {
            kind: WarningKind::NoUpcomingSession,
            message: format!(
                "no phase change for {segment} within {SEARCH_HORIZON_DAYS} days according to the \
                 calendar; check the calendar data"
            ),
        });
    }
    out
}

/// The description: optional special-session prefix, what is happening (or why closed), and
/// when a closed market opens next.
fn describe(
    plan: &DayPlan<'_>,
    current: Option<&SessionPhase>,
    time: NaiveTime,
    closed_for_holiday: bool,
    next: Option<(DateTime<Utc>, MarketPhase)>,
) -> String {
    let body = match current {
        Some(part) => open_description(plan, part),
        None => closed_reason(plan, time),
    };
    // "Union Budget session: Active trading (…)"; a holiday's own text already names the
    // special session, so it gets no prefix.
    let prefix = match plan.kind {
        Some(kind)
            if kind != SessionKind::Regular
                && plan.closure == Closure::Open
                && !closed_for_holiday =>
        {
            format!("{}: ", kind.label())
        }
        _ => String::new(),
    };
    let next_text = match (current, next) {
        (Some(_), _) => String::new(),
        (None, Some((at, next_phase))) => {
            let at_ist = to_ist(at);
            let when = if at_ist.date_naive() == plan.date {
                clock(at_ist.time())
            } else {
                format!("{}, {}", day(at_ist.date_naive()), clock(at_ist.time()))
            };
            format!(". Next: {} at {when}", next_phase.title())
        }
        (None, None) => format!(". No session in the next {SEARCH_HORIZON_DAYS} days"),
    };
    format!("{prefix}{body}{next_text}")
}

/// Seconds in `d`, rounded up (a positive remainder of a second counts as a whole second).
fn ceil_seconds(d: TimeDelta) -> i64 {
    let whole = d.num_seconds();
    if d.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    }
}

/// "{Headline} ({start} - {end}; {extras}). {note}" for the span containing `part`.
fn open_description(plan: &DayPlan<'_>, part: &SessionPhase) -> String {
    let day_spans = spans(&plan.phases);
    let span = day_spans
        .iter()
        .find(|s| s.parts.iter().any(|p| std::ptr::eq(p, part)));
    let Some(span) = span else {
        return part.kind.public().headline().to_owned();
    };
    let mut text = format!(
        "{} ({} - {}{})",
        span.phase.headline(),
        clock(span.start),
        clock(span.end),
        extras(span, part)
    );
    if let Some(note) = &part.note {
        text.push_str(". ");
        text.push_str(&capitalised(note));
    }
    text
}

/// Later parts of a span ("closing auction for F&O stocks from 3:15 PM") and random closes:
/// all of them in a pre-open span (that is what pre-open is about), otherwise only the current
/// part's.
fn extras(span: &Span<'_>, current: &SessionPhase) -> String {
    let mut items = Vec::new();
    let mut previous = span.parts.first().map(|p| p.kind.label());
    for (i, part) in span.parts.iter().enumerate() {
        let label = part.kind.label();
        if i > 0 && Some(label) != previous {
            items.push(format!("{label} from {}", clock(part.start)));
        }
        previous = Some(label);
        let relevant = span.phase == MarketPhase::PreOpen || std::ptr::eq(part, current);
        if let Some(rc) = part.random_close_from.filter(|_| relevant) {
            items.push(format!("random close from {}", clock(rc)));
        }
    }
    items.iter().map(|s| format!("; {s}")).collect()
}

/// Why the segment is closed at IST wall-clock `time`.
fn closed_reason(plan: &DayPlan<'_>, time: NaiveTime) -> String {
    if plan.closure == Closure::TimingsTba
        && let Some(special) = plan.special
    {
        return format!(
            "{} announced for today; timings not yet published in the calendar",
            special.name
        );
    }
    match (plan.holiday, plan.closure) {
        (_, Closure::UndefinedSegment) => "Segment not defined in the calendar".to_owned(),
        (_, Closure::NoTemplate) => "No session template for this date".to_owned(),
        (Some(h), Closure::Open) if plan.special.is_some() => {
            let name = plan.special.map_or("", |s| s.name.as_str());
            format!("Trading holiday: {} ({name} today)", h.name)
        }
        (Some(h), Closure::Open) => {
            let sessions = h
                .closed_sessions
                .as_deref()
                .unwrap_or_default()
                .join(" and ");
            format!("{} session closed for {}", capitalised(&sessions), h.name)
        }
        (Some(h), Closure::Weekend) => format!("Weekend ({})", h.name),
        (Some(h), _) => format!("Trading holiday: {}", h.name),
        (None, Closure::Weekend) => "Weekend".to_owned(),
        (None, _) => match (plan.phases.first(), plan.phases.last()) {
            (Some(first), _) if time < first.start => "Before market hours".to_owned(),
            (_, Some(last)) if time >= last.end => "After market hours".to_owned(),
            (Some(_), Some(_)) => "Between sessions".to_owned(),
            _ => "Market closed".to_owned(),
        },
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "status_props.rs"]
mod props;

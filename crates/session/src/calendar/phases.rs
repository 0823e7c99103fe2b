//! Validation of one day's phase list, shared by templates and special sessions.
//!
//! Phases must parse, end after they start (never across midnight), not overlap, keep any
//! random close inside the phase, and never go backwards within a session
//! (pre-open → auction → live → post-close). A gap between phases starts a new session, which is
//! how DR-switchover days with two sessions are written.

use chrono::NaiveTime;

use super::error::{CalendarError, Problem};
use super::file::RawPhase;
use super::model::SessionPhase;
use super::validate::Ctx;
use crate::phase::PhaseKind;

/// Validates one day's phases: each parses, `start < end`, no overlaps, and within a contiguous
/// run (a session) the public phase never goes backwards. Returns them sorted by start.
pub(super) fn phases(
    ctx: &Ctx<'_>,
    entry: &str,
    raw: &[RawPhase],
) -> Result<Vec<SessionPhase>, CalendarError> {
    if raw.is_empty() {
        return Err(ctx.err(entry, Problem::NoPhases));
    }
    let mut out = raw
        .iter()
        .enumerate()
        .map(|(i, p)| phase(ctx, &format!("{entry}.phases[{i}] ({})", p.kind), p))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|p| p.start);
    for pair in out.windows(2) {
        let [a, b] = pair else { continue };
        check_neighbours(ctx, entry, a, b)?;
    }
    Ok(out)
}

/// One phase on its own: known kind, parseable times, `start < end`, random close inside.
fn phase(ctx: &Ctx<'_>, entry: &str, p: &RawPhase) -> Result<SessionPhase, CalendarError> {
    let kind = PhaseKind::from_name(&p.kind)
        .ok_or_else(|| ctx.err(entry, Problem::UnknownPhaseKind(p.kind.clone())))?;
    let start = ctx.time(entry, "start", &p.start)?;
    let end = ctx.time(entry, "end", &p.end)?;
    if end <= start {
        return Err(ctx.err(entry, Problem::PhaseNotAfterStart { kind, start, end }));
    }
    let random_close_from = p
        .random_close_from
        .as_ref()
        .map(|v| ctx.time(entry, "random_close_from", v))
        .transpose()?;
    if let Some(rc) = random_close_from
        && (rc <= start || rc >= end)
    {
        return Err(ctx.err(
            entry,
            Problem::RandomCloseOutside {
                value: rc,
                start,
                end,
            },
        ));
    }
    if let Some(session) = &p.session {
        ctx.non_empty(entry, "session", session)?;
    }
    Ok(SessionPhase {
        kind,
        start,
        end,
        session: p.session.clone(),
        random_close_from,
        note: p.note.clone(),
    })
}

/// Two phases adjacent in start order: `b` must not overlap `a`, and when they touch `b` must not
/// go back to an earlier public phase.
fn check_neighbours(
    ctx: &Ctx<'_>,
    entry: &str,
    a: &SessionPhase,
    b: &SessionPhase,
) -> Result<(), CalendarError> {
    if b.start < a.end {
        return Err(ctx.err(
            entry,
            Problem::OverlappingPhases {
                first: describe(a),
                second: describe(b),
            },
        ));
    }
    let backwards = match (
        a.kind.public().session_rank(),
        b.kind.public().session_rank(),
    ) {
        (Some(ra), Some(rb)) => rb < ra,
        _ => false,
    };
    // A gap starts a new session (DR-switchover days have two), so order is only checked
    // between phases that touch.
    if b.start == a.end && backwards {
        return Err(ctx.err(
            entry,
            Problem::PhaseOrder {
                earlier: describe(a),
                later: describe(b),
            },
        ));
    }
    Ok(())
}

pub(crate) fn hm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn describe(p: &SessionPhase) -> String {
    format!("{} {}-{}", p.kind, hm(p.start), hm(p.end))
}

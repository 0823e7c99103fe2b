//! Public-phase timelines: which public phase holds at an instant, the span of the current phase,
//! and the next phase change across midnight, weekends and holidays.
//!
//! Adjacent detailed phases with the same public phase form one span (pre-open matching and
//! buffer are one `AUCTION_FREEZE`); gaps between phases are `CLOSED`. Everything is half-open:
//! a span's start belongs to it, its end to whatever follows.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};

use crate::calendar::{Calendar, SessionPhase};
use crate::day::{DayPlan, SEARCH_HORIZON_DAYS, plan};
use crate::ist::{IST, ist_instant};
use crate::phase::MarketPhase;
use crate::segment::Segment;

/// A maximal run of touching phases with the same public phase, on one IST day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span<'p> {
    pub phase: MarketPhase,
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// The detailed phases making up the span, in order.
    pub parts: &'p [SessionPhase],
}

/// Splits a day's phases into public spans.
pub(crate) fn spans(phases: &[SessionPhase]) -> Vec<Span<'_>> {
    let mut out: Vec<Span<'_>> = Vec::new();
    let mut first = 0;
    for i in 0..phases.len() {
        let (Some(cur), next) = (phases.get(i), phases.get(i + 1)) else {
            break;
        };
        let continues =
            next.is_some_and(|n| n.start == cur.end && n.kind.public() == cur.kind.public());
        if continues {
            continue;
        }
        if let (Some(head), Some(parts)) = (phases.get(first), phases.get(first..=i)) {
            out.push(Span {
                phase: head.kind.public(),
                start: head.start,
                end: cur.end,
                parts,
            });
        }
        first = i + 1;
    }
    out
}

/// The resolved day of `instant` and the IST time of day.
pub(crate) fn locate(
    cal: &Calendar,
    segment: Segment,
    instant: DateTime<Utc>,
) -> (DayPlan<'_>, NaiveTime) {
    let local = instant.with_timezone(&IST);
    (plan(cal, segment, local.date_naive()), local.time())
}

/// The public phase of `segment` at `instant`.
pub fn market_phase(cal: &Calendar, segment: Segment, instant: DateTime<Utc>) -> MarketPhase {
    let (day, time) = locate(cal, segment, instant);
    day.phase_at(time)
        .map_or(MarketPhase::Closed, |p| p.kind.public())
}

/// The next instant after `now` at which the public phase differs from the phase at `now`, and
/// that phase. Looks [`SEARCH_HORIZON_DAYS`] ahead; `None` if nothing changes within it.
pub(crate) fn next_change(
    cal: &Calendar,
    segment: Segment,
    now: DateTime<Utc>,
    current: MarketPhase,
) -> Option<(DateTime<Utc>, MarketPhase)> {
    let today = now.with_timezone(&IST).date_naive();
    for offset in 0..=SEARCH_HORIZON_DAYS {
        let Some(date) = today.checked_add_signed(TimeDelta::days(offset)) else {
            break;
        };
        let day = plan(cal, segment, date);
        let day_spans = spans(&day.phases);
        for (i, span) in day_spans.iter().enumerate() {
            let start = ist_instant(date, span.start);
            if start > now && span.phase != current {
                return Some((start, span.phase));
            }
            let touches_next = day_spans.get(i + 1).is_some_and(|n| n.start == span.end);
            let end = ist_instant(date, span.end);
            if !touches_next && end > now && current != MarketPhase::Closed {
                return Some((end, MarketPhase::Closed));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::PhaseKind;

    fn p(kind: PhaseKind, s: (u32, u32), e: (u32, u32)) -> SessionPhase {
        SessionPhase {
            kind,
            start: NaiveTime::from_hms_opt(s.0, s.1, 0).unwrap(),
            end: NaiveTime::from_hms_opt(e.0, e.1, 0).unwrap(),
            session: None,
            random_close_from: None,
            note: None,
        }
    }

    #[test]
    fn spans_merge_touching_phases_with_the_same_public_phase() {
        use PhaseKind as K;
        let phases = [
            p(K::PreOpenEntry, (9, 0), (9, 8)),
            p(K::PreOpenMatching, (9, 8), (9, 12)),
            p(K::PreOpenBuffer, (9, 12), (9, 15)),
            p(K::Continuous, (9, 15), (10, 0)),
            // gap: a second session (DR switchover)
            p(K::Continuous, (11, 30), (12, 30)),
            p(K::ClosingPriceCalculation, (12, 30), (12, 40)),
            p(K::PostClose, (12, 40), (13, 0)),
        ];
        let got: Vec<_> = spans(&phases)
            .iter()
            .map(|s| {
                (
                    s.phase,
                    s.start.to_string(),
                    s.end.to_string(),
                    s.parts.len(),
                )
            })
            .collect();
        let want = vec![
            (
                MarketPhase::PreOpen,
                "09:00:00".to_owned(),
                "09:08:00".to_owned(),
                1,
            ),
            (
                MarketPhase::AuctionFreeze,
                "09:08:00".into(),
                "09:15:00".into(),
                2,
            ),
            (MarketPhase::Live, "09:15:00".into(), "10:00:00".into(), 1),
            (MarketPhase::Live, "11:30:00".into(), "12:30:00".into(), 1),
            (
                MarketPhase::PostClose,
                "12:30:00".into(),
                "13:00:00".into(),
                2,
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn spans_of_nothing_is_nothing() {
        assert!(spans(&[]).is_empty());
    }
}

//! Property tests for `market_status`: countdown consistency and monotone phases.

use super::*;
use crate::timeline::market_phase;
use proptest::prelude::*;

/// 2024-01-01T00:00+05:30 and a span reaching past valid_through into 2027.
const START: i64 = 1_704_047_400;
const SPAN: i64 = 3 * 366 * 86_400;

fn instant(offset: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(START + offset, nanos).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// now + seconds_to_next_phase is in next_phase, and the phase is constant before that.
    #[test]
    fn countdown_is_consistent(
        offset in 0..SPAN,
        nanos in prop_oneof![Just(0u32), 0..1_000_000_000u32],
        seg_ix in 0..6usize,
    ) {
        let cal = Calendar::builtin();
        let seg = Segment::ALL[seg_ix];
        let now = instant(offset, nanos);
        let s = market_status(&cal, seg, now);
        prop_assert_eq!(s.phase, market_phase(&cal, seg, now));
        let (Some(secs), Some(next)) = (s.seconds_to_next_phase, s.next_phase) else {
            prop_assert!(s.warnings.iter().any(|w| w.kind == WarningKind::NoUpcomingSession));
            return Ok(());
        };
        prop_assert!(secs >= 1);
        prop_assert_ne!(next, s.phase);
        prop_assert_eq!(market_phase(&cal, seg, now + TimeDelta::seconds(secs)), next);
        // Rounding up puts the real change within the last second before now + secs, so the
        // phase holds on [now, now + secs - 1 s].
        let span = TimeDelta::seconds(secs - 1);
        for k in 0..8 {
            let t = now + span * k / 7;
            prop_assert_eq!(market_phase(&cal, seg, t), s.phase, "at {}", t);
        }
    }

    /// Within a session the public phase never goes backwards; a day has one session except
    /// DR-switchover days.
    #[test]
    fn phases_within_a_day_are_monotone(day in 0..(SPAN / 86_400), seg_ix in 0..6usize) {
        let cal = Calendar::builtin();
        let seg = Segment::ALL[seg_ix];
        let midnight = instant(day * 86_400, 0);
        let mut sessions = 0;
        let mut last_rank: Option<u8> = None;
        for minute in 0..1440 {
            let phase = market_phase(&cal, seg, midnight + TimeDelta::minutes(minute));
            match (phase.session_rank(), last_rank) {
                (Some(rank), Some(prev)) => prop_assert!(rank >= prev, "{} went back at minute {}", seg, minute),
                (Some(_), None) => sessions += 1,
                (None, _) => {}
            }
            last_rank = phase.session_rank();
        }
        let date = crate::ist::ist_date(midnight);
        let dr = cal.special_on(seg, date).is_some_and(|s| s.kind == SessionKind::DrSwitchover);
        prop_assert!(sessions <= if dr { 2 } else { 1 }, "{} sessions on {}", sessions, date);
    }
}

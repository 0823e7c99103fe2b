//! Market status tests: phase boundaries per segment on regular, holiday and special days.

use super::*;
use crate::timeline::market_phase;
use MarketPhase::{AuctionFreeze as AF, Closed, Live, PostClose as PC, PreOpen as PO};
use PhaseKind as K;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn status(seg: Segment, instant: &str) -> MarketStatus {
    market_status(&Calendar::builtin(), seg, at(instant))
}

/// Checks each `(time of day, phase, detailed phase)` on one IST date.
fn check_day(date: &str, seg: Segment, rows: &[(&str, MarketPhase, Option<PhaseKind>)]) {
    let cal = Calendar::builtin();
    for (time, phase, kind) in rows {
        let instant = format!("{date}T{time}+05:30");
        let s = market_status(&cal, seg, at(&instant));
        assert_eq!(
            (s.phase, s.exchange_phase),
            (*phase, *kind),
            "{seg} {instant}"
        );
        assert_eq!(
            market_phase(&cal, seg, at(&instant)),
            *phase,
            "{seg} {instant}"
        );
    }
}

#[test]
fn equity_cash_baseline_boundaries() {
    let rows = [
        ("00:00:00", Closed, None),
        ("08:59:59", Closed, None),
        ("09:00:00", PO, Some(K::PreOpenEntry)),
        ("09:07:59", PO, Some(K::PreOpenEntry)),
        ("09:08:00", AF, Some(K::PreOpenMatching)),
        ("09:11:59", AF, Some(K::PreOpenMatching)),
        ("09:12:00", AF, Some(K::PreOpenBuffer)),
        ("09:14:59", AF, Some(K::PreOpenBuffer)),
        ("09:15:00", Live, Some(K::Continuous)),
        ("15:29:59", Live, Some(K::Continuous)),
        ("15:30:00", PC, Some(K::ClosingPriceCalculation)),
        ("15:39:59", PC, Some(K::ClosingPriceCalculation)),
        ("15:40:00", PC, Some(K::PostClose)),
        ("15:59:59", PC, Some(K::PostClose)),
        ("16:00:00", Closed, None),
        ("23:59:59", Closed, None),
    ];
    check_day("2026-01-19", Segment::NseCm, &rows);
    check_day("2026-01-19", Segment::BseCm, &rows);
    // The Friday before the CAS go-live still uses the baseline.
    check_day("2026-07-31", Segment::NseCm, &rows);
}

#[test]
fn equity_cash_closing_auction_boundaries_from_2026_08_03() {
    let common = [
        ("08:59:59", Closed, None),
        ("09:00:00", PO, Some(K::PreOpenEntry)),
        ("09:15:00", Live, Some(K::Continuous)),
        ("15:14:59", Live, Some(K::Continuous)),
        ("15:15:00", Live, Some(K::ClosingAuctionTransition)),
        ("15:20:00", Live, Some(K::ClosingAuctionEntry)),
        ("15:25:00", Live, Some(K::ClosingAuctionEntryLimit)),
        ("15:29:59", Live, Some(K::ClosingAuctionEntryLimit)),
        ("15:30:00", PC, Some(K::ClosingAuctionMatching)),
        ("15:35:00", PC, Some(K::ClosingAuctionBuffer)),
        ("15:49:59", PC, Some(K::ClosingAuctionBuffer)),
        ("15:50:00", PC, Some(K::PostClose)),
        ("15:59:59", PC, Some(K::PostClose)),
        ("16:00:00", Closed, None),
    ];
    check_day("2026-08-03", Segment::NseCm, &common);
    check_day("2026-09-04", Segment::BseCm, &common);
    // Before the pre-open re-cut.
    check_day(
        "2026-09-04",
        Segment::NseCm,
        &[
            ("09:07:59", PO, Some(K::PreOpenEntry)),
            ("09:08:00", AF, Some(K::PreOpenMatching)),
        ],
    );
}

#[test]
fn pre_open_recut_boundaries_from_2026_09_07() {
    let rows = [
        ("08:59:59", Closed, None),
        ("09:00:00", PO, Some(K::PreOpenEntry)),
        ("09:04:59", PO, Some(K::PreOpenEntry)),
        ("09:05:00", PO, Some(K::PreOpenEntryLimit)),
        ("09:09:59", PO, Some(K::PreOpenEntryLimit)),
        ("09:10:00", AF, Some(K::PreOpenMatching)),
        ("09:12:00", AF, Some(K::PreOpenBuffer)),
        ("09:15:00", Live, Some(K::Continuous)),
    ];
    check_day("2026-09-07", Segment::NseCm, &rows);
    check_day("2026-09-07", Segment::NseFo, &rows);
    check_day("2026-09-07", Segment::BseFo, &rows);
    check_day(
        "2026-09-07",
        Segment::NseCm,
        &[("15:30:00", PC, Some(K::ClosingAuctionMatching))],
    );
    check_day(
        "2026-09-07",
        Segment::NseFo,
        &[
            ("15:39:59", Live, Some(K::Continuous)),
            ("15:40:00", Closed, None),
        ],
    );
}

#[test]
fn equity_derivatives_boundaries_per_template() {
    // Until 2025-12-07: no pre-open, no post-close.
    check_day(
        "2025-12-05",
        Segment::NseFo,
        &[
            ("09:00:00", Closed, None),
            ("09:14:59", Closed, None),
            ("09:15:00", Live, Some(K::Continuous)),
            ("15:29:59", Live, Some(K::Continuous)),
            ("15:30:00", Closed, None),
        ],
    );
    // From 2025-12-08: futures pre-open.
    let pre_open = [
        ("08:59:59", Closed, None),
        ("09:00:00", PO, Some(K::PreOpenEntry)),
        ("09:08:00", AF, Some(K::PreOpenMatching)),
        ("09:12:00", AF, Some(K::PreOpenBuffer)),
        ("09:15:00", Live, Some(K::Continuous)),
        ("15:29:59", Live, Some(K::Continuous)),
    ];
    check_day("2025-12-08", Segment::NseFo, &pre_open);
    check_day("2025-12-08", Segment::NseFo, &[("15:30:00", Closed, None)]);
    check_day("2026-07-31", Segment::BseFo, &[("15:30:00", Closed, None)]);
    // From 2026-08-03: close at 15:40.
    check_day("2026-08-03", Segment::NseFo, &pre_open);
    check_day(
        "2026-08-03",
        Segment::BseFo,
        &[
            ("15:30:00", Live, Some(K::Continuous)),
            ("15:39:59", Live, Some(K::Continuous)),
            ("15:40:00", Closed, None),
        ],
    );
}

#[test]
fn currency_and_commodity_boundaries() {
    check_day(
        "2026-01-19",
        Segment::NseCd,
        &[
            ("08:59:59", Closed, None),
            ("09:00:00", Live, Some(K::Continuous)),
            ("16:59:59", Live, Some(K::Continuous)),
            ("17:00:00", Closed, None),
        ],
    );
    // MCX winter close 23:55, summer close 23:30 (NSE/COM/72699 from 2026-03-09), winter again 2026-11-02.
    let mcx = |close_minus: &'static str, close: &'static str| {
        vec![
            ("08:44:59", Closed, None),
            ("08:45:00", PO, Some(K::PreOpenSession)),
            ("09:00:00", Live, Some(K::Continuous)),
            ("17:00:00", Live, Some(K::Continuous)),
            (close_minus, Live, Some(K::Continuous)),
            (close, Closed, None),
        ]
    };
    check_day("2026-01-19", Segment::McxCom, &mcx("23:54:59", "23:55:00"));
    check_day("2026-03-06", Segment::McxCom, &mcx("23:54:59", "23:55:00"));
    check_day("2026-03-09", Segment::McxCom, &mcx("23:29:59", "23:30:00"));
    check_day("2026-10-30", Segment::McxCom, &mcx("23:29:59", "23:30:00"));
    check_day("2026-11-02", Segment::McxCom, &mcx("23:54:59", "23:55:00"));
    // Holi: morning closed (with the holiday's name), evening open.
    let s = status(Segment::McxCom, "2026-03-03T10:00:00+05:30");
    assert_eq!((s.phase, s.holiday.as_deref()), (Closed, Some("Holi")));
    assert_eq!(
        s.description,
        "Morning session closed for Holi. Next: Market Live at 5:00 PM"
    );
    check_day(
        "2026-03-03",
        Segment::McxCom,
        &[
            ("16:59:59", Closed, None),
            ("17:00:00", Live, Some(K::Continuous)),
        ],
    );
    assert_eq!(
        status(Segment::McxCom, "2026-03-03T18:00:00+05:30").holiday,
        None
    );
}

#[test]
fn weekends_are_closed() {
    for (instant, seg) in [
        ("2026-01-24T10:00:00+05:30", Segment::NseCm),
        ("2026-01-25T10:00:00+05:30", Segment::NseFo),
        ("2026-01-24T18:00:00+05:30", Segment::McxCom),
        ("2026-01-25T09:00:00+05:30", Segment::NseCd),
    ] {
        let s = status(seg, instant);
        assert_eq!(
            (s.phase, s.holiday.as_deref(), s.session_kind),
            (Closed, None, None),
            "{instant}"
        );
        assert!(
            s.description.starts_with("Weekend. Next: "),
            "{}",
            s.description
        );
    }
    // A holiday on a weekend still carries its name.
    let s = status(Segment::NseCm, "2026-08-15T10:00:00+05:30");
    assert_eq!(
        (s.phase, s.holiday.as_deref()),
        (Closed, Some("Independence Day"))
    );
    assert!(
        s.description.starts_with("Weekend (Independence Day)"),
        "{}",
        s.description
    );
}

/// Every listed holiday of every segment is CLOSED with its name during the sessions it closes.
#[test]
fn every_listed_holiday_is_closed_with_its_name() {
    let cal = Calendar::builtin();
    let mut checked = 0;
    for seg in Segment::ALL {
        let def = cal.segment(seg).unwrap();
        for h in cal.holidays(seg) {
            if cal.special_on(seg, h.date).is_some() {
                continue; // Muhurat days: see special_sessions_table.
            }
            let template = cal.template_on(seg, h.date).unwrap();
            for p in &template.phases {
                let instant = crate::ist::ist_instant(h.date, p.start);
                let s = market_status(&cal, seg, instant);
                let closed =
                    h.closes(p.session.as_deref()) || !def.weekmask.contains(h.date.weekday());
                if closed {
                    assert_eq!(
                        (s.phase, s.holiday.as_deref()),
                        (Closed, Some(h.name.as_str())),
                        "{seg} {}",
                        h.date
                    );
                    assert_eq!(s.title, "Market Holiday");
                    checked += 1;
                } else {
                    assert_ne!(s.phase, Closed, "{seg} {} {:?}", h.date, p.session);
                }
            }
        }
    }
    assert!(checked > 100, "checked {checked}");
}

use chrono::Datelike;

#[test]
fn must_pass_examples() {
    let s = status(Segment::NseCm, "2026-01-26T10:00:00+05:30");
    assert_eq!(s.phase, Closed);
    assert_eq!(s.holiday.as_deref(), Some("Republic Day"));
    assert_eq!(
        s.description,
        "Trading holiday: Republic Day. Next: Pre-Open Session at Tue 27 Jan 2026, 9:00 AM"
    );

    let s = status(Segment::NseCm, "2026-02-01T10:00:00+05:30");
    assert_eq!(s.phase, Live);
    assert!(s.is_trading_hours);
    assert_eq!(s.session_kind, Some(SessionKind::UnionBudget));
    assert_eq!(
        s.description,
        "Union Budget session: Active trading (9:15 AM - 3:30 PM)"
    );
}

#[test]
fn special_sessions_table() {
    type Row = (
        &'static str,
        Segment,
        MarketPhase,
        Option<&'static str>,
        Option<SessionKind>,
    );
    let rows: [Row; 18] = [
        // Budget Sunday 2026 and Saturday 2025.
        (
            "2026-02-01T08:59:59+05:30",
            Segment::NseCm,
            Closed,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T09:00:00+05:30",
            Segment::NseCm,
            PO,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T09:00:00+05:30",
            Segment::NseFo,
            PO,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T15:45:00+05:30",
            Segment::BseCm,
            PC,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T16:00:00+05:30",
            Segment::NseCm,
            Closed,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T10:00:00+05:30",
            Segment::NseCd,
            Closed,
            None,
            None,
        ),
        (
            "2026-02-01T16:59:59+05:30",
            Segment::McxCom,
            Live,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2026-02-01T17:00:00+05:30",
            Segment::McxCom,
            Closed,
            None,
            Some(SessionKind::UnionBudget),
        ),
        (
            "2025-02-01T10:00:00+05:30",
            Segment::NseCm,
            Live,
            None,
            Some(SessionKind::UnionBudget),
        ),
        // Muhurat 2025 on a holiday.
        (
            "2025-10-21T10:00:00+05:30",
            Segment::NseCm,
            Closed,
            Some("Diwali Laxmi Pujan"),
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T13:30:00+05:30",
            Segment::NseCm,
            PO,
            None,
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T13:45:00+05:30",
            Segment::NseCm,
            Live,
            None,
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T14:45:00+05:30",
            Segment::NseCm,
            PC,
            None,
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T15:05:00+05:30",
            Segment::NseCm,
            Closed,
            Some("Diwali Laxmi Pujan"),
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T13:30:00+05:30",
            Segment::NseFo,
            Closed,
            Some("Diwali Laxmi Pujan"),
            Some(SessionKind::Muhurat),
        ),
        (
            "2025-10-21T14:44:59+05:30",
            Segment::NseCd,
            Live,
            None,
            Some(SessionKind::Muhurat),
        ),
        // DR switchover Saturday: two sessions with a closed gap.
        (
            "2024-03-02T10:00:00+05:30",
            Segment::NseCm,
            Closed,
            None,
            Some(SessionKind::DrSwitchover),
        ),
        (
            "2024-03-02T11:23:00+05:30",
            Segment::NseCm,
            AF,
            None,
            Some(SessionKind::DrSwitchover),
        ),
    ];
    for (instant, seg, phase, holiday, kind) in rows {
        let s = status(seg, instant);
        assert_eq!(
            (s.phase, s.holiday.as_deref(), s.session_kind),
            (phase, holiday, kind),
            "{seg} {instant}"
        );
    }
}

#[test]
fn timings_tba_is_reported_closed_with_a_warning_never_guessed() {
    for seg in Segment::ALL {
        for time in ["09:30:00", "14:00:00", "18:30:00"] {
            let s = status(seg, &format!("2026-11-08T{time}+05:30"));
            assert_eq!(s.phase, Closed, "{seg} {time}");
            assert_eq!(s.session_kind, Some(SessionKind::Muhurat));
            assert!(
                s.warnings.iter().any(|w| w.kind == WarningKind::TimingsTba),
                "{seg} {:?}",
                s.warnings
            );
        }
    }
    let s = status(Segment::NseCm, "2026-11-08T14:00:00+05:30");
    assert_eq!(s.holiday.as_deref(), Some("Diwali Laxmi Pujan"));
    assert!(
        s.description.starts_with(
            "Muhurat trading (Samvat 2083) announced for today; timings not yet published"
        ),
        "{}",
        s.description
    );
    // The warning shows up ahead of time, so the operator can add timings.
    let s = status(Segment::NseCm, "2026-11-02T10:00:00+05:30");
    assert_eq!(s.phase, Live);
    assert!(s.warnings.iter().any(|w| w.kind == WarningKind::TimingsTba));
}

#[test]
fn year_boundary() {
    let rows: [(&str, Segment, MarketPhase); 6] = [
        ("2025-12-31T15:30:00+05:30", Segment::NseCm, PC),
        ("2025-12-31T23:59:59+05:30", Segment::NseCm, Closed),
        ("2026-01-01T00:00:00+05:30", Segment::NseCm, Closed),
        ("2026-01-01T09:15:00+05:30", Segment::NseCm, Live),
        // MCX on New Year's Day: morning open, evening closed.
        ("2026-01-01T16:59:59+05:30", Segment::McxCom, Live),
        ("2026-01-01T17:00:00+05:30", Segment::McxCom, Closed),
    ];
    for (instant, seg, phase) in rows {
        assert_eq!(status(seg, instant).phase, phase, "{seg} {instant}");
    }
    // Past valid_through: weekday rules still work, with a warning.
    let s = status(Segment::NseCm, "2027-01-04T10:00:00+05:30");
    assert_eq!(s.phase, Live);
    assert_eq!(
        s.warnings.iter().map(|w| w.kind).collect::<Vec<_>>(),
        [WarningKind::CalendarExpired]
    );
}

/// (instant, segment, seconds_to_next_phase, next_phase)
#[test]
fn countdown_crosses_midnight_weekends_and_holidays() {
    let rows: [(&str, Segment, i64, MarketPhase); 14] = [
        // DESIGN.md §5 example (after the CAS go-live, the CM LIVE→POST_CLOSE edge stays 15:30).
        ("2026-11-23T10:15:00+05:30", Segment::NseCm, 18_900, PC),
        ("2026-01-19T20:00:00+05:30", Segment::NseCm, 13 * 3600, PO),
        ("2026-01-20T02:00:00+05:30", Segment::NseCm, 7 * 3600, PO),
        // Friday close → Monday pre-open.
        ("2026-01-09T16:00:00+05:30", Segment::NseCm, 65 * 3600, PO),
        // Friday → Monday holiday (Republic Day) → Tuesday.
        ("2026-01-23T16:00:00+05:30", Segment::NseCm, 89 * 3600, PO),
        // Friday → Budget Sunday.
        ("2026-01-30T16:00:00+05:30", Segment::NseCm, 41 * 3600, PO),
        // Saturday before the TBA Muhurat Sunday → Monday.
        ("2026-11-07T12:00:00+05:30", Segment::NseCm, 45 * 3600, PO),
        // Year boundaries.
        ("2025-12-31T16:00:00+05:30", Segment::NseCm, 17 * 3600, PO),
        ("2026-12-31T16:00:00+05:30", Segment::NseCm, 17 * 3600, PO),
        // Holiday morning → Muhurat pre-open.
        ("2025-10-21T10:00:00+05:30", Segment::NseCm, 12_600, PO),
        // F&O before its pre-open existed opens straight into LIVE.
        ("2025-12-05T08:00:00+05:30", Segment::NseFo, 4_500, Live),
        ("2026-03-03T10:00:00+05:30", Segment::McxCom, 7 * 3600, Live),
        // In session: LIVE → CLOSED for F&O (no post-close), 15:40 after CAS.
        ("2026-08-03T15:00:00+05:30", Segment::NseFo, 2_400, Closed),
        ("2026-08-03T15:00:00+05:30", Segment::NseCm, 1_800, PC),
    ];
    for (instant, seg, secs, next) in rows {
        let s = status(seg, instant);
        assert_eq!(
            (s.seconds_to_next_phase, s.next_phase),
            (Some(secs), Some(next)),
            "{seg} {instant}"
        );
    }
}

#[test]
fn countdown_rounds_up_partial_seconds() {
    let s = status(Segment::NseCm, "2026-01-19T09:14:59.250+05:30");
    assert_eq!(
        (s.phase, s.seconds_to_next_phase, s.next_phase),
        (AF, Some(1), Some(Live))
    );
    assert_eq!(s.now, "2026-01-19T09:14:59+05:30");
    assert_eq!(
        s.next_phase_at.as_deref(),
        Some("2026-01-19T09:15:00+05:30")
    );
}

#[test]
fn descriptions_follow_the_days_template() {
    let rows = [
        (
            "2026-01-19T10:00:00+05:30",
            Segment::NseCm,
            "Active trading (9:15 AM - 3:30 PM)",
        ),
        (
            "2026-08-03T10:00:00+05:30",
            Segment::NseFo,
            "Active trading (9:15 AM - 3:40 PM)",
        ),
        (
            "2026-08-03T10:00:00+05:30",
            Segment::NseCm,
            "Active trading (9:15 AM - 3:30 PM; closing auction for F&O stocks from 3:15 PM)",
        ),
        (
            "2026-08-03T15:21:00+05:30",
            Segment::NseCm,
            "Active trading (9:15 AM - 3:30 PM; closing auction for F&O stocks from 3:15 PM). \
             CAS order entry, limit and market orders; other stocks still trade continuously until 15:30",
        ),
        (
            "2026-08-03T15:26:00+05:30",
            Segment::NseCm,
            "Active trading (9:15 AM - 3:30 PM; closing auction for F&O stocks from 3:15 PM; random close from 3:28 PM). \
             CAS order entry, limit orders only; other stocks still trade continuously until 15:30",
        ),
        (
            "2026-01-19T09:01:00+05:30",
            Segment::NseCm,
            "Pre-open order entry (9:00 AM - 9:08 AM; random close from 9:07 AM)",
        ),
        (
            "2026-09-07T09:01:00+05:30",
            Segment::NseCm,
            "Pre-open order entry (9:00 AM - 9:10 AM; limit orders only from 9:05 AM; random close from 9:08 AM)",
        ),
        (
            "2026-01-19T09:10:00+05:30",
            Segment::NseCm,
            "Opening auction matching, no order entry (9:08 AM - 9:15 AM; buffer from 9:12 AM)",
        ),
        (
            "2026-01-19T15:35:00+05:30",
            Segment::NseCm,
            "Closing session (3:30 PM - 4:00 PM; post-close trading from 3:40 PM)",
        ),
        (
            "2026-08-03T15:35:00+05:30",
            Segment::NseCm,
            "Closing session (3:30 PM - 4:00 PM; closing auction buffer from 3:35 PM; post-close trading from 3:50 PM)",
        ),
        (
            "2026-01-19T08:00:00+05:30",
            Segment::NseCm,
            "Before market hours. Next: Pre-Open Session at 9:00 AM",
        ),
        (
            "2026-01-23T17:00:00+05:30",
            Segment::NseCm,
            "After market hours. Next: Pre-Open Session at Tue 27 Jan 2026, 9:00 AM",
        ),
        (
            "2024-03-02T10:30:00+05:30",
            Segment::NseCm,
            "DR switchover session: Between sessions. Next: Pre-Open Session at 11:15 AM",
        ),
        (
            "2025-10-21T14:00:00+05:30",
            Segment::NseCm,
            "Muhurat trading: Active trading (1:45 PM - 2:45 PM)",
        ),
        (
            "2025-10-21T10:00:00+05:30",
            Segment::NseCm,
            "Trading holiday: Diwali Laxmi Pujan (Muhurat trading (Samvat 2082) today). Next: Pre-Open Session at 1:30 PM",
        ),
    ];
    for (instant, seg, want) in rows {
        assert_eq!(status(seg, instant).description, want, "{seg} {instant}");
    }
}

#[test]
fn json_has_the_contract_shape() {
    let s = status(Segment::NseCm, "2026-11-23T10:15:00+05:30");
    // Field order as printed by `feedgate session` (serde_json::Value would sort the keys).
    let text = serde_json::to_string_pretty(&s).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  \"")?.split('"').next())
        .collect();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        keys,
        [
            "phase",
            "title",
            "description",
            "icon",
            "is_trading_hours",
            "seconds_to_next_phase",
            "next_phase",
            "now",
            "holiday",
            "exchange",
            "segment",
            "session_kind",
            "exchange_phase",
            "next_phase_at",
            "warnings"
        ]
    );
    assert_eq!(
        json,
        serde_json::json!({
            "phase": "LIVE",
            "title": "Market Live",
            "description": "Active trading (9:15 AM - 3:30 PM; closing auction for F&O stocks from 3:15 PM)",
            "icon": "🟢",
            "is_trading_hours": true,
            "seconds_to_next_phase": 18900,
            "next_phase": "POST_CLOSE",
            "now": "2026-11-23T10:15:00+05:30",
            "holiday": null,
            "exchange": "NSE",
            "segment": "NSE_CM",
            "session_kind": "regular",
            "exchange_phase": "continuous",
            "next_phase_at": "2026-11-23T15:30:00+05:30",
            "warnings": []
        })
    );
    let back: MarketStatus = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn extreme_instants_do_not_panic() {
    let cal = Calendar::builtin();
    for instant in [
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
    ] {
        for seg in Segment::ALL {
            let s = market_status(&cal, seg, at(instant));
            assert_eq!(s.phase, Closed, "{instant}");
            assert!(!s.warnings.is_empty(), "{instant} {seg}");
            let d = crate::scheduler::decide(
                at(instant),
                &cal,
                &crate::scheduler::SchedulerConfig::default(),
            );
            assert!(d.next_action_at > at(instant));
        }
    }
}

/// A cached status read 50 s later tells the reader's instant and the countdown from it, and
/// agrees with a status computed afresh at that instant (issue 18: health lagged by up to 60 s).
#[test]
fn as_of_moves_now_and_the_countdown_on() {
    let cached = status(Segment::NseCm, "2026-11-23T10:15:00+05:30");
    let later = at("2026-11-23T10:15:50+05:30");
    let seen = cached.clone().as_of(later);
    let fresh = market_status(&Calendar::builtin(), Segment::NseCm, later);
    assert_eq!(seen.now, "2026-11-23T10:15:50+05:30");
    assert_eq!(
        seen.seconds_to_next_phase,
        cached.seconds_to_next_phase.map(|s| s - 50)
    );
    assert_eq!(seen, fresh);
}

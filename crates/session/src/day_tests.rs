//! Trading-day tests: which dates trade, with which phases, at which IST instants.

use super::*;
use crate::ist::rfc3339_ist;
use crate::phase::PhaseKind;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn hm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// (date, segment) → (kind, first start, last end, holiday) or None when nothing trades.
#[test]
fn trading_day_table() {
    let cal = Calendar::builtin();
    type Row = (
        &'static str,
        Segment,
        Option<(
            SessionKind,
            &'static str,
            &'static str,
            Option<&'static str>,
        )>,
    );
    let table: [Row; 16] = [
        (
            "2026-01-19",
            Segment::NseCm,
            Some((SessionKind::Regular, "09:00", "16:00", None)),
        ),
        (
            "2026-01-19",
            Segment::NseFo,
            Some((SessionKind::Regular, "09:00", "15:30", None)),
        ),
        (
            "2025-12-05",
            Segment::NseFo,
            Some((SessionKind::Regular, "09:15", "15:30", None)),
        ),
        (
            "2026-08-03",
            Segment::NseFo,
            Some((SessionKind::Regular, "09:00", "15:40", None)),
        ),
        (
            "2026-01-19",
            Segment::NseCd,
            Some((SessionKind::Regular, "09:00", "17:00", None)),
        ),
        (
            "2026-01-19",
            Segment::McxCom,
            Some((SessionKind::Regular, "08:45", "23:55", None)),
        ),
        (
            "2026-03-09",
            Segment::McxCom,
            Some((SessionKind::Regular, "08:45", "23:30", None)),
        ),
        // Holi: MCX morning closed, evening open (17:00-23:55, before the 2026-03-09 DST close).
        (
            "2026-03-03",
            Segment::McxCom,
            Some((SessionKind::Regular, "17:00", "23:55", Some("Holi"))),
        ),
        // New Year: MCX morning open, evening closed.
        (
            "2026-01-01",
            Segment::McxCom,
            Some((SessionKind::Regular, "08:45", "17:00", Some("New Year Day"))),
        ),
        ("2026-01-26", Segment::NseCm, None),
        ("2026-01-24", Segment::NseCm, None),
        (
            "2026-02-01",
            Segment::NseCm,
            Some((SessionKind::UnionBudget, "09:00", "16:00", None)),
        ),
        (
            "2026-02-01",
            Segment::McxCom,
            Some((SessionKind::UnionBudget, "08:45", "17:00", None)),
        ),
        ("2026-02-01", Segment::NseCd, None),
        (
            "2025-10-21",
            Segment::NseCm,
            Some((
                SessionKind::Muhurat,
                "13:30",
                "15:05",
                Some("Diwali Laxmi Pujan"),
            )),
        ),
        // Muhurat announced, timings not published: nothing is invented.
        ("2026-11-08", Segment::NseCm, None),
    ];
    for (date, seg, want) in table {
        let got = cal.trading_day(d(date), seg).map(|s| {
            (
                s.session_kind,
                hm(s.phases[0].start),
                hm(s.phases.last().unwrap().end),
                s.holiday,
            )
        });
        let want = want.map(|(k, a, b, h)| (k, a.to_owned(), b.to_owned(), h.map(str::to_owned)));
        assert_eq!(got, want, "{date} {seg}");
    }
}

#[test]
fn trading_day_instants_are_ist() {
    let day = Calendar::builtin()
        .trading_day(d("2026-02-01"), Segment::NseCm)
        .unwrap();
    assert_eq!(rfc3339_ist(day.opens_at), "2026-02-01T09:00:00+05:30");
    assert_eq!(rfc3339_ist(day.closes_at), "2026-02-01T16:00:00+05:30");
    assert_eq!(day.opens_at.to_rfc3339(), "2026-02-01T03:30:00+00:00");
    assert_eq!(
        day.special_session.as_deref(),
        Some("Union Budget 2026 live session")
    );
}

#[test]
fn dated_templates_switch_on_their_effective_date() {
    let cal = Calendar::builtin();
    let kinds = |date: &str, seg| -> Vec<PhaseKind> {
        cal.trading_day(d(date), seg)
            .unwrap()
            .phases
            .iter()
            .map(|p| p.kind)
            .collect()
    };
    // CM: CAS appears on 2026-08-03, not on the Friday before.
    assert!(!kinds("2026-07-31", Segment::NseCm).contains(&PhaseKind::ClosingAuctionEntry));
    assert!(kinds("2026-08-03", Segment::NseCm).contains(&PhaseKind::ClosingAuctionEntry));
    // Pre-open re-cut adds the limit-only window on 2026-09-07.
    assert!(!kinds("2026-09-04", Segment::BseCm).contains(&PhaseKind::PreOpenEntryLimit));
    assert!(kinds("2026-09-07", Segment::BseCm).contains(&PhaseKind::PreOpenEntryLimit));
    // F&O pre-open from 2025-12-08.
    assert!(!kinds("2025-12-05", Segment::BseFo).contains(&PhaseKind::PreOpenEntry));
    assert!(kinds("2025-12-08", Segment::BseFo).contains(&PhaseKind::PreOpenEntry));
}

#[test]
fn next_session_start_table() {
    let cal = Calendar::builtin();
    let table = [
        // Friday after the close, Monday is Republic Day.
        (
            "2026-01-23T16:00:00+05:30",
            Segment::NseCm,
            "2026-01-27T09:00:00+05:30",
        ),
        // Strictly after: a session starting exactly now is not "next".
        (
            "2026-01-23T09:00:00+05:30",
            Segment::NseCm,
            "2026-01-27T09:00:00+05:30",
        ),
        (
            "2026-01-23T08:59:59+05:30",
            Segment::NseCm,
            "2026-01-23T09:00:00+05:30",
        ),
        // Saturday before the Budget Sunday.
        (
            "2026-01-31T12:00:00+05:30",
            Segment::NseFo,
            "2026-02-01T09:00:00+05:30",
        ),
        // DR switchover day: the second session counts.
        (
            "2024-03-02T10:30:00+05:30",
            Segment::NseCm,
            "2024-03-02T11:15:00+05:30",
        ),
        // MCX on Holi reopens for the evening.
        (
            "2026-03-03T08:00:00+05:30",
            Segment::McxCom,
            "2026-03-03T17:00:00+05:30",
        ),
        // F&O before 2025-12-08 opens at 09:15 (no pre-open).
        (
            "2025-12-05T08:00:00+05:30",
            Segment::NseFo,
            "2025-12-05T09:15:00+05:30",
        ),
        // Across the year boundary.
        (
            "2025-12-31T16:00:00+05:30",
            Segment::NseCm,
            "2026-01-01T09:00:00+05:30",
        ),
    ];
    for (after, seg, want) in table {
        let got = cal.next_session_start(at(after), seg).map(rfc3339_ist);
        assert_eq!(got.as_deref(), Some(want), "{after} {seg}");
    }
}

#[test]
fn undefined_segment_is_closed_not_a_panic() {
    let partial = Calendar::from_toml_str(
        "schema_version = 1\nvalid_through = \"2026-12-31\"\ndata_as_of = \"2026-08-22\"\n",
    )
    .unwrap();
    assert_eq!(partial.trading_day(d("2026-01-19"), Segment::NseCm), None);
    assert_eq!(
        partial.next_session_start(at("2026-01-19T08:00:00+05:30"), Segment::NseCm),
        None
    );
    assert_eq!(
        plan(&partial, Segment::NseCm, d("2026-01-19")).closure,
        Closure::UndefinedSegment
    );
}

//! Calendar tests: the built-in data, overrides and lookups.

use super::*;
use crate::phase::MarketPhase;
use crate::status::market_status;
use crate::warning::WarningKind;
use chrono::{DateTime, Utc};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const HEADER: &str = r#"
schema_version = 1
valid_through = "2026-12-31"
data_as_of = "2026-08-22"
"#;

fn over(body: &str) -> Calendar {
    Calendar::parse(&format!("{HEADER}{body}"), "override.toml").unwrap()
}

#[test]
fn builtin_calendar_is_valid() {
    let cal = Calendar::parse_complete(BUILTIN_TOML, BUILTIN_NAME).unwrap();
    assert_eq!(cal, Calendar::builtin());
    assert_eq!(cal.valid_through(), d("2026-12-31"));
    assert_eq!(cal.data_as_of(), d("2026-08-22"));
    assert_eq!(cal.origins(), [BUILTIN_NAME]);
    for seg in Segment::ALL {
        assert!(cal.segment(seg).is_some(), "{seg} defined");
        // Every covered day has a template in force.
        assert!(
            cal.template_on(seg, d("2025-01-01")).is_some(),
            "{seg} template"
        );
    }
    let count = |seg| cal.holidays(seg).count();
    // 14 in 2025, 16 weekday + 4 weekend in 2026.
    assert_eq!(count(Segment::NseCm), 34);
    assert_eq!(count(Segment::BseFo), 34);
    // 19 in 2026 plus the moved 2025 Id-e-Milad (the cancelled original is not active).
    assert_eq!(count(Segment::NseCd), 20);
    assert_eq!(count(Segment::McxCom), 32);
}

#[test]
fn every_record_carries_a_source() {
    let cal = Calendar::builtin();
    for seg in Segment::ALL {
        for h in cal.holidays(seg) {
            assert!(
                !h.name.trim().is_empty() && !h.source.trim().is_empty(),
                "{h:?}"
            );
        }
        for s in cal.special_sessions(seg) {
            assert!(!s.source.trim().is_empty(), "{s:?}");
        }
    }
    for templates in cal.schedules.values() {
        for t in templates.values() {
            assert!(!t.source.trim().is_empty(), "{t:?}");
        }
    }
}

/// The 2026 NSE CM/F&O weekday holidays exactly as in CALENDAR.md §2.1 (15 + 1 added later).
#[test]
fn nse_2026_weekday_holidays_match_the_circulars() {
    let want = [
        (
            "2026-01-15",
            "Municipal Corporation Election in Maharashtra",
        ),
        ("2026-01-26", "Republic Day"),
        ("2026-03-03", "Holi"),
        ("2026-03-26", "Shri Ram Navami"),
        ("2026-03-31", "Shri Mahavir Jayanti"),
        ("2026-04-03", "Good Friday"),
        ("2026-04-14", "Dr. Baba Saheb Ambedkar Jayanti"),
        ("2026-05-01", "Maharashtra Day"),
        ("2026-05-28", "Bakri Id"),
        ("2026-06-26", "Muharram"),
        ("2026-09-14", "Ganesh Chaturthi"),
        ("2026-10-02", "Mahatma Gandhi Jayanti"),
        ("2026-10-20", "Dussehra"),
        ("2026-11-10", "Diwali-Balipratipada"),
        ("2026-11-24", "Prakash Gurpurb Sri Guru Nanak Dev"),
        ("2026-12-25", "Christmas"),
    ];
    let cal = Calendar::builtin();
    let got: Vec<(String, String)> = cal
        .holidays(Segment::NseCm)
        .filter(|h| h.date.format("%Y").to_string() == "2026")
        .filter(|h| {
            cal.segment(Segment::NseCm)
                .unwrap()
                .weekmask
                .contains(h.date.weekday())
        })
        .map(|h| (h.date.to_string(), h.name.clone()))
        .collect();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).into(), (*b).into()))
        .collect();
    assert_eq!(got, want);
}

use chrono::Datelike;

#[test]
fn override_adds_next_years_holidays_and_moves_valid_through() {
    let cal = Calendar::builtin()
        .with_override(over(
            r#"
[holiday_lists.NSE_EQ]
valid_through = "2027-12-31"

[[holidays.NSE_EQ]]
date = 2027-01-26
name = "Republic Day"
source = "test circular"
"#,
        ))
        .unwrap();
    let status = market_status(&cal, Segment::NseCm, at("2027-01-26T10:00:00+05:30"));
    assert_eq!(status.phase, MarketPhase::Closed);
    assert_eq!(status.holiday.as_deref(), Some("Republic Day"));
    assert!(status.warnings.is_empty(), "{:?}", status.warnings);
    assert_eq!(
        cal.coverage(Segment::NseCm),
        Some((Some(d("2025-01-01")), d("2027-12-31")))
    );
    // NSE_CD was not extended: the override's top-level valid_through is still 2026-12-31.
    assert_eq!(
        cal.coverage(Segment::NseCd),
        Some((Some(d("2026-01-01")), d("2026-12-31")))
    );
    assert_eq!(cal.origins(), [BUILTIN_NAME, "override.toml"]);
}

#[test]
fn override_fills_in_muhurat_timings() {
    let before = market_status(
        &Calendar::builtin(),
        Segment::NseCm,
        at("2026-11-08T14:00:00+05:30"),
    );
    assert_eq!(before.phase, MarketPhase::Closed);
    assert!(
        before
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::TimingsTba)
    );

    let cal = Calendar::builtin()
        .with_override(over(
            r#"
[[special_sessions]]
date = "2026-11-08"
kind = "muhurat"
name = "Muhurat trading (Samvat 2083)"
segments = ["NSE_CM"]
status = "confirmed"
source = "test circular"
phases = [
  { kind = "pre_open_session", start = "13:30", end = "13:45" },
  { kind = "continuous", start = "13:45", end = "14:45" },
]
"#,
        ))
        .unwrap();
    let after = market_status(&cal, Segment::NseCm, at("2026-11-08T14:00:00+05:30"));
    assert_eq!(after.phase, MarketPhase::Live);
    assert!(
        after
            .warnings
            .iter()
            .all(|w| w.kind != WarningKind::TimingsTba)
    );
    // Other segments keep the TBA entry.
    let fo = market_status(&cal, Segment::NseFo, at("2026-11-08T14:00:00+05:30"));
    assert_eq!(fo.phase, MarketPhase::Closed);
    assert!(
        fo.warnings
            .iter()
            .any(|w| w.kind == WarningKind::TimingsTba)
    );
}

#[test]
fn override_cancels_a_holiday_and_a_special_session() {
    let cal = Calendar::builtin()
        .with_override(over(
            r#"
[[holidays.NSE_EQ]]
date = "2026-03-03"
name = "Holi"
cancelled = true
source = "test: holiday withdrawn"

[[special_sessions]]
date = "2026-02-01"
kind = "union_budget"
name = "Union Budget 2026 live session"
segments = ["NSE_CM"]
status = "cancelled"
source = "test: session withdrawn"
"#,
        ))
        .unwrap();
    let holi = market_status(&cal, Segment::NseCm, at("2026-03-03T10:00:00+05:30"));
    assert_eq!((holi.phase, holi.holiday), (MarketPhase::Live, None));
    let budget = market_status(&cal, Segment::NseCm, at("2026-02-01T10:00:00+05:30"));
    assert_eq!(budget.phase, MarketPhase::Closed);
    let budget_fo = market_status(&cal, Segment::NseFo, at("2026-02-01T10:00:00+05:30"));
    assert_eq!(budget_fo.phase, MarketPhase::Live);
}

#[test]
fn an_older_override_does_not_shorten_validity() {
    let old = Calendar::parse(
        "schema_version = 1\nvalid_through = \"2025-12-31\"\ndata_as_of = \"2025-01-01\"\n",
        "old.toml",
    )
    .unwrap();
    let cal = Calendar::builtin().with_override(old).unwrap();
    assert_eq!(cal.valid_through(), d("2026-12-31"));
    assert_eq!(cal.data_as_of(), d("2026-08-22"));
}

#[test]
fn override_with_dangling_references_is_rejected_naming_the_entry() {
    let table = [
        (
            "[[holidays.NSE_EQX]]\ndate = \"2027-01-26\"\nname = \"Republic Day\"\nsource = \"x\"\n",
            "holidays.NSE_EQX",
            Problem::UndefinedHolidayList("NSE_EQX".into()),
        ),
        (
            "[segments.NSE_CM]\nweekmask = [\"Mon\"]\nholiday_list = \"NSE_EQ\"\nschedule = \"NOPE\"\n",
            "segments.NSE_CM",
            Problem::UndefinedSchedule("NOPE".into()),
        ),
        (
            "[[holidays.MCX]]\ndate = \"2027-01-01\"\nname = \"New Year\"\nsource = \"x\"\nclosed_sessions = [\"night\"]\n",
            "holidays.MCX (2027-01-01",
            Problem::UnknownSession {
                session: "night".into(),
            },
        ),
    ];
    for (body, entry, problem) in table {
        let err = Calendar::builtin().with_override(over(body)).unwrap_err();
        let CalendarError::Invalid {
            file,
            entry: got_entry,
            problem: got,
        } = &err
        else {
            panic!("unexpected {err}");
        };
        assert!(
            file.contains("override.toml") && file.contains("built-in"),
            "{file}"
        );
        assert!(got_entry.starts_with(entry), "{got_entry}");
        assert_eq!(got, &problem);
    }
}

#[test]
fn load_with_override_reads_the_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("feedgate-session-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        format!("{HEADER}[[holidays.NSE_EQ]]\ndate = \"2026-12-28\"\nname = \"Test Day\"\nsource = \"x\"\n"),
    )
    .unwrap();
    let cal = Calendar::load_with_override(&good).unwrap();
    assert_eq!(
        cal.origins().last().map(String::as_str),
        Some(good.display().to_string().as_str())
    );
    let s = market_status(&cal, Segment::NseCm, at("2026-12-28T10:00:00+05:30"));
    assert_eq!(s.holiday.as_deref(), Some("Test Day"));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "{HEADER}[[holidays.NSE_EQ]]\ndate = \"2026-02-30\"\nname = \"X\"\nsource = \"x\"\n"
        ),
    )
    .unwrap();
    let msg = Calendar::load_with_override(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("bad.toml")
            && msg.contains("2026-02-30")
            && msg.contains("holidays.NSE_EQ[0]"),
        "{msg}"
    );

    let missing = dir.join("missing.toml");
    let err = Calendar::load_with_override(&missing).unwrap_err();
    assert!(matches!(err, CalendarError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The TOML examples in CALENDAR-UPDATE.md must work as written.
#[test]
fn update_guide_examples_are_valid() {
    let guide = include_str!("../../CALENDAR-UPDATE.md");
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "expected the 2027 override and the Muhurat example"
    );

    let next_year = Calendar::builtin()
        .with_override(Calendar::parse(blocks[0], "guide-1").unwrap())
        .unwrap();
    let s = market_status(&next_year, Segment::NseCm, at("2027-01-26T10:00:00+05:30"));
    assert_eq!(
        (s.phase, s.holiday.as_deref()),
        (MarketPhase::Closed, Some("Republic Day"))
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // MCX was explicitly left at 2026-12-31.
    let mcx = market_status(&next_year, Segment::McxCom, at("2027-01-26T10:00:00+05:30"));
    assert!(
        mcx.warnings
            .iter()
            .any(|w| w.kind == WarningKind::CalendarExpired)
    );

    let muhurat = Calendar::builtin().with_override(over(blocks[1])).unwrap();
    for (instant, phase) in [
        ("2026-11-08T13:30:00+05:30", MarketPhase::PreOpen),
        ("2026-11-08T14:00:00+05:30", MarketPhase::Live),
        ("2026-11-08T14:50:00+05:30", MarketPhase::PostClose),
        ("2026-11-08T15:05:00+05:30", MarketPhase::Closed),
    ] {
        assert_eq!(
            market_status(&muhurat, Segment::BseCm, at(instant)).phase,
            phase,
            "{instant}"
        );
    }
}

//! Validation tests: every bad entry is refused with its file, entry and problem named.

use super::*;
use crate::calendar::phases::hm;

const HEADER: &str = r#"
schema_version = 1
valid_through = "2026-12-31"
data_as_of = "2026-08-22"
"#;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn parse(body: &str) -> Result<Calendar, CalendarError> {
    Calendar::parse(&format!("{HEADER}{body}"), "test.toml")
}

fn template(phases: &str) -> String {
    format!(
        "[[schedules.X]]\neffective_from = \"2026-01-01\"\nsource = \"s\"\nphases = [\n{phases}\n]\n"
    )
}

fn special(extra: &str) -> String {
    format!(
        "[[special_sessions]]\ndate = \"2026-11-08\"\nkind = \"muhurat\"\nname = \"M\"\n\
         segments = [\"NSE_CM\"]\nsource = \"s\"\n{extra}\n"
    )
}

#[test]
fn invalid_entries_are_named_with_their_problem() {
    let overlap = template(
        r#"{ kind = "continuous", start = "09:15", end = "15:30" },
           { kind = "post_close", start = "15:20", end = "16:00" },"#,
    );
    let backwards = template(
        r#"{ kind = "post_close", start = "09:00", end = "09:15" },
           { kind = "continuous", start = "09:15", end = "15:30" },"#,
    );
    let reversed = template(r#"{ kind = "continuous", start = "15:30", end = "09:15" },"#);
    let unknown_kind = template(r#"{ kind = "lunch_break", start = "12:00", end = "13:00" },"#);
    let bad_time = template(r#"{ kind = "continuous", start = "9h15", end = "15:30" },"#);
    let random_close = template(
        r#"{ kind = "pre_open_entry", start = "09:00", end = "09:08", random_close_from = "09:10" },"#,
    );
    let table: Vec<(String, &str, Problem)> = vec![
        (
            "[[holidays.NSE_EQ]]\ndate = \"2026-13-01\"\nname = \"X\"\nsource = \"s\"\n".into(),
            "holidays.NSE_EQ[0] (2026-13-01 \"X\")",
            Problem::BadDate { field: "date", value: "\"2026-13-01\"".into() },
        ),
        (
            "[[holidays.NSE_EQ]]\ndate = \"2026-01-26\"\nname = \"X\"\nsource = \" \"\n".into(),
            "holidays.NSE_EQ[0] (2026-01-26 \"X\")",
            Problem::Empty("source"),
        ),
        (
            "[[holidays.NSE_EQ]]\ndate = \"2026-01-26\"\nname = \"A\"\nsource = \"s\"\n\
             [[holidays.NSE_EQ]]\ndate = \"2026-01-26\"\nname = \"B\"\nsource = \"s\"\n"
                .into(),
            "holidays.NSE_EQ[1]",
            Problem::Duplicate("2026-01-26 is listed twice in holidays.NSE_EQ".into()),
        ),
        (
            "[segments.NSE_XX]\nweekmask = [\"Mon\"]\nholiday_list = \"L\"\nschedule = \"S\"\n".into(),
            "segments.NSE_XX",
            Problem::UnknownSegment("NSE_XX".into()),
        ),
        (
            "[segments.NSE_CM]\nweekmask = [\"Funday\"]\nholiday_list = \"L\"\nschedule = \"S\"\n".into(),
            "segments.NSE_CM",
            Problem::UnknownWeekday("Funday".into()),
        ),
        (
            "[segments.NSE_CM]\nweekmask = []\nholiday_list = \"L\"\nschedule = \"S\"\n".into(),
            "segments.NSE_CM",
            Problem::EmptyWeekmask,
        ),
        (
            overlap,
            "schedules.X[0] (effective_from 2026-01-01)",
            Problem::OverlappingPhases {
                first: "continuous 09:15-15:30".into(),
                second: "post_close 15:20-16:00".into(),
            },
        ),
        (
            backwards,
            "schedules.X[0] (effective_from 2026-01-01)",
            Problem::PhaseOrder {
                earlier: "post_close 09:00-09:15".into(),
                later: "continuous 09:15-15:30".into(),
            },
        ),
        (
            reversed,
            "schedules.X[0] (effective_from 2026-01-01).phases[0] (continuous)",
            Problem::PhaseNotAfterStart { kind: PhaseKind::Continuous, start: t(15, 30), end: t(9, 15) },
        ),
        (
            unknown_kind,
            "schedules.X[0] (effective_from 2026-01-01).phases[0] (lunch_break)",
            Problem::UnknownPhaseKind("lunch_break".into()),
        ),
        (
            bad_time,
            "schedules.X[0] (effective_from 2026-01-01).phases[0] (continuous)",
            Problem::BadTime { field: "start", value: "\"9h15\"".into() },
        ),
        (
            random_close,
            "schedules.X[0] (effective_from 2026-01-01).phases[0] (pre_open_entry)",
            Problem::RandomCloseOutside { value: t(9, 10), start: t(9, 0), end: t(9, 8) },
        ),
        (
            template(""),
            "schedules.X[0] (effective_from 2026-01-01)",
            Problem::NoPhases,
        ),
        (
            special("status = \"timings_tba\"\ntemplate = \"regular\""),
            "special_sessions[0] (2026-11-08 muhurat)",
            Problem::TimingsConflict(
                "status timings_tba must not have template or phases (set status = \"confirmed\" when timings are published)".into(),
            ),
        ),
        (
            special("status = \"confirmed\""),
            "special_sessions[0] (2026-11-08 muhurat)",
            Problem::TimingsConflict(
                "status confirmed needs exactly one of template = \"regular\" or phases".into(),
            ),
        ),
        (
            special("status = \"maybe\""),
            "special_sessions[0] (2026-11-08 muhurat)",
            Problem::UnknownStatus("maybe".into()),
        ),
        (
            special("status = \"timings_tba\"").replace("muhurat", "diwali"),
            "special_sessions[0] (2026-11-08 diwali)",
            Problem::UnknownSessionKind("diwali".into()),
        ),
        (
            format!("{}{}", special("status = \"timings_tba\""), special("status = \"timings_tba\"")),
            "special_sessions[1] (2026-11-08 muhurat)",
            Problem::Duplicate("a second special session for NSE_CM on 2026-11-08".into()),
        ),
        (
            "[holiday_lists.L]\nvalid_from = \"2027-01-01\"\nvalid_through = \"2026-12-31\"\n".into(),
            "holiday_lists.L",
            Problem::EmptyPeriod {
                from: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
                through: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            },
        ),
    ];
    for (body, entry, problem) in table {
        let err = parse(&body).unwrap_err();
        let CalendarError::Invalid {
            file,
            entry: got_entry,
            problem: got,
        } = &err
        else {
            panic!("expected a validation error for {body}, got {err}");
        };
        assert_eq!(file, "test.toml");
        assert_eq!(got_entry, entry, "{body}");
        assert_eq!(got, &problem, "{body}");
        let msg = err.to_string();
        assert!(msg.starts_with("calendar file test.toml: "), "{msg}");
    }
}

#[test]
fn header_problems() {
    let table = [
        (
            "schema_version = 2\nvalid_through = \"2026-12-31\"\ndata_as_of = \"2026-01-01\"\n",
            Problem::UnsupportedSchema {
                found: 2,
                supported: 1,
            },
        ),
        (
            "schema_version = 1\ntimezone = \"UTC\"\nvalid_through = \"2026-12-31\"\ndata_as_of = \"2026-01-01\"\n",
            Problem::Timezone("UTC".into()),
        ),
        (
            "schema_version = 1\nvalid_through = \"31/12/2026\"\ndata_as_of = \"2026-01-01\"\n",
            Problem::BadDate {
                field: "valid_through",
                value: "\"31/12/2026\"".into(),
            },
        ),
    ];
    for (text, problem) in table {
        let err = Calendar::parse(text, "h.toml").unwrap_err();
        assert_eq!(err.problem(), Some(&problem), "{text}");
    }
}

#[test]
fn syntax_and_unknown_keys_fail_with_location() {
    let err = parse("valid_thru = \"2027-12-31\"\n").unwrap_err();
    let CalendarError::Syntax { file, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(file, "test.toml");
    assert!(
        message.contains("valid_thru") && message.contains("line"),
        "{message}"
    );

    let err = Calendar::parse("schema_version = 1\n", "h.toml").unwrap_err();
    assert!(
        matches!(err, CalendarError::Syntax { .. }),
        "missing valid_through: {err}"
    );
}

#[test]
fn toml_date_and_time_literals_are_accepted() {
    let cal = parse(
        "[[holidays.NSE_EQ]]\ndate = 2027-01-26\nname = \"Republic Day\"\nsource = \"s\"\n\
         [[schedules.X]]\neffective_from = 2027-01-01\nsource = \"s\"\n\
         phases = [{ kind = \"continuous\", start = 09:15:00, end = 15:30:00 }]\n",
    )
    .unwrap();
    let date = NaiveDate::from_ymd_opt(2027, 1, 26).unwrap();
    assert_eq!(
        cal.holidays
            .get("NSE_EQ")
            .and_then(|m| m.get(&date))
            .map(|h| h.name.as_str()),
        Some("Republic Day")
    );
    let t = cal
        .schedules
        .get("X")
        .and_then(|m| m.values().next())
        .unwrap();
    assert_eq!(
        t.phases[0].start,
        NaiveTime::from_hms_opt(9, 15, 0).unwrap()
    );
}

#[test]
fn phases_are_sorted_and_gaps_start_new_sessions() {
    // Given out of order, with a DR-style gap after which pre-open legitimately follows live.
    let cal = parse(&template(
        r#"{ kind = "continuous", start = "11:30", end = "12:30" },
           { kind = "pre_open_entry", start = "11:15", end = "11:30" },
           { kind = "continuous", start = "09:15", end = "10:00" },"#,
    ))
    .unwrap();
    let t = cal
        .schedules
        .get("X")
        .and_then(|m| m.values().next())
        .unwrap();
    let starts: Vec<String> = t.phases.iter().map(|p| hm(p.start)).collect();
    assert_eq!(starts, ["09:15", "11:15", "11:30"]);
}

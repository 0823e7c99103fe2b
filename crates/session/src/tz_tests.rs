//! Host-timezone independence: the same table must give identical results whatever `TZ` the
//! process runs under.
//!
//! `results_are_identical_under_other_host_timezones` re-runs this test binary as a subprocess
//! with `TZ=UTC` and `TZ=America/New_York`, executing only `host_tz_table`. The child asserts the
//! expected IST answers, checks that its local timezone really is not IST, and writes its JSON
//! to a file that the parent compares with its own. The table contains instants whose UTC or
//! New York date differs from the IST date, so any use of local time would change the answers.

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Utc};

use crate::{Calendar, MarketPhase, Segment, market_status};

const OUT_ENV: &str = "FEEDGATE_SESSION_TZ_PROBE_OUT";
const EXPECT_NON_IST_ENV: &str = "FEEDGATE_SESSION_TZ_PROBE_NON_IST";

/// (instant, segment, phase, holiday, seconds_to_next_phase)
const TABLE: [(&str, Segment, MarketPhase, Option<&str>, i64); 6] = [
    // 04:30 UTC, 23:30 the previous day (a Sunday) in New York.
    (
        "2026-01-26T10:00:00+05:30",
        Segment::NseCm,
        MarketPhase::Closed,
        Some("Republic Day"),
        23 * 3600,
    ),
    // Sunday Budget session; Saturday evening in New York.
    (
        "2026-02-01T10:00:00+05:30",
        Segment::NseCm,
        MarketPhase::Live,
        None,
        5 * 3600 + 1800,
    ),
    // 02:00 IST Tuesday is still Monday (Republic Day) in UTC.
    (
        "2026-01-27T02:00:00+05:30",
        Segment::NseCm,
        MarketPhase::Closed,
        None,
        7 * 3600,
    ),
    // 00:30 IST Monday is Sunday in UTC and New York.
    (
        "2026-01-19T00:30:00+05:30",
        Segment::NseFo,
        MarketPhase::Closed,
        None,
        8 * 3600 + 1800,
    ),
    // Boundaries at the open.
    (
        "2026-01-19T09:14:59+05:30",
        Segment::NseCm,
        MarketPhase::AuctionFreeze,
        None,
        1,
    ),
    (
        "2026-01-19T09:15:00+05:30",
        Segment::NseCm,
        MarketPhase::Live,
        None,
        6 * 3600 + 900,
    ),
];

fn table_json() -> String {
    let cal = Calendar::builtin();
    TABLE
        .iter()
        .map(|(instant, seg, ..)| {
            let now: DateTime<Utc> = DateTime::parse_from_rfc3339(instant)
                .unwrap()
                .with_timezone(&Utc);
            serde_json::to_string(&market_status(&cal, *seg, now)).unwrap()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn host_tz_table() {
    if std::env::var_os(EXPECT_NON_IST_ENV).is_some() {
        // Proves the subprocess really runs with a non-IST local timezone.
        let offset = chrono::Local::now().offset().local_minus_utc();
        assert_ne!(
            offset, 19_800,
            "subprocess local timezone is IST; the probe would prove nothing"
        );
    }
    let cal = Calendar::builtin();
    for (instant, seg, phase, holiday, secs) in TABLE {
        let now = DateTime::parse_from_rfc3339(instant)
            .unwrap()
            .with_timezone(&Utc);
        let s = market_status(&cal, seg, now);
        assert_eq!(s.phase, phase, "{instant}");
        assert_eq!(s.holiday.as_deref(), holiday, "{instant}");
        assert_eq!(s.seconds_to_next_phase, Some(secs), "{instant}");
        assert_eq!(s.now, instant);
    }
    if let Some(path) = std::env::var_os(OUT_ENV) {
        std::fs::write(path, table_json()).unwrap();
    }
}

#[test]
fn results_are_identical_under_other_host_timezones() {
    let exe = std::env::current_exe().unwrap();
    let here = table_json();
    for tz in ["UTC", "America/New_York"] {
        let out: PathBuf = std::env::temp_dir().join(format!(
            "feedgate-session-tz-{}-{}.json",
            std::process::id(),
            tz.replace('/', "_")
        ));
        let _ = std::fs::remove_file(&out);
        let result = Command::new(&exe)
            .args(["--exact", "tz_tests::host_tz_table", "--test-threads=1"])
            .env("TZ", tz)
            .env(OUT_ENV, &out)
            .env(EXPECT_NON_IST_ENV, "1")
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "TZ={tz}: child failed\n{}\n{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        // The file only exists if the child actually ran the table (a filter matching no test
        // would exit successfully without writing it).
        let there = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(there, here, "TZ={tz}");
    }
}

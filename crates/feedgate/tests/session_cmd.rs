//! `feedgate session --at …` as users run it: the two reference instants, under hosts in
//! three timezones. The answer must not depend on the host's timezone.

use serde_json::Value;
use std::process::Command;

fn session_at(at: &str, tz: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_feedgate"))
        .args(["session", "--at", at])
        .env("TZ", tz)
        .env_remove("FEEDGATE_CALENDAR")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run feedgate");
    assert!(
        out.status.success(),
        "feedgate session --at {at} (TZ={tz}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn session_answers_the_same_whatever_the_host_timezone() {
    let zones = ["Asia/Kolkata", "UTC", "America/New_York"];

    // Republic Day: closed, with the holiday's name.
    let holiday: Vec<Value> = zones
        .iter()
        .map(|tz| session_at("2026-01-26T10:00:00+05:30", tz))
        .collect();
    assert_eq!(holiday[0]["phase"], "CLOSED", "{}", holiday[0]);
    assert_eq!(holiday[0]["holiday"], "Republic Day", "{}", holiday[0]);
    assert_eq!(holiday[0]["title"], "Market Holiday");
    assert!(holiday.iter().all(|v| *v == holiday[0]), "{holiday:#?}");

    // Union Budget Sunday: a live special session.
    let budget: Vec<Value> = zones
        .iter()
        .map(|tz| session_at("2026-02-01T10:00:00+05:30", tz))
        .collect();
    assert_eq!(budget[0]["phase"], "LIVE", "{}", budget[0]);
    assert!(budget.iter().all(|v| *v == budget[0]), "{budget:#?}");

    // The same instant written in UTC gives the same answer.
    assert_eq!(session_at("2026-02-01T04:30:00Z", "UTC"), budget[0]);
}

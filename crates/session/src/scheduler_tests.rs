//! Scheduler tests: when the feed runs, when tokens are checked, and the next action, day by day.

use super::*;
use crate::ist::rfc3339_ist;
use Action::{Recheck, StartFeed, StopFeed, TokenCheck};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// (now, feed_should_run, market_expects_data, next_action, next_action_at)
type Row = (&'static str, bool, bool, Action, &'static str);

fn check(config: &SchedulerConfig, rows: &[Row]) {
    let cal = Calendar::builtin();
    for (now, run, data, action, action_at) in rows {
        let d = decide(at(now), &cal, config);
        let got = (
            d.feed_should_run,
            d.market_expects_data,
            d.next_action,
            rfc3339_ist(d.next_action_at),
        );
        assert_eq!(
            got,
            (*run, *data, *action, (*action_at).to_owned()),
            "at {now}"
        );
    }
}

#[test]
fn default_config_regular_days_weekends_and_holidays() {
    check(
        &SchedulerConfig::default(),
        &[
            (
                "2026-01-19T08:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-19T08:50:00+05:30",
            ),
            (
                "2026-01-19T08:50:00+05:30",
                false,
                false,
                StartFeed,
                "2026-01-19T08:55:00+05:30",
            ),
            (
                "2026-01-19T08:54:59+05:30",
                false,
                false,
                StartFeed,
                "2026-01-19T08:55:00+05:30",
            ),
            (
                "2026-01-19T08:55:00+05:30",
                true,
                false,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            (
                "2026-01-19T09:00:00+05:30",
                true,
                false,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            (
                "2026-01-19T09:15:00+05:30",
                true,
                true,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            (
                "2026-01-19T15:29:59+05:30",
                true,
                true,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            // CM post-close, F&O closed (before the CAS go-live): feed runs, no data expected.
            (
                "2026-01-19T15:30:00+05:30",
                true,
                false,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            (
                "2026-01-19T16:04:59+05:30",
                true,
                false,
                StopFeed,
                "2026-01-19T16:05:00+05:30",
            ),
            (
                "2026-01-19T16:05:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-20T08:50:00+05:30",
            ),
            // Across midnight.
            (
                "2026-01-19T23:59:59+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-20T08:50:00+05:30",
            ),
            // Friday evening → Monday holiday (Republic Day) → Tuesday.
            (
                "2026-01-23T17:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-27T08:50:00+05:30",
            ),
            (
                "2026-01-26T10:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-27T08:50:00+05:30",
            ),
            // Weekend before the Budget Sunday: the feed starts on Sunday.
            (
                "2026-01-31T12:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-02-01T08:50:00+05:30",
            ),
            (
                "2026-02-01T10:00:00+05:30",
                true,
                true,
                StopFeed,
                "2026-02-01T16:05:00+05:30",
            ),
            // After the CAS go-live F&O is live until 15:40.
            (
                "2026-08-03T15:35:00+05:30",
                true,
                true,
                StopFeed,
                "2026-08-03T16:05:00+05:30",
            ),
            (
                "2026-08-03T15:40:00+05:30",
                true,
                false,
                StopFeed,
                "2026-08-03T16:05:00+05:30",
            ),
            // Muhurat on a holiday: lead times around the special session's own hours
            // (CM pre-open 13:30, closing session until 15:05).
            (
                "2025-10-20T17:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2025-10-21T13:20:00+05:30",
            ),
            (
                "2025-10-21T13:24:00+05:30",
                false,
                false,
                StartFeed,
                "2025-10-21T13:25:00+05:30",
            ),
            (
                "2025-10-21T14:00:00+05:30",
                true,
                true,
                StopFeed,
                "2025-10-21T15:10:00+05:30",
            ),
            (
                "2025-10-21T15:10:00+05:30",
                false,
                false,
                TokenCheck,
                "2025-10-23T08:50:00+05:30",
            ),
            // Muhurat Sunday with timings TBA: nothing scheduled that day (a warning is in the status).
            (
                "2026-11-07T12:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-11-09T08:50:00+05:30",
            ),
            // DR switchover Saturday: the feed keeps running through the gap between sessions.
            (
                "2024-03-02T10:30:00+05:30",
                true,
                false,
                StopFeed,
                "2024-03-02T12:35:00+05:30",
            ),
        ],
    );
}

#[test]
fn disabled_scheduler_runs_the_feed_always_but_still_checks_tokens() {
    let config = SchedulerConfig {
        enabled: false,
        ..SchedulerConfig::default()
    };
    check(
        &config,
        &[
            (
                "2026-01-24T12:00:00+05:30",
                true,
                false,
                TokenCheck,
                "2026-01-27T08:50:00+05:30",
            ),
            (
                "2026-01-19T10:00:00+05:30",
                true,
                true,
                TokenCheck,
                "2026-01-20T08:50:00+05:30",
            ),
            (
                "2026-01-19T20:00:00+05:30",
                true,
                false,
                TokenCheck,
                "2026-01-20T08:50:00+05:30",
            ),
        ],
    );
}

#[test]
fn dev_mode_treats_the_market_as_live() {
    let config = SchedulerConfig {
        dev_mode: true,
        ..SchedulerConfig::default()
    };
    check(
        &config,
        &[
            (
                "2026-01-24T12:00:00+05:30",
                true,
                true,
                TokenCheck,
                "2026-01-27T08:50:00+05:30",
            ),
            (
                "2026-01-26T03:00:00+05:30",
                true,
                true,
                TokenCheck,
                "2026-01-27T08:50:00+05:30",
            ),
        ],
    );
}

#[test]
fn segments_and_lead_times_are_configurable() {
    let mcx = SchedulerConfig {
        segments: vec![Segment::McxCom],
        ..SchedulerConfig::default()
    };
    check(
        &mcx,
        &[
            (
                "2026-01-19T08:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-19T08:35:00+05:30",
            ),
            // The stop crosses midnight: 23:55 + 5 min.
            (
                "2026-01-19T23:56:00+05:30",
                true,
                false,
                StopFeed,
                "2026-01-20T00:00:00+05:30",
            ),
            // Holi: morning closed, evening session from 17:00.
            (
                "2026-03-03T10:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-03-03T16:50:00+05:30",
            ),
        ],
    );
    // NSE and MCX together: overlapping windows merge into one.
    let both = SchedulerConfig {
        segments: vec![Segment::NseCm, Segment::McxCom, Segment::NseCm],
        ..SchedulerConfig::default()
    };
    check(
        &both,
        &[
            (
                "2026-01-19T08:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-19T08:35:00+05:30",
            ),
            (
                "2026-01-19T16:10:00+05:30",
                true,
                true,
                StopFeed,
                "2026-01-20T00:00:00+05:30",
            ),
        ],
    );
    let custom = SchedulerConfig {
        token_check_lead: Duration::from_secs(30 * 60),
        feed_start_lead: Duration::from_secs(15 * 60),
        feed_stop_lag: Duration::from_secs(20 * 60),
        segments: vec![Segment::NseFo],
        ..SchedulerConfig::default()
    };
    check(
        &custom,
        &[
            (
                "2026-01-19T08:00:00+05:30",
                false,
                false,
                TokenCheck,
                "2026-01-19T08:30:00+05:30",
            ),
            (
                "2026-01-19T08:30:00+05:30",
                false,
                false,
                StartFeed,
                "2026-01-19T08:45:00+05:30",
            ),
            (
                "2026-01-19T15:45:00+05:30",
                true,
                false,
                StopFeed,
                "2026-01-19T15:50:00+05:30",
            ),
        ],
    );
}

#[test]
fn nothing_within_the_horizon_asks_for_a_recheck() {
    // A calendar with a segment but holidays covering every day is not realistic; an empty
    // segment list in an unvalidated config is the simplest way to have no windows.
    let config = SchedulerConfig {
        segments: vec![],
        ..SchedulerConfig::default()
    };
    check(
        &config,
        &[(
            "2026-01-19T10:00:00+05:30",
            false,
            false,
            Recheck,
            "2026-01-20T10:00:00+05:30",
        )],
    );
}

#[test]
fn config_validation() {
    assert_eq!(SchedulerConfig::default().validate(), Ok(()));
    let mins = |m: u64| Duration::from_secs(m * 60);
    let table = [
        (
            SchedulerConfig {
                segments: vec![],
                ..SchedulerConfig::default()
            },
            SchedulerConfigError::NoSegments,
        ),
        (
            SchedulerConfig {
                token_check_lead: mins(2),
                ..SchedulerConfig::default()
            },
            SchedulerConfigError::TokenCheckAfterStart {
                token: mins(2),
                start: mins(5),
            },
        ),
        (
            SchedulerConfig {
                feed_stop_lag: mins(7 * 60),
                ..SchedulerConfig::default()
            },
            SchedulerConfigError::TooLong {
                field: "feed_stop_lag",
                value: mins(7 * 60),
            },
        ),
    ];
    for (config, err) in table {
        assert_eq!(config.validate(), Err(err));
    }
}

/// Driving the scheduler like the gateway does: jump to each `next_action_at` (a fake clock,
/// no sleeping) and record the actions over a week with a holiday and a Budget Sunday.
#[test]
fn fake_clock_walk_over_a_week() {
    let cal = Calendar::builtin();
    let config = SchedulerConfig::default();
    let mut now = at("2026-01-23T12:00:00+05:30");
    let mut log = Vec::new();
    while now < at("2026-02-03T00:00:00+05:30") {
        let d = decide(now, &cal, &config);
        assert!(d.next_action_at > now, "time must advance");
        log.push(format!(
            "{} {:?}",
            rfc3339_ist(d.next_action_at),
            d.next_action
        ));
        now = d.next_action_at;
    }
    let want = [
        "2026-01-23T16:05:00+05:30 StopFeed",
        "2026-01-27T08:50:00+05:30 TokenCheck",
        "2026-01-27T08:55:00+05:30 StartFeed",
        "2026-01-27T16:05:00+05:30 StopFeed",
        "2026-01-28T08:50:00+05:30 TokenCheck",
        "2026-01-28T08:55:00+05:30 StartFeed",
        "2026-01-28T16:05:00+05:30 StopFeed",
        "2026-01-29T08:50:00+05:30 TokenCheck",
        "2026-01-29T08:55:00+05:30 StartFeed",
        "2026-01-29T16:05:00+05:30 StopFeed",
        "2026-01-30T08:50:00+05:30 TokenCheck",
        "2026-01-30T08:55:00+05:30 StartFeed",
        "2026-01-30T16:05:00+05:30 StopFeed",
        "2026-02-01T08:50:00+05:30 TokenCheck",
        "2026-02-01T08:55:00+05:30 StartFeed",
        "2026-02-01T16:05:00+05:30 StopFeed",
        "2026-02-02T08:50:00+05:30 TokenCheck",
        "2026-02-02T08:55:00+05:30 StartFeed",
        "2026-02-02T16:05:00+05:30 StopFeed",
        "2026-02-03T08:50:00+05:30 TokenCheck",
    ];
    assert_eq!(log, want);
}

//! The broker's documented token expiry, as a hint for when to re-validate (never as proof):
//! Kite tokens "expire at 6 AM on the next day" (kite.md §8.2), read as 06:00 IST.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;

/// The first 06:00 IST strictly after `issued_at`.
pub fn kite_expiry_hint(issued_at: DateTime<Utc>) -> DateTime<Utc> {
    let local = issued_at.with_timezone(&Kolkata);
    let six = NaiveTime::from_hms_opt(6, 0, 0).unwrap_or_default();
    let mut day = local.date_naive();
    if local.time() >= six {
        day += Duration::days(1);
    }
    Kolkata
        .from_local_datetime(&day.and_time(six))
        .single()
        .map(|d| d.to_utc())
        // IST has no DST, so the local time is never ambiguous; this is unreachable in practice.
        .unwrap_or(issued_at + Duration::hours(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn next_six_am_ist() {
        let cases = [
            ("2026-11-23T08:40:00+05:30", "2026-11-24T06:00:00+05:30"),
            ("2026-11-23T05:59:59+05:30", "2026-11-23T06:00:00+05:30"),
            ("2026-11-23T06:00:00+05:30", "2026-11-24T06:00:00+05:30"),
            ("2026-12-31T23:00:00+05:30", "2027-01-01T06:00:00+05:30"),
            ("2026-11-23T20:00:00Z", "2026-11-24T06:00:00+05:30"),
        ];
        for (issued, want) in cases {
            assert_eq!(kite_expiry_hint(t(issued)), t(want), "{issued}");
        }
    }
}

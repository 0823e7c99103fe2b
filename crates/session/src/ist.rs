//! Conversions between UTC instants and IST (Asia/Kolkata) wall-clock, and IST text formatting.
//!
//! Every local-time computation in this crate goes through here, using the tz database via
//! `chrono-tz`. Nothing reads the host timezone (`chrono::Local`, `TZ`), so results are the same
//! on any machine.

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveTime, SecondsFormat, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// The exchange timezone.
pub const IST: Tz = chrono_tz::Asia::Kolkata;

/// IST's offset from UTC (5 h 30 min) in seconds; India has had no DST since 1945.
const IST_OFFSET_SECS: i64 = 19_800;

/// `instant` as IST wall-clock with a fixed `+05:30` offset (what JSON shows).
pub fn to_ist(instant: DateTime<Utc>) -> DateTime<FixedOffset> {
    instant.with_timezone(&IST).fixed_offset()
}

/// The IST calendar date of `instant`.
pub fn ist_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&IST).date_naive()
}

/// The UTC instant of IST wall-clock `time` on `date`.
pub fn ist_instant(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match IST.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // Kolkata has no gaps in the tz database after 1945; a fixed offset is the right answer
        // for any wall-clock time it cannot map.
        LocalResult::None => Utc.from_utc_datetime(&(local - TimeDelta::seconds(IST_OFFSET_SECS))),
    }
}

/// RFC 3339 with whole seconds and the `+05:30` offset: `2026-11-23T10:15:00+05:30`.
pub fn rfc3339_ist(instant: DateTime<Utc>) -> String {
    to_ist(instant).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// 12-hour clock without a leading zero: `9:15 AM`, `3:30 PM`, `12:00 PM`.
pub(crate) fn clock(time: NaiveTime) -> String {
    let (pm, hour) = time.hour12();
    format!(
        "{hour}:{:02} {}",
        time.minute(),
        if pm { "PM" } else { "AM" }
    )
}

/// Short date: `Mon 2 Feb 2026`.
pub(crate) fn day(date: NaiveDate) -> String {
    format!(
        "{} {} {} {}",
        date.weekday(),
        date.day(),
        month(date.month()),
        date.year()
    )
}

fn month(m: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    m.checked_sub(1)
        .and_then(|i| NAMES.get(i as usize))
        .copied()
        .unwrap_or("???")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn clock_formats_twelve_hour() {
        let table = [
            (t(0, 5), "12:05 AM"),
            (t(9, 15), "9:15 AM"),
            (t(12, 0), "12:00 PM"),
            (t(15, 30), "3:30 PM"),
            (t(23, 55), "11:55 PM"),
        ];
        for (time, want) in table {
            assert_eq!(clock(time), want);
        }
    }

    #[test]
    fn ist_round_trip_near_midnight() {
        // 02:00 IST on 2 Feb is 20:30 UTC on 1 Feb: the IST date must be the 2nd.
        let date = NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
        let instant = ist_instant(date, t(2, 0));
        assert_eq!(instant.to_rfc3339(), "2026-02-01T20:30:00+00:00");
        assert_eq!(ist_date(instant), date);
        assert_eq!(rfc3339_ist(instant), "2026-02-02T02:00:00+05:30");
    }

    #[test]
    fn day_formats() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 27).unwrap();
        assert_eq!(day(date), "Tue 27 Jan 2026");
    }
}

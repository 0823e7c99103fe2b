//! The simulator's wall clock: the real UTC time at start plus tokio's elapsed time, so that
//! exchange timestamps advance with `tokio::time` (paused-time tests drive them too). Also the
//! IST rendering Kite uses in JSON.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use chrono_tz::Asia::Kolkata;
use tokio::time::Instant;

/// Wall time anchored at start-up and advanced by the tokio clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    start_utc: DateTime<Utc>,
    start: Instant,
}

impl WallClock {
    pub(crate) fn start_now() -> Self {
        Self::starting_at(Utc::now())
    }

    pub(crate) fn starting_at(start_utc: DateTime<Utc>) -> Self {
        Self {
            start_utc,
            start: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.start);
        // A simulator running for 292 billion years would overflow; saturate rather than panic.
        let elapsed = ChronoDuration::from_std(elapsed).unwrap_or(ChronoDuration::MAX);
        self.start_utc
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// `yyyy-mm-dd hh:mm:ss` in IST with no offset: Kite's REST timestamp format (kite.md §8.1).
pub(crate) fn kite_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// [`kite_timestamp`] for Unix epoch seconds; out-of-range values render as the epoch.
pub(crate) fn kite_timestamp_secs(epoch_secs: i64) -> String {
    kite_timestamp(DateTime::from_timestamp(epoch_secs, 0).unwrap_or_default())
}

/// The IST calendar date of an instant (the market's trading day).
pub(crate) fn ist_date(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&Kolkata).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ist_without_offset() {
        // 0x60e2947f from kite.md §7: 2021-07-05 10:41:27 IST.
        assert_eq!(kite_timestamp_secs(1_625_461_887), "2021-07-05 10:41:27");
        assert_eq!(kite_timestamp_secs(0), "1970-01-01 05:30:00");
    }

    #[test]
    fn ist_date_rolls_at_ist_midnight() {
        let before = DateTime::parse_from_rfc3339("2026-01-05T18:29:59Z").unwrap();
        let after = DateTime::parse_from_rfc3339("2026-01-05T18:30:00Z").unwrap();
        assert_eq!(ist_date(before.to_utc()).to_string(), "2026-01-05");
        assert_eq!(ist_date(after.to_utc()).to_string(), "2026-01-06");
    }

    #[tokio::test(start_paused = true)]
    async fn advances_with_tokio_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T04:00:00Z")
            .unwrap()
            .to_utc();
        let clock = WallClock::starting_at(start);
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now().timestamp(), start.timestamp() + 90);
    }
}

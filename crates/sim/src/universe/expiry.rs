//! Contract expiry dates and the month codes in Kite trading symbols. Approximations of the
//! exchanges' rules without holidays: close enough for a simulator, which only needs plausible,
//! current-month contracts.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// NSE monthly index derivatives expire on the last Tuesday of the month (the rule since
/// September 2025). Returns the current month's expiry, or next month's once it has passed.
pub(crate) fn nse_monthly(today: NaiveDate) -> NaiveDate {
    next_by(today, |year, month| last_weekday(year, month, Weekday::Tue))
}

/// Currency futures expire two working days before the month's last working day.
pub(crate) fn currency_monthly(today: NaiveDate) -> NaiveDate {
    next_by(today, |year, month| {
        let last = last_working_day(year, month);
        previous_working_day(previous_working_day(last))
    })
}

/// `25NOV` for 2025-11-25: the `YYMON` part of Kite's monthly contract symbols.
pub(crate) fn month_code(expiry: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let month = MONTHS
        .get(expiry.month0() as usize)
        .copied()
        .unwrap_or("JAN");
    format!("{:02}{month}", expiry.year().rem_euclid(100))
}

fn next_by(today: NaiveDate, rule: impl Fn(i32, u32) -> NaiveDate) -> NaiveDate {
    let this_month = rule(today.year(), today.month());
    if today <= this_month {
        return this_month;
    }
    let (year, month) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    rule(year, month)
}

fn last_day(year: i32, month: u32) -> NaiveDate {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|first| first.pred_opt())
        .unwrap_or(NaiveDate::MIN)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let last = last_day(year, month);
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_days(Days::new(u64::from(back)))
        .unwrap_or(last)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn last_working_day(year: i32, month: u32) -> NaiveDate {
    let mut day = last_day(year, month);
    while is_weekend(day) {
        day = day.pred_opt().unwrap_or(day);
    }
    day
}

fn previous_working_day(date: NaiveDate) -> NaiveDate {
    let mut day = date.pred_opt().unwrap_or(date);
    while is_weekend(day) {
        day = day.pred_opt().unwrap_or(day);
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn nse_monthly_is_the_last_tuesday_or_next_months() {
        let cases = [
            ("2025-11-03", "2025-11-25"),
            ("2025-11-25", "2025-11-25"),
            ("2025-11-26", "2025-12-30"),
            ("2025-12-31", "2026-01-27"),
            ("2026-03-01", "2026-03-31"),
        ];
        for (today, want) in cases {
            assert_eq!(nse_monthly(d(today)), d(want), "{today}");
        }
    }

    #[test]
    fn currency_expiry_is_two_working_days_before_the_last() {
        let cases = [
            // Nov 2025 ends on Sunday: last working day Fri 28, expiry Wed 26.
            ("2025-11-03", "2025-11-26"),
            ("2025-11-27", "2025-12-29"),
            // Jan 2026 ends on Saturday: last working day Fri 30, expiry Wed 28.
            ("2026-01-02", "2026-01-28"),
        ];
        for (today, want) in cases {
            assert_eq!(currency_monthly(d(today)), d(want), "{today}");
        }
    }

    #[test]
    fn month_codes() {
        assert_eq!(month_code(d("2025-11-25")), "25NOV");
        assert_eq!(month_code(d("2026-01-27")), "26JAN");
    }
}

//! Session candles (pure): 1-minute OHLCV per instrument built from ticks, aggregated to 5 and
//! 15 minutes on demand. Minutes are IST minutes (India's offset is a whole number of quarter
//! hours, so IST 1/5/15-minute boundaries coincide with UTC ones; the *day* boundary is IST
//! midnight). Volume comes from deltas of the day's cumulative volume (a lower value, an older
//! quote arriving late, adds nothing); a minute without ticks has no candle (no gaps are
//! invented). Minutes before this run's first live minute can be filled from the broker's
//! history ([`merge_history`]): live minutes always win, no minute appears twice.

use crate::model::ist::IST_OFFSET_SECS;
use crate::model::tick::{Tick, Token};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One candle, prices in wire units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Start of the interval, Unix seconds.
    pub t: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: u64,
}

impl Candle {
    fn start(t: i64, price: i64, volume: u64) -> Self {
        Self {
            t,
            open: price,
            high: price,
            low: price,
            close: price,
            volume,
        }
    }

    fn absorb(&mut self, price: i64, volume: u64) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        self.volume = self.volume.saturating_add(volume);
    }
}

/// The IST trading day (days since the epoch, IST) of a Unix time.
pub fn ist_day(unix_secs: i64) -> i64 {
    (unix_secs + IST_OFFSET_SECS).div_euclid(86_400)
}

/// Days from 0001-01-01 (chrono's "common era" count) to 1970-01-01.
const EPOCH_FROM_CE: i64 = 719_163;

/// The calendar date of an [`ist_day`]; `None` outside chrono's range.
pub fn day_date(day: i64) -> Option<NaiveDate> {
    i32::try_from(day + EPOCH_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// The [`ist_day`] number of a calendar date (the inverse of [`day_date`]).
pub fn date_day(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - EPOCH_FROM_CE
}

/// Start of the `minutes`-long interval containing `unix_secs`.
pub fn bucket(unix_secs: i64, minutes: u32) -> i64 {
    let len = i64::from(minutes.max(1)) * 60;
    (unix_secs + IST_OFFSET_SECS).div_euclid(len) * len - IST_OFFSET_SECS
}

/// The minutes of one instrument's current IST day.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub day: i64,
    pub divisor: u32,
    /// Closed minutes, oldest first.
    pub closed: Vec<Candle>,
    pub current: Option<Candle>,
    last_volume: Option<u64>,
    /// The first minute of `day` built from this run's ticks: history fills only before it.
    first_live: Option<i64>,
}

impl Series {
    /// Closed minutes plus the forming one, oldest first.
    pub fn minutes(&self) -> Vec<Candle> {
        let mut v = self.closed.clone();
        v.extend(self.current);
        v
    }
}

/// The broker's 1-minute candles of one instrument for one IST day (the backfill's answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub token: Token,
    pub divisor: u32,
    /// The IST day ([`ist_day`]) the candles are of.
    pub day: i64,
    /// Oldest first.
    pub candles: Vec<Candle>,
}

/// Candles of every tracked instrument.
#[derive(Debug, Default)]
pub struct CandleBook {
    series: HashMap<Token, Series>,
}

/// A minute that just closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub token: Token,
    pub divisor: u32,
    pub candle: Candle,
}

/// Most minutes kept per instrument: a long special session plus margin (a regular session has
/// 375 minutes; MCX runs ~900).
const MAX_MINUTES: usize = 1_000;

impl CandleBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tick time used for candles: the exchange time when the broker gave one, else when
    /// feedgate received it.
    pub fn tick_time(tick: &Tick) -> i64 {
        tick.exchange_ts()
            .filter(|s| *s > 0)
            .unwrap_or_else(|| tick.received_ms.div_euclid(1000))
    }

    /// Adds a tick; returns the minute it closed, if the tick started a new one.
    pub fn on_tick(&mut self, tick: &Tick) -> Option<Closed> {
        let t = Self::tick_time(tick);
        let day = ist_day(t);
        let minute = bucket(t, 1);
        let s = self.series.entry(tick.token).or_default();
        let mut rolled = None;
        if day > s.day {
            // A new IST day. The old day's last minute closes now (its subscribers get it), and
            // the old day's minutes stay until the next new day: with no close in between
            // (scheduler off, DEV_MODE) the backup and `/api/candles?date=` still need them.
            // Day volume counts afresh.
            if let Some(c) = s.current.take() {
                s.closed.push(c);
                rolled = Some(Closed {
                    token: tick.token,
                    divisor: s.divisor,
                    candle: c,
                });
            }
            s.closed.retain(|c| ist_day(c.t) >= day - 1);
            s.day = day;
            s.last_volume = None;
            s.first_live = None;
        }
        s.divisor = tick.divisor;
        if s.first_live.is_none() {
            s.first_live = Some(minute);
        }
        let volume = match (tick.volume(), s.last_volume) {
            // A lower cumulative volume is an older value arriving late (a REST quote between
            // WebSocket ticks), not a restart: the new IST day above already resets the count.
            // It adds nothing, and the highest value seen stays the base.
            (Some(v), Some(last)) => v.saturating_sub(last),
            // First observation of the day: what came before we started is not this minute's.
            (Some(_), None) | (None, _) => 0,
        };
        if let Some(v) = tick.volume() {
            s.last_volume = Some(s.last_volume.map_or(v, |last| last.max(v)));
        }
        match &mut s.current {
            Some(c) if c.t == minute => {
                c.absorb(tick.ltp, volume);
                None
            }
            // A late tick for an already closed minute: fold it into the forming one rather than
            // rewrite history clients have already seen.
            Some(c) if minute < c.t => {
                c.absorb(tick.ltp, volume);
                None
            }
            Some(c) => {
                let done = *c;
                s.closed.push(done);
                if s.closed.len() > MAX_MINUTES {
                    s.closed.remove(0);
                }
                s.current = Some(Candle::start(minute, tick.ltp, volume));
                Some(Closed {
                    token: tick.token,
                    divisor: s.divisor,
                    candle: done,
                })
            }
            None => {
                // Nothing forming (the timer closed the last minute): a late tick for a closed
                // minute starts the next one rather than a second candle for the closed one.
                let after_closed = s.closed.last().map_or(minute, |c| c.t + 60);
                s.current = Some(Candle::start(minute.max(after_closed), tick.ltp, volume));
                rolled
            }
        }
    }

    /// Closes every forming minute that ended before `now` (called by a timer just after each
    /// minute boundary, so candles close on time even without a next tick).
    pub fn close_due(&mut self, now_secs: i64) -> Vec<Closed> {
        let this_minute = bucket(now_secs, 1);
        let mut out = Vec::new();
        for (token, s) in &mut self.series {
            if let Some(c) = s.current
                && c.t < this_minute
            {
                s.closed.push(c);
                if s.closed.len() > MAX_MINUTES {
                    s.closed.remove(0);
                }
                s.current = None;
                out.push(Closed {
                    token: *token,
                    divisor: s.divisor,
                    candle: c,
                });
            }
        }
        out
    }

    pub fn series(&self, token: Token) -> Option<&Series> {
        self.series.get(&token)
    }

    pub fn tokens(&self) -> impl Iterator<Item = (&Token, &Series)> {
        self.series.iter()
    }

    /// Merges the broker's 1-minute history of `token` for IST day `day` (see
    /// [`merge_history`]); returns how many minutes were added. An instrument with no minutes
    /// yet gets a series of the history alone (live ticks then continue it).
    pub fn merge_history(
        &mut self,
        token: Token,
        divisor: u32,
        day: i64,
        history: &[Candle],
        now_secs: i64,
    ) -> usize {
        let s = self.series.entry(token).or_default();
        if s.day > day {
            // Older than what the series holds (the day rolled during the fetch).
            return 0;
        }
        if s.day < day {
            // The series holds an older day: roll it as a tick of the new day would.
            if let Some(c) = s.current.take() {
                s.closed.push(c);
            }
            s.closed.retain(|c| ist_day(c.t) >= day - 1);
            s.day = day;
            s.last_volume = None;
            s.first_live = None;
        }
        if s.divisor == 0 {
            s.divisor = divisor;
        }
        let before = s.closed.len();
        s.closed = merge_history(&s.closed, s.first_live, history, day, bucket(now_secs, 1));
        if s.closed.len() > MAX_MINUTES {
            let excess = s.closed.len() - MAX_MINUTES;
            s.closed.drain(..excess);
        }
        s.closed.len().saturating_sub(before)
    }

    /// Stops tracking an instrument (nobody subscribes to it any more).
    pub fn forget(&mut self, token: Token) {
        self.series.remove(&token);
    }
}

/// Aggregates 1-minute candles into `minutes`-long ones (newest last). Only intervals with at
/// least one minute appear.
pub fn aggregate(minutes_1m: &[Candle], minutes: u32) -> Vec<Candle> {
    if minutes <= 1 {
        return minutes_1m.to_vec();
    }
    let mut out: Vec<Candle> = Vec::new();
    for c in minutes_1m {
        let b = bucket(c.t, minutes);
        match out.last_mut() {
            Some(last) if last.t == b => {
                last.high = last.high.max(c.high);
                last.low = last.low.min(c.low);
                last.close = c.close;
                last.volume = last.volume.saturating_add(c.volume);
            }
            _ => out.push(Candle { t: b, ..*c }),
        }
    }
    out
}

/// Closed minutes (`closed`, oldest first) with the broker's minutes of IST day `day` added
/// where the live ones leave a hole: only minutes before `first_live` (this run's first live
/// minute, if any) and before `this_minute` (a minute in progress is the live feed's), and
/// none already there. Pure; the result is oldest first with no minute twice.
pub fn merge_history(
    closed: &[Candle],
    first_live: Option<i64>,
    history: &[Candle],
    day: i64,
    this_minute: i64,
) -> Vec<Candle> {
    let limit = first_live.map_or(this_minute, |f| f.min(this_minute));
    let mut out: Vec<Candle> = closed.to_vec();
    out.extend(
        history
            .iter()
            .filter(|c| c.t < limit && ist_day(c.t) == day && c.t == bucket(c.t, 1)),
    );
    // Stable: for a minute present twice, the first (the existing one) stays.
    out.sort_by_key(|c| c.t);
    out.dedup_by_key(|c| c.t);
    out
}

/// When an interval-long candle ends with this minute, the aggregated candle it completes
/// (for pushing 5m/15m candles at their close).
pub fn completes(minute_start: i64, minutes: u32) -> bool {
    let len = i64::from(minutes.max(1)) * 60;
    (minute_start + 60 + IST_OFFSET_SECS).rem_euclid(len) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tick::{Quote, Source};

    /// 2026-11-23 10:15:00 IST.
    const T0: i64 = 1_795_409_100;

    fn tick(t: i64, ltp: i64, volume: u64) -> Tick {
        Tick {
            token: 1,
            divisor: 100,
            ltp,
            quote: Some(Quote {
                volume: Some(volume),
                ..Quote::default()
            }),
            full: None,
            received_ms: t * 1000,
            src: Source::Ws,
        }
    }

    #[test]
    fn boundaries_are_ist_minutes() {
        assert_eq!(bucket(T0 + 59, 1), T0);
        assert_eq!(bucket(T0 + 60, 1), T0 + 60);
        // 10:15 IST is on a 5- and a 15-minute boundary.
        assert_eq!(bucket(T0 + 299, 5), T0);
        assert_eq!(bucket(T0 + 14 * 60, 15), T0);
        assert_eq!(bucket(T0 - 1, 15), T0 - 900);
        // IST midnight, not UTC midnight, starts a day: 23:59 IST and 00:00 IST differ.
        let midnight_ist = T0 - (10 * 3600 + 15 * 60) + 86_400;
        assert_eq!(ist_day(midnight_ist - 1) + 1, ist_day(midnight_ist));
    }

    #[test]
    fn builds_ohlcv_from_cumulative_volume() {
        let mut b = CandleBook::new();
        assert_eq!(b.on_tick(&tick(T0 + 1, 100, 1000)), None);
        b.on_tick(&tick(T0 + 20, 105, 1010));
        b.on_tick(&tick(T0 + 40, 98, 1030));
        let closed = b.on_tick(&tick(T0 + 61, 101, 1035)).expect("minute closed");
        assert_eq!(
            closed.candle,
            Candle {
                t: T0,
                open: 100,
                high: 105,
                low: 98,
                close: 98,
                volume: 30 // the first observation's 1000 happened before we started
            }
        );
        let s = b.series(1).unwrap();
        assert_eq!(s.current.unwrap().volume, 5);
    }

    #[test]
    fn an_older_lower_volume_between_ticks_adds_nothing() {
        let mut b = CandleBook::new();
        b.on_tick(&tick(T0 + 1, 100, 5_000_000));
        b.on_tick(&tick(T0 + 10, 101, 5_000_100));
        // A REST quote taken before the last WebSocket tick, arriving after it.
        b.on_tick(&tick(T0 + 20, 100, 5_000_050));
        b.on_tick(&tick(T0 + 30, 102, 5_000_200));
        let s = b.series(1).unwrap();
        assert_eq!(s.current.unwrap().volume, 200, "5,000,000 → 5,000,200");
        // The next minute counts from the highest value seen.
        b.on_tick(&tick(T0 + 61, 102, 5_000_150));
        b.on_tick(&tick(T0 + 62, 103, 5_000_260));
        assert_eq!(b.series(1).unwrap().current.unwrap().volume, 60);
    }

    #[test]
    fn no_gaps_are_invented_and_timers_close_minutes() {
        let mut b = CandleBook::new();
        b.on_tick(&tick(T0, 100, 1));
        // Nothing for three minutes, then a tick.
        assert!(b.close_due(T0 + 59).is_empty(), "minute still forming");
        let closed = b.close_due(T0 + 61);
        assert_eq!(closed.len(), 1);
        b.on_tick(&tick(T0 + 240, 110, 5));
        let mins: Vec<i64> = b.series(1).unwrap().minutes().iter().map(|c| c.t).collect();
        assert_eq!(mins, [T0, T0 + 240]);
    }

    #[test]
    fn a_new_ist_day_closes_the_old_one_and_keeps_it_for_a_day() {
        let mut b = CandleBook::new();
        b.on_tick(&tick(T0, 100, 500));
        let closed = b.on_tick(&tick(T0 + 86_400, 200, 10));
        assert_eq!(
            closed.map(|c| c.candle.t),
            Some(T0),
            "the old day's last minute closes"
        );
        let s = b.series(1).unwrap();
        assert_eq!(s.closed.iter().map(|c| c.t).collect::<Vec<_>>(), [T0]);
        assert_eq!(
            s.current.unwrap().volume,
            0,
            "the new day's first observation"
        );
        b.on_tick(&tick(T0 + 2 * 86_400, 300, 1));
        let kept: Vec<i64> = b.series(1).unwrap().closed.iter().map(|c| c.t).collect();
        assert_eq!(kept, [T0 + 86_400], "only the day before is kept");
    }

    #[test]
    fn a_late_tick_after_the_timer_closed_its_minute_makes_no_second_candle() {
        let mut b = CandleBook::new();
        b.on_tick(&tick(T0 + 10, 100, 1));
        assert_eq!(b.close_due(T0 + 60).len(), 1);
        // Stamped in the closed minute (exchange time), arriving after its close.
        b.on_tick(&tick(T0 + 59, 101, 2));
        let mins: Vec<i64> = b.series(1).unwrap().minutes().iter().map(|c| c.t).collect();
        assert_eq!(mins, [T0, T0 + 60]);
    }

    #[test]
    fn aggregation_to_5_and_15_minutes() {
        let ones: Vec<Candle> = (0..20)
            .map(|i| Candle {
                t: T0 + i * 60,
                open: 100 + i,
                high: 200 + i,
                low: 50 - i,
                close: 101 + i,
                volume: 10,
            })
            .collect();
        let fives = aggregate(&ones, 5);
        assert_eq!(fives.len(), 4);
        assert_eq!(
            fives[0],
            Candle {
                t: T0,
                open: 100,
                high: 204,
                low: 46,
                close: 105,
                volume: 50
            }
        );
        let fifteens = aggregate(&ones, 15);
        assert_eq!(
            fifteens.iter().map(|c| c.volume).collect::<Vec<_>>(),
            [150, 50]
        );
        assert!(completes(T0 + 4 * 60, 5));
        assert!(!completes(T0 + 3 * 60, 5));
        assert!(completes(T0 + 14 * 60, 15));
    }

    fn minute(t: i64, price: i64, volume: u64) -> Candle {
        Candle::start(t, price, volume)
    }

    #[test]
    fn history_fills_before_the_first_live_minute_and_live_minutes_win() {
        let mut book = CandleBook::new();
        // This run's ticks start at 10:20:30.
        book.on_tick(&tick(T0 + 5 * 60 + 30, 500, 1_000));
        book.on_tick(&tick(T0 + 6 * 60 + 5, 510, 1_040));
        // The broker's minutes 10:15..=10:21 (10:20 and 10:21 exist live already).
        let history: Vec<Candle> = (0..7).map(|i| minute(T0 + i * 60, 400 + i, 10)).collect();
        let day = ist_day(T0);
        let added = book.merge_history(1, 100, day, &history, T0 + 6 * 60 + 20);
        assert_eq!(added, 5, "10:15..=10:19");
        let mins = book.series(1).unwrap().minutes();
        let times: Vec<i64> = mins.iter().map(|c| (c.t - T0) / 60).collect();
        assert_eq!(times, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(mins[4], minute(T0 + 4 * 60, 404, 10));
        assert_eq!(
            mins[5],
            minute(T0 + 5 * 60, 500, 0),
            "the live minute kept its value"
        );
        assert_eq!(mins[6].open, 510, "the forming minute is live");
        // A second merge (an instrument subscribed again) adds nothing.
        assert_eq!(
            book.merge_history(1, 100, day, &history, T0 + 6 * 60 + 20),
            0
        );
    }

    #[test]
    fn history_alone_stops_before_the_minute_in_progress_and_ticks_continue_it() {
        let mut book = CandleBook::new();
        let history: Vec<Candle> = (0..4).map(|i| minute(T0 + i * 60, 400 + i, 10)).collect();
        // 10:18:30: the broker's 10:18 is still forming.
        let added = book.merge_history(1, 100, ist_day(T0), &history, T0 + 3 * 60 + 30);
        assert_eq!(added, 3);
        book.on_tick(&tick(T0 + 3 * 60 + 40, 450, 5_000));
        let mins = book.series(1).unwrap().minutes();
        assert_eq!(mins.len(), 4);
        assert_eq!(mins[3], minute(T0 + 3 * 60, 450, 0));
        // Another day's minutes, or minutes off the grid, are not merged.
        let stray = [minute(T0 - 86_400, 1, 1), minute(T0 + 10, 1, 1)];
        assert_eq!(book.merge_history(1, 100, ist_day(T0), &stray, T0 + 600), 0);
        assert_eq!(
            book.merge_history(1, 100, ist_day(T0) - 1, &history, T0 + 600),
            0
        );
    }

    proptest::proptest! {
        /// Merged history never duplicates a minute, never changes a live one and fills only
        /// before the first live minute and the minute in progress.
        #[test]
        fn merging_never_duplicates_and_live_minutes_win(
            live in proptest::collection::vec((0i64..120 * 60, 1i64..1_000), 0..80),
            history in proptest::collection::vec((0i64..120, 1i64..1_000, 0u64..50), 0..150),
            now in 0i64..130 * 60,
        ) {
            let mut live = live;
            live.sort_unstable();
            let mut book = CandleBook::new();
            let mut volume = 0;
            for (dt, price) in &live {
                volume += 3;
                book.on_tick(&tick(T0 + dt, *price, volume));
            }
            let before = book.series(1).map(Series::minutes).unwrap_or_default();
            let history: Vec<Candle> =
                history.iter().map(|(m, p, v)| minute(T0 + m * 60, *p, *v)).collect();
            let now = T0 + now.max(live.last().map_or(0, |l| l.0));
            book.merge_history(1, 100, ist_day(T0), &history, now);
            let after = book.series(1).unwrap().minutes();
            for pair in after.windows(2) {
                proptest::prop_assert!(pair[0].t < pair[1].t, "sorted, no minute twice");
            }
            for c in &before {
                proptest::prop_assert!(after.contains(c), "live minute {c:?} changed or lost");
            }
            let first_live = before.first().map_or(i64::MAX, |c| c.t);
            for c in after.iter().filter(|c| !before.contains(c)) {
                proptest::prop_assert!(c.t < first_live && c.t < bucket(now, 1));
                proptest::prop_assert!(history.contains(c));
            }
        }

        /// Candles never lose the newest price and stay internally consistent.
        #[test]
        fn candles_are_consistent(prices in proptest::collection::vec((0i64..600, 1i64..10_000), 1..200)) {
            let mut b = CandleBook::new();
            let mut sorted = prices.clone();
            sorted.sort_by_key(|(dt, _)| *dt);
            let mut vol = 0;
            for (dt, p) in &sorted {
                vol += 7;
                b.on_tick(&tick(T0 + dt, *p, vol));
            }
            let mins = b.series(1).unwrap().minutes();
            for c in &mins {
                proptest::prop_assert!(c.low <= c.open && c.open <= c.high);
                proptest::prop_assert!(c.low <= c.close && c.close <= c.high);
            }
            proptest::prop_assert_eq!(mins.last().unwrap().close, sorted.last().unwrap().1);
            let total: u64 = mins.iter().map(|c| c.volume).sum();
            proptest::prop_assert_eq!(total, 7 * (sorted.len() as u64 - 1));
        }
    }
}

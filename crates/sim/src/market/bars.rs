//! One instrument's 1-minute candles, kept as the market updates it: what a client subscribed
//! all along would have built from its ticks, so the historical endpoints agree with the feed.
//! Volume is the day volume traded within the minute (the delta of the cumulative volume).

use super::model::Quote;
use std::collections::VecDeque;

/// Most minutes kept per instrument: a long special session plus margin.
const MAX_MINUTES: usize = 1_500;

/// One minute's candle, prices in wire units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteBar {
    /// Start of the minute, Unix seconds.
    pub t: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: u64,
}

/// The minutes of one instrument, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bars {
    minutes: VecDeque<MinuteBar>,
    /// Cumulative volume after the previous update (`None` before the first one).
    last_volume: Option<u64>,
    /// The IST day of the previous update: the cumulative volume restarts with a new day.
    last_day: Option<chrono::NaiveDate>,
}

impl Bars {
    /// The minutes of an instrument whose state at start-up (`secs`, IST day `day`) is
    /// `quote`: a subscriber's first tick is that state, so its price opens the first minute
    /// (with no volume: what traded before is not this minute's).
    pub(crate) fn starting_with(quote: &Quote, secs: i64, day: chrono::NaiveDate) -> Self {
        let mut bars = Self {
            last_volume: Some(quote.volume),
            last_day: Some(day),
            ..Self::default()
        };
        bars.record(quote, secs, day);
        bars
    }

    /// Records an update at `secs` on IST day `day` that left the instrument at `quote`.
    pub(crate) fn record(&mut self, quote: &Quote, secs: i64, day: chrono::NaiveDate) {
        let before = match (self.last_volume, self.last_day) {
            (Some(v), Some(d)) if d == day => v,
            // The first update seen traded its last quantity on top of the opening volume.
            (None, _) => quote.volume.saturating_sub(quote.last_quantity),
            // A new session: the model counts the day's volume afresh.
            _ => 0,
        };
        let traded = quote.volume.saturating_sub(before);
        self.last_volume = Some(quote.volume);
        self.last_day = Some(day);
        let minute = secs.div_euclid(60) * 60;
        let price = quote.last_price;
        match self.minutes.back_mut() {
            Some(bar) if bar.t == minute => {
                bar.high = bar.high.max(price);
                bar.low = bar.low.min(price);
                bar.close = price;
                bar.volume = bar.volume.saturating_add(traded);
            }
            _ => {
                self.minutes.push_back(MinuteBar {
                    t: minute,
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                    volume: traded,
                });
                if self.minutes.len() > MAX_MINUTES {
                    self.minutes.pop_front();
                }
            }
        }
    }

    /// The minutes starting in `from..=to` (Unix seconds), oldest first.
    pub(crate) fn between(&self, from: i64, to: i64) -> Vec<MinuteBar> {
        self.minutes
            .iter()
            .filter(|b| b.t >= from && b.t <= to)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(price: i64, volume: u64, qty: u64) -> Quote {
        Quote {
            last_price: price,
            volume,
            last_quantity: qty,
            ..Quote::default()
        }
    }

    #[test]
    fn minutes_take_ohlc_and_the_volume_traded_in_them() {
        let day: chrono::NaiveDate = "2026-11-23".parse().unwrap();
        let mut bars = Bars::default();
        let t0 = 1_795_000_040; // 20 s into a minute
        bars.record(&quote(100, 1_010, 10), t0, day);
        bars.record(&quote(105, 1_030, 20), t0 + 10, day);
        bars.record(&quote(98, 1_031, 1), t0 + 20, day);
        bars.record(&quote(99, 1_040, 9), t0 + 45, day);
        let all = bars.between(0, i64::MAX);
        let m = t0 - 20;
        assert_eq!(
            all,
            vec![
                MinuteBar {
                    t: m,
                    open: 100,
                    high: 105,
                    low: 98,
                    close: 98,
                    volume: 31
                },
                MinuteBar {
                    t: m + 60,
                    open: 99,
                    high: 99,
                    low: 99,
                    close: 99,
                    volume: 9
                },
            ]
        );
        assert_eq!(bars.between(m + 1, m + 60).len(), 1);
    }

    #[test]
    fn a_new_day_counts_volume_afresh() {
        let d1: chrono::NaiveDate = "2026-11-23".parse().unwrap();
        let d2: chrono::NaiveDate = "2026-11-24".parse().unwrap();
        let mut bars = Bars::default();
        bars.record(&quote(100, 5_000, 10), 1_000_000_020, d1);
        bars.record(&quote(100, 7, 7), 1_000_086_420, d2);
        assert_eq!(bars.between(1_000_086_000, i64::MAX)[0].volume, 7);
    }
}

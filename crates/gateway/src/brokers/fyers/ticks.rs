//! Merged data-socket topic state → normalised [`Tick`]s: a scrip's `sf` state (plus its `dp`
//! depth state in `full` mode) or an index's `if` state, at the mode the demand asks for, so a
//! Fyers tick carries exactly the fields a Kite tick of the same mode carries.
//!
//! Prices become integers at the instrument's divisor: `raw × divisor / (10^precision ×
//! multiplier)`, exact whenever the topic's scale divides evenly (always, for prices on the tick
//! grid; see [`super::master`] for how divisors are chosen), otherwise rounded half away from
//! zero. Values the server marked "not available" (INT32_MIN, already merged away by the
//! `SnapshotStore`) are absent: prices read as 0 like Kite's empty fields, timestamps as `None`.

use crate::brokers::depth;
use crate::brokers::fyers::units::units;
use crate::model::tick::{Depth, Full, Level, Mode, Quote, Source, Tick, Token};
use feedgate_fyers::Scale;
use feedgate_fyers::hsm::{
    DepthColumn, DepthField, IndexField, ScripField, Side, TopicKind, TopicState,
};

fn qty(v: Option<i32>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

fn epoch(v: Option<i32>) -> Option<i64> {
    v.map(i64::from).filter(|s| *s > 0)
}

/// The tick for a scrip or index topic's state (`quote`), with the scrip's depth state when
/// there is one. `None` when the state has no price yet.
pub fn build(
    token: Token,
    divisor: u32,
    mode: Mode,
    quote: &TopicState,
    depth: Option<&TopicState>,
    received_ms: i64,
) -> Option<Tick> {
    let price = Prices {
        scale: quote.scale(),
        divisor,
    };
    let ltp = price.of(quote.ltp())?;
    let (quote, full) = match quote.kind() {
        TopicKind::Index => (
            (mode >= Mode::Quote).then(|| index_quote(quote, price)),
            (mode == Mode::Full).then(|| index_full(quote)),
        ),
        TopicKind::Scrip => (
            (mode >= Mode::Quote).then(|| scrip_quote(quote, price)),
            (mode == Mode::Full).then(|| scrip_full(quote, depth, price)),
        ),
        TopicKind::Depth => return None,
    };
    Some(Tick {
        token,
        divisor,
        ltp,
        quote,
        full,
        received_ms,
        src: Source::Ws,
    })
}

/// A topic's prices at the instrument's divisor.
#[derive(Debug, Clone, Copy)]
struct Prices {
    scale: Scale,
    divisor: u32,
}

impl Prices {
    fn of(self, v: Option<i32>) -> Option<i64> {
        v.and_then(|v| units(v, self.scale, self.divisor))
    }

    /// An absent price reads as 0, like Kite's empty fields.
    fn or_zero(self, v: Option<i32>) -> i64 {
        self.of(v).unwrap_or(0)
    }
}

fn index_quote(state: &TopicState, price: Prices) -> Quote {
    let f = |field| price.or_zero(state.index_value(field));
    Quote {
        open: f(IndexField::OpenPrice),
        high: f(IndexField::HighPrice),
        low: f(IndexField::LowPrice),
        close: f(IndexField::PrevClosePrice),
        ..Quote::default()
    }
}

fn index_full(state: &TopicState) -> Full {
    Full {
        exchange_ts: epoch(state.index_value(IndexField::ExchFeedTime)),
        ..Full::default()
    }
}

fn scrip_quote(state: &TopicState, price: Prices) -> Quote {
    let f = |field| state.scrip(field);
    Quote {
        open: price.or_zero(f(ScripField::OpenPrice)),
        high: price.or_zero(f(ScripField::HighPrice)),
        low: price.or_zero(f(ScripField::LowPrice)),
        close: price.or_zero(f(ScripField::PrevClosePrice)),
        volume: Some(qty(f(ScripField::VolTradedToday))),
        last_qty: Some(qty(f(ScripField::LastTradedQty))),
        avg_price: Some(price.or_zero(f(ScripField::AvgTradePrice))),
        buy_qty: Some(qty(f(ScripField::TotBuyQty))),
        sell_qty: Some(qty(f(ScripField::TotSellQty))),
    }
}

/// The scrip's `full` fields, with five levels a side from its depth state, or only the best
/// bid and ask of the scrip feed while there is no depth snapshot yet.
fn scrip_full(state: &TopicState, depth: Option<&TopicState>, price: Prices) -> Full {
    let f = |field| state.scrip(field);
    let depth = match depth {
        Some(d) => levels(d, price.divisor),
        None => depth::top_of_book(
            Level {
                price: price.or_zero(f(ScripField::BidPrice)),
                quantity: qty(f(ScripField::BidSize)),
                orders: 0,
            },
            Level {
                price: price.or_zero(f(ScripField::AskPrice)),
                quantity: qty(f(ScripField::AskSize)),
                orders: 0,
            },
        ),
    };
    Full {
        exchange_ts: epoch(f(ScripField::ExchFeedTime)),
        last_trade_ts: epoch(f(ScripField::LastTradedTime)),
        oi: Some(qty(f(ScripField::OpenInterest))),
        oi_day_high: None,
        oi_day_low: None,
        depth: Some(depth),
    }
}

/// Five levels a side from a `dp` state (its own price scale).
fn levels(d: &TopicState, divisor: u32) -> Depth {
    let price = Prices {
        scale: d.scale(),
        divisor,
    };
    let side = move |side| {
        (1..=5u8).map(move |n| {
            let value = |column| DepthField::new(side, column, n).and_then(|field| d.depth(field));
            Level {
                price: price.or_zero(value(DepthColumn::Price)),
                quantity: qty(value(DepthColumn::Size)),
                orders: u32::try_from(qty(value(DepthColumn::Orders))).unwrap_or(u32::MAX),
            }
        })
    };
    depth::from_levels(side(Side::Bid), side(Side::Ask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_fyers::hsm::{NO_VALUE, Record, Snapshot, SnapshotStore, TopicName};

    fn snapshot(id: u16, topic: &str, values: Vec<i32>, multiplier: u16, precision: u8) -> Record {
        Record::Snapshot(Snapshot {
            topic_id: id,
            topic: TopicName::new(topic).unwrap(),
            values,
            reserved: 0,
            multiplier,
            precision,
            exchange: String::new(),
            exchange_token: String::new(),
            symbol: String::new(),
        })
    }

    /// The spec's §9.2 scrip snapshot values (SBIN, precision 2).
    fn sbin_values() -> Vec<i32> {
        vec![
            81_255,
            12_345_678,
            1_700_000_000,
            1_700_000_001,
            150,
            200,
            81_250,
            81_260,
            10,
            500_000,
            600_000,
            81_000,
            NO_VALUE,
            80_500,
            81_500,
            91_200,
            55_500,
            73_100,
            89_300,
            81_000,
            80_900,
        ]
    }

    #[test]
    fn scrip_ticks_carry_the_fields_of_their_mode() {
        let mut store = SnapshotStore::new();
        store
            .apply(&snapshot(1, "sf|nse_cm|3045", sbin_values(), 1, 2))
            .unwrap();
        let sf = store.get(1).unwrap();
        let ltp = build(779_521, 100, Mode::Ltp, sf, None, 5).unwrap();
        assert_eq!((ltp.ltp, ltp.quote, ltp.full), (81_255, None, None));
        let q = build(779_521, 100, Mode::Quote, sf, None, 5).unwrap();
        let quote = q.quote.unwrap();
        assert_eq!(
            (quote.open, quote.high, quote.low, quote.close),
            (81_000, 81_500, 80_500, 80_900)
        );
        assert_eq!(quote.volume, Some(12_345_678));
        assert_eq!((quote.last_qty, quote.avg_price), (Some(10), Some(81_000)));
        assert_eq!(
            (quote.buy_qty, quote.sell_qty),
            (Some(500_000), Some(600_000))
        );
        assert!(q.full.is_none());
        let f = build(779_521, 100, Mode::Full, sf, None, 5).unwrap();
        let full = f.full.unwrap();
        assert_eq!(full.exchange_ts, Some(1_700_000_001));
        assert_eq!(full.last_trade_ts, Some(1_700_000_000));
        assert_eq!(
            full.oi,
            Some(0),
            "INT32_MIN open interest reads as 0, as Kite's"
        );
        let depth = full.depth.unwrap();
        assert_eq!((depth.buy[0].price, depth.buy[0].quantity), (81_250, 150));
        assert_eq!((depth.sell[0].price, depth.sell[0].quantity), (81_260, 200));
    }

    #[test]
    fn depth_comes_from_the_depth_topic_and_indices_from_theirs() {
        let mut store = SnapshotStore::new();
        store
            .apply(&snapshot(1, "sf|nse_cm|3045", sbin_values(), 1, 2))
            .unwrap();
        let mut dp: Vec<i32> = (0..5).map(|i| 81_250 - 5 * i).collect();
        dp.extend((0..5).map(|i| 81_260 + 5 * i));
        dp.extend((1..=5).map(|i| i * 100));
        dp.extend((1..=5).map(|i| i * 110));
        dp.extend(1..=5);
        dp.extend(6..=10);
        store
            .apply(&snapshot(2, "dp|nse_cm|3045", dp, 1, 2))
            .unwrap();
        let t = build(
            779_521,
            100,
            Mode::Full,
            store.get(1).unwrap(),
            store.get(2),
            5,
        )
        .unwrap();
        let depth = t.full.unwrap().depth.unwrap();
        assert_eq!(
            depth.buy[4],
            Level {
                price: 81_230,
                quantity: 500,
                orders: 5
            }
        );
        assert_eq!(
            depth.sell[0],
            Level {
                price: 81_260,
                quantity: 110,
                orders: 6
            }
        );

        // §9.2 index snapshot, Nifty 50.
        store
            .apply(&snapshot(
                3,
                "if|nse_cm|Nifty 50",
                vec![
                    1_965_050,
                    1_950_000,
                    1_700_000_002,
                    1_970_000,
                    1_940_000,
                    1_950_500,
                ],
                1,
                2,
            ))
            .unwrap();
        let idx = store.get(3).unwrap();
        let t = build(256_265, 100, Mode::Full, idx, None, 5).unwrap();
        let q = t.quote.unwrap();
        assert_eq!(t.ltp, 1_965_050);
        assert_eq!(
            (q.open, q.high, q.low, q.close),
            (1_950_500, 1_970_000, 1_940_000, 1_950_000)
        );
        assert_eq!(q.volume, None, "indices carry no volume");
        let f = t.full.unwrap();
        assert_eq!(
            (f.exchange_ts, f.depth, f.oi),
            (Some(1_700_000_002), None, None)
        );
        assert!(build(1, 100, Mode::Full, store.get(2).unwrap(), None, 5).is_none());
    }
}

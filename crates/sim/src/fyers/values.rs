//! The broker-neutral market state as data-socket values (spec §6.7): the positional `i32`
//! lists of scrip (21), index (6) and depth (30) records, and the diff of two such lists that an
//! `U` record carries (unchanged positions as `INT32_MIN`, trailing ones left out). Pure.
//!
//! Choices: prices are the universe's wire units (multiplier 1, precision = the instrument's
//! decimals), so Fyers and Kite carry the same integers; quantities saturate at `i32::MAX`;
//! open interest is "not available" for non-derivatives, and the 52-week high/low (which the
//! market model does not track) always are.

use crate::market::{DEPTH_LEVELS, Quote};
use feedgate_fyers::hsm::{IndexField, NO_VALUE, ScripField, TopicKind};

/// The values of a full `S` record of `kind` for `q`. `derivative` decides whether OI exists.
pub(crate) fn values(kind: TopicKind, q: &Quote, derivative: bool) -> Vec<i32> {
    match kind {
        TopicKind::Scrip => scrip(q, derivative).to_vec(),
        TopicKind::Index => index(q).to_vec(),
        TopicKind::Depth => depth(q),
    }
}

/// The last traded price as a socket value.
pub(crate) fn ltp(q: &Quote) -> i32 {
    price(q.last_price)
}

fn scrip(q: &Quote, derivative: bool) -> [i32; 21] {
    let mut v = [NO_VALUE; 21];
    let mut set = |field: ScripField, value: i32| {
        if let Some(slot) = v.get_mut(field.index()) {
            *slot = value;
        }
    };
    set(ScripField::Ltp, price(q.last_price));
    set(ScripField::VolTradedToday, qty(q.volume));
    set(ScripField::LastTradedTime, secs(q.last_trade_time));
    set(ScripField::ExchFeedTime, secs(q.exchange_time));
    set(ScripField::BidSize, qty(q.bids[0].quantity));
    set(ScripField::AskSize, qty(q.asks[0].quantity));
    set(ScripField::BidPrice, price(q.bids[0].price));
    set(ScripField::AskPrice, price(q.asks[0].price));
    set(ScripField::LastTradedQty, qty(q.last_quantity));
    set(ScripField::TotBuyQty, qty(q.buy_quantity));
    set(ScripField::TotSellQty, qty(q.sell_quantity));
    set(ScripField::AvgTradePrice, price(q.average_price));
    if derivative {
        set(ScripField::OpenInterest, qty(q.oi));
    }
    set(ScripField::LowPrice, price(q.low));
    set(ScripField::HighPrice, price(q.high));
    set(ScripField::LowerCircuit, price(q.lower_circuit));
    set(ScripField::UpperCircuit, price(q.upper_circuit));
    set(ScripField::OpenPrice, price(q.open));
    set(ScripField::PrevClosePrice, price(q.close));
    v
}

fn index(q: &Quote) -> [i32; 6] {
    let mut v = [NO_VALUE; 6];
    for (field, value) in [
        (IndexField::Ltp, price(q.last_price)),
        (IndexField::PrevClosePrice, price(q.close)),
        (IndexField::ExchFeedTime, secs(q.exchange_time)),
        (IndexField::HighPrice, price(q.high)),
        (IndexField::LowPrice, price(q.low)),
        (IndexField::OpenPrice, price(q.open)),
    ] {
        if let Some(slot) = v.get_mut(field.index()) {
            *slot = value;
        }
    }
    v
}

/// Bid prices 1–5, ask prices 1–5, bid sizes, ask sizes, bid orders, ask orders.
fn depth(q: &Quote) -> Vec<i32> {
    let mut v = Vec::with_capacity(6 * DEPTH_LEVELS);
    v.extend(q.bids.iter().map(|l| price(l.price)));
    v.extend(q.asks.iter().map(|l| price(l.price)));
    v.extend(q.bids.iter().map(|l| qty(l.quantity)));
    v.extend(q.asks.iter().map(|l| qty(l.quantity)));
    v.extend(q.bids.iter().map(|l| qty(u64::from(l.orders))));
    v.extend(q.asks.iter().map(|l| qty(u64::from(l.orders))));
    v
}

/// The `U` values taking `old` to `new`: changed positions carry the new value, unchanged ones
/// `INT32_MIN`, trailing unchanged positions are dropped. `None` when nothing changed.
pub(crate) fn diff(old: &[i32], new: &[i32]) -> Option<Vec<i32>> {
    let mut out: Vec<i32> = new
        .iter()
        .enumerate()
        .map(|(i, v)| if old.get(i) == Some(v) { NO_VALUE } else { *v })
        .collect();
    while out.last() == Some(&NO_VALUE) {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// Prices: the universe keeps them inside `i32` (see `kite::packets`); saturate otherwise, but
/// never onto `INT32_MIN`, which means "no value".
fn price(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { NO_VALUE + 1 } else { i32::MAX })
}

fn qty(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn secs(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Level;

    fn quote() -> Quote {
        let mut q = Quote {
            last_price: 81_255,
            volume: 12_345_678,
            last_trade_time: 1_700_000_000,
            exchange_time: 1_700_000_001,
            last_quantity: 10,
            buy_quantity: 500_000,
            sell_quantity: 600_000,
            average_price: 81_000,
            low: 80_500,
            high: 81_500,
            lower_circuit: 73_100,
            upper_circuit: 89_300,
            open: 81_000,
            close: 80_900,
            oi: 77,
            ..Quote::default()
        };
        for i in 0..DEPTH_LEVELS {
            let step = i64::try_from(i).unwrap() * 5;
            let n = u64::try_from(i).unwrap();
            q.bids[i] = Level {
                price: 81_250 - step,
                quantity: 150 + n,
                orders: 1 + u32::try_from(i).unwrap(),
            };
            q.asks[i] = Level {
                price: 81_260 + step,
                quantity: 200 + n,
                orders: 10 + u32::try_from(i).unwrap(),
            };
        }
        q
    }

    #[test]
    fn scrip_values_follow_the_spec_vector_order() {
        // spec §9.2's SBIN snapshot, minus the fields the model does not have (52-week range).
        let v = values(TopicKind::Scrip, &quote(), false);
        assert_eq!(
            v,
            [
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
                NO_VALUE,
                NO_VALUE,
                73_100,
                89_300,
                81_000,
                80_900
            ]
        );
        assert_eq!(values(TopicKind::Scrip, &quote(), true)[12], 77);
    }

    #[test]
    fn index_and_depth_values() {
        let q = quote();
        assert_eq!(
            values(TopicKind::Index, &q, false),
            [81_255, 80_900, 1_700_000_001, 81_500, 80_500, 81_000]
        );
        let d = values(TopicKind::Depth, &q, false);
        assert_eq!(d.len(), 30);
        assert_eq!(&d[..2], &[81_250, 81_245]);
        assert_eq!(d[5], 81_260);
        assert_eq!(&d[10..12], &[150, 151]);
        assert_eq!(d[15], 200);
        assert_eq!(d[20], 1);
        assert_eq!(d[29], 14);
    }

    #[test]
    fn diff_table() {
        type Case<'a> = (&'a [i32], &'a [i32], Option<Vec<i32>>);
        let m = NO_VALUE;
        let cases: [Case<'_>; 5] = [
            (&[1, 2, 3], &[1, 2, 3], None),
            (&[1, 2, 3], &[9, 2, 3], Some(vec![9])),
            (&[1, 2, 3], &[1, 2, 9], Some(vec![m, m, 9])),
            (&[1, 2, 3], &[1, 8, 3], Some(vec![m, 8])),
            (&[1, 2], &[1, 2, 3], Some(vec![m, m, 3])),
        ];
        for (old, new, want) in cases {
            assert_eq!(diff(old, new), want, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn conversions_never_produce_the_no_value_marker() {
        assert_eq!(price(i64::MIN), NO_VALUE + 1);
        assert_eq!(price(i64::MAX), i32::MAX);
        assert_eq!(qty(u64::MAX), i32::MAX);
        assert_eq!(secs(-5_000_000_000), 0);
    }
}

//! The normalised order-book [`Depth`] built from a broker's levels: five a side from what
//! the broker lists, or only the best bid and ask where that is all it gives. Shared by the
//! Kite and Fyers conversions (REST quotes and socket ticks); the levels themselves (prices at
//! the divisor, counts) are each broker's to convert.

use crate::model::tick::{Depth, Level};

/// Up to five levels a side, best first; levels the broker does not list stay empty.
pub fn from_levels(
    buy: impl IntoIterator<Item = Level>,
    sell: impl IntoIterator<Item = Level>,
) -> Depth {
    let mut depth = Depth::default();
    for (slot, level) in depth.buy.iter_mut().zip(buy) {
        *slot = level;
    }
    for (slot, level) in depth.sell.iter_mut().zip(sell) {
        *slot = level;
    }
    depth
}

/// Only the best bid and ask.
pub fn top_of_book(bid: Level, ask: Level) -> Depth {
    let mut depth = Depth::default();
    depth.buy[0] = bid;
    depth.sell[0] = ask;
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(price: i64) -> Level {
        Level {
            price,
            quantity: 1,
            orders: 1,
        }
    }

    #[test]
    fn levels_fill_from_the_best_and_extra_ones_are_ignored() {
        let d = from_levels((1..=7).map(at), [at(9)]);
        assert_eq!(d.buy.map(|l| l.price), [1, 2, 3, 4, 5]);
        assert_eq!(d.sell.map(|l| l.price), [9, 0, 0, 0, 0]);
        let t = top_of_book(at(4), at(6));
        assert_eq!((t.buy[0], t.sell[0]), (at(4), at(6)));
        assert_eq!((t.buy[1], t.sell[4]), (Level::default(), Level::default()));
    }
}

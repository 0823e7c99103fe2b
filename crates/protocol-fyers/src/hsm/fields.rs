//! The positional field lists of data records (spec §6.7; `data_val`, `index_val` and
//! `depthvalue` in the official client's `map.json`): which value index means what, and whether
//! it is a price (scaled by the topic's [`crate::price::Scale`]), a quantity or a timestamp.
//!
//! The official Python client drops `OI`, `Yhigh` and `Ylow` and always emits the circuit limits
//! as 0; we keep them and classify 52-week high/low and circuit limits as prices, which is what
//! their values are in the spec's vectors (91200 → 912.00 for SBIN).

use super::topic::TopicKind;

/// How a value is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A price: `raw / (10^precision × multiplier)`.
    Price,
    /// A count (volume, quantity, orders, open interest): passed through.
    Quantity,
    /// Epoch seconds.
    EpochSeconds,
}

/// Value positions of a scrip (`sf`) record: 21 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScripField {
    /// 0: last traded price.
    Ltp,
    /// 1: volume traded today.
    VolTradedToday,
    /// 2: last traded time.
    LastTradedTime,
    /// 3: exchange feed time.
    ExchFeedTime,
    /// 4: best bid quantity.
    BidSize,
    /// 5: best ask quantity.
    AskSize,
    /// 6: best bid price.
    BidPrice,
    /// 7: best ask price.
    AskPrice,
    /// 8: last traded quantity.
    LastTradedQty,
    /// 9: total buy quantity.
    TotBuyQty,
    /// 10: total sell quantity.
    TotSellQty,
    /// 11: average traded price.
    AvgTradePrice,
    /// 12: open interest.
    OpenInterest,
    /// 13: day low.
    LowPrice,
    /// 14: day high.
    HighPrice,
    /// 15: 52-week high.
    YearHigh,
    /// 16: 52-week low.
    YearLow,
    /// 17: lower circuit limit.
    LowerCircuit,
    /// 18: upper circuit limit.
    UpperCircuit,
    /// 19: day open.
    OpenPrice,
    /// 20: previous close.
    PrevClosePrice,
}

impl ScripField {
    /// All fields in wire order (`ALL[i].index() == i`).
    pub const ALL: [ScripField; 21] = [
        Self::Ltp,
        Self::VolTradedToday,
        Self::LastTradedTime,
        Self::ExchFeedTime,
        Self::BidSize,
        Self::AskSize,
        Self::BidPrice,
        Self::AskPrice,
        Self::LastTradedQty,
        Self::TotBuyQty,
        Self::TotSellQty,
        Self::AvgTradePrice,
        Self::OpenInterest,
        Self::LowPrice,
        Self::HighPrice,
        Self::YearHigh,
        Self::YearLow,
        Self::LowerCircuit,
        Self::UpperCircuit,
        Self::OpenPrice,
        Self::PrevClosePrice,
    ];

    /// Position in the record.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The official client's key for it (`OI`, `Yhigh`, `Ylow` as in `map.json`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ltp => "ltp",
            Self::VolTradedToday => "vol_traded_today",
            Self::LastTradedTime => "last_traded_time",
            Self::ExchFeedTime => "exch_feed_time",
            Self::BidSize => "bid_size",
            Self::AskSize => "ask_size",
            Self::BidPrice => "bid_price",
            Self::AskPrice => "ask_price",
            Self::LastTradedQty => "last_traded_qty",
            Self::TotBuyQty => "tot_buy_qty",
            Self::TotSellQty => "tot_sell_qty",
            Self::AvgTradePrice => "avg_trade_price",
            Self::OpenInterest => "OI",
            Self::LowPrice => "low_price",
            Self::HighPrice => "high_price",
            Self::YearHigh => "Yhigh",
            Self::YearLow => "Ylow",
            Self::LowerCircuit => "lower_ckt",
            Self::UpperCircuit => "upper_ckt",
            Self::OpenPrice => "open_price",
            Self::PrevClosePrice => "prev_close_price",
        }
    }

    /// How the value is interpreted.
    pub const fn kind(self) -> ValueKind {
        match self {
            Self::Ltp
            | Self::BidPrice
            | Self::AskPrice
            | Self::AvgTradePrice
            | Self::LowPrice
            | Self::HighPrice
            | Self::YearHigh
            | Self::YearLow
            | Self::LowerCircuit
            | Self::UpperCircuit
            | Self::OpenPrice
            | Self::PrevClosePrice => ValueKind::Price,
            Self::LastTradedTime | Self::ExchFeedTime => ValueKind::EpochSeconds,
            Self::VolTradedToday
            | Self::BidSize
            | Self::AskSize
            | Self::LastTradedQty
            | Self::TotBuyQty
            | Self::TotSellQty
            | Self::OpenInterest => ValueKind::Quantity,
        }
    }
}

/// Value positions of an index (`if`) record: 6 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexField {
    /// 0: index value.
    Ltp,
    /// 1: previous close.
    PrevClosePrice,
    /// 2: exchange feed time.
    ExchFeedTime,
    /// 3: day high.
    HighPrice,
    /// 4: day low.
    LowPrice,
    /// 5: day open.
    OpenPrice,
}

impl IndexField {
    /// All fields in wire order.
    pub const ALL: [IndexField; 6] = [
        Self::Ltp,
        Self::PrevClosePrice,
        Self::ExchFeedTime,
        Self::HighPrice,
        Self::LowPrice,
        Self::OpenPrice,
    ];

    /// Position in the record.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The official client's key for it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ltp => "ltp",
            Self::PrevClosePrice => "prev_close_price",
            Self::ExchFeedTime => "exch_feed_time",
            Self::HighPrice => "high_price",
            Self::LowPrice => "low_price",
            Self::OpenPrice => "open_price",
        }
    }

    /// How the value is interpreted.
    pub const fn kind(self) -> ValueKind {
        match self {
            Self::ExchFeedTime => ValueKind::EpochSeconds,
            _ => ValueKind::Price,
        }
    }
}

/// Book side of a depth value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy side.
    Bid,
    /// Sell side.
    Ask,
}

/// Which quantity of a depth level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepthColumn {
    /// Price of the level.
    Price,
    /// Quantity at the level.
    Size,
    /// Number of orders at the level.
    Orders,
}

/// Levels per side in a depth record.
pub const DEPTH_LEVELS: u8 = 5;

/// A value position of a depth (`dp`) record: 30 values, laid out as bid prices 1–5, ask prices
/// 1–5, bid sizes, ask sizes, bid orders, ask orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepthField {
    /// Side.
    pub side: Side,
    /// Column.
    pub column: DepthColumn,
    /// Level 1..=5 (1 = best).
    pub level: u8,
}

const DEPTH_NAMES: [&str; 30] = [
    "bid_price1",
    "bid_price2",
    "bid_price3",
    "bid_price4",
    "bid_price5",
    "ask_price1",
    "ask_price2",
    "ask_price3",
    "ask_price4",
    "ask_price5",
    "bid_size1",
    "bid_size2",
    "bid_size3",
    "bid_size4",
    "bid_size5",
    "ask_size1",
    "ask_size2",
    "ask_size3",
    "ask_size4",
    "ask_size5",
    "bid_order1",
    "bid_order2",
    "bid_order3",
    "bid_order4",
    "bid_order5",
    "ask_order1",
    "ask_order2",
    "ask_order3",
    "ask_order4",
    "ask_order5",
];

impl DepthField {
    /// A depth field; `None` unless `level` is 1..=5.
    pub const fn new(side: Side, column: DepthColumn, level: u8) -> Option<Self> {
        if level >= 1 && level <= DEPTH_LEVELS {
            Some(Self {
                side,
                column,
                level,
            })
        } else {
            None
        }
    }

    /// Position in the record.
    pub const fn index(self) -> usize {
        let column = match self.column {
            DepthColumn::Price => 0,
            DepthColumn::Size => 10,
            DepthColumn::Orders => 20,
        };
        let side = match self.side {
            Side::Bid => 0,
            Side::Ask => 5,
        };
        column + side + (self.level as usize).saturating_sub(1)
    }

    /// The field at a position, if `index < 30`.
    pub const fn from_index(index: usize) -> Option<Self> {
        if index >= 30 {
            return None;
        }
        let column = match index / 10 {
            0 => DepthColumn::Price,
            1 => DepthColumn::Size,
            _ => DepthColumn::Orders,
        };
        let side = if index % 10 < 5 { Side::Bid } else { Side::Ask };
        Some(Self {
            side,
            column,
            level: (index % 5) as u8 + 1,
        })
    }

    /// The official client's key for it, e.g. `bid_price1`.
    pub fn name(self) -> &'static str {
        DEPTH_NAMES.get(self.index()).copied().unwrap_or("")
    }

    /// How the value is interpreted.
    pub const fn kind(self) -> ValueKind {
        match self.column {
            DepthColumn::Price => ValueKind::Price,
            DepthColumn::Size | DepthColumn::Orders => ValueKind::Quantity,
        }
    }
}

impl TopicKind {
    /// Number of values in a full snapshot of this kind (21, 6, 30).
    pub const fn value_count(self) -> usize {
        match self {
            TopicKind::Scrip => ScripField::ALL.len(),
            TopicKind::Index => IndexField::ALL.len(),
            TopicKind::Depth => DEPTH_NAMES.len(),
        }
    }

    /// The official client's key for a value position, if the position is in the list.
    pub fn field_name(self, index: usize) -> Option<&'static str> {
        match self {
            TopicKind::Scrip => ScripField::ALL.get(index).map(|f| f.name()),
            TopicKind::Index => IndexField::ALL.get(index).map(|f| f.name()),
            TopicKind::Depth => DepthField::from_index(index).map(DepthField::name),
        }
    }

    /// How the value at a position is interpreted, if the position is in the list.
    pub fn value_kind(self, index: usize) -> Option<ValueKind> {
        match self {
            TopicKind::Scrip => ScripField::ALL.get(index).map(|f| f.kind()),
            TopicKind::Index => IndexField::ALL.get(index).map(|f| f.kind()),
            TopicKind::Depth => DepthField::from_index(index).map(DepthField::kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_match_map_json() {
        let scrip: Vec<_> = ScripField::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            scrip,
            [
                "ltp",
                "vol_traded_today",
                "last_traded_time",
                "exch_feed_time",
                "bid_size",
                "ask_size",
                "bid_price",
                "ask_price",
                "last_traded_qty",
                "tot_buy_qty",
                "tot_sell_qty",
                "avg_trade_price",
                "OI",
                "low_price",
                "high_price",
                "Yhigh",
                "Ylow",
                "lower_ckt",
                "upper_ckt",
                "open_price",
                "prev_close_price"
            ]
        );
        for (i, field) in ScripField::ALL.iter().enumerate() {
            assert_eq!(field.index(), i);
        }
        let index: Vec<_> = IndexField::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            index,
            [
                "ltp",
                "prev_close_price",
                "exch_feed_time",
                "high_price",
                "low_price",
                "open_price"
            ]
        );
        for (i, name) in DEPTH_NAMES.iter().enumerate() {
            let field = DepthField::from_index(i).unwrap();
            assert_eq!(field.index(), i);
            assert_eq!(
                Some(field),
                DepthField::new(field.side, field.column, field.level)
            );
            assert_eq!(TopicKind::Depth.field_name(i), Some(*name));
        }
        assert_eq!(DepthField::from_index(30), None);
        assert_eq!(DepthField::new(Side::Bid, DepthColumn::Price, 0), None);
        assert_eq!(DepthField::new(Side::Bid, DepthColumn::Price, 6), None);
        let ask_orders_5 = DepthField::new(Side::Ask, DepthColumn::Orders, 5).unwrap();
        assert_eq!(
            (ask_orders_5.index(), ask_orders_5.name()),
            (29, "ask_order5")
        );
    }

    #[test]
    fn kinds_and_counts() {
        assert_eq!(TopicKind::Scrip.value_count(), 21);
        assert_eq!(TopicKind::Index.value_count(), 6);
        assert_eq!(TopicKind::Depth.value_count(), 30);
        assert_eq!(TopicKind::Scrip.value_kind(0), Some(ValueKind::Price));
        assert_eq!(
            TopicKind::Scrip.value_kind(2),
            Some(ValueKind::EpochSeconds)
        );
        assert_eq!(TopicKind::Scrip.value_kind(12), Some(ValueKind::Quantity));
        assert_eq!(
            TopicKind::Index.value_kind(2),
            Some(ValueKind::EpochSeconds)
        );
        assert_eq!(TopicKind::Depth.value_kind(12), Some(ValueKind::Quantity));
        assert_eq!(TopicKind::Scrip.value_kind(21), None);
        assert_eq!(TopicKind::Index.field_name(6), None);
    }
}

//! Kite ticker binary packets, mirroring the wire exactly (kite.md §3).
//!
//! Prices are the raw signed wire integers in the segment's unit (divide by
//! [`crate::Segment::price_divisor`] at the edge). Quantities, volume and OI are unsigned.
//! Timestamps are Unix epoch seconds as sent.

use crate::segment::{InstrumentToken, Segment};
use serde::{Deserialize, Serialize};

/// Subscription mode: the one definition in `feedgate-market` (Kite's three modes).
pub use feedgate_market::Mode;

/// Open/high/low/close in wire units. Note the wire order differs: tradable packets carry
/// O,H,L,C and index packets H,L,O,C; this struct is the same for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ohlc {
    pub open: i32,
    pub high: i32,
    pub low: i32,
    pub close: i32,
}

/// One 12-byte depth entry: quantity, price, orders, then 2 padding bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DepthLevel {
    pub quantity: u32,
    pub price: i32,
    pub orders: u16,
}

/// Five bid levels and five ask levels, best price first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Depth {
    pub buy: [DepthLevel; 5],
    pub sell: [DepthLevel; 5],
}

/// 8 bytes: any instrument (indices too) in `ltp` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LtpPacket {
    pub token: InstrumentToken,
    pub last_price: i32,
}

/// 28 bytes: an index in `quote` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexQuotePacket {
    pub token: InstrumentToken,
    pub last_price: i32,
    pub ohlc: Ohlc,
    /// Bytes 24..28, signed "price change" in wire units; every official client ignores it.
    pub change: i32,
}

/// 32 bytes: an index in `full` mode (index quote + exchange timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFullPacket {
    pub quote: IndexQuotePacket,
    pub exchange_timestamp: u32,
}

/// 44 bytes: a tradable instrument in `quote` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotePacket {
    pub token: InstrumentToken,
    pub last_price: i32,
    pub last_traded_quantity: u32,
    pub average_traded_price: i32,
    pub volume_traded: u32,
    pub total_buy_quantity: u32,
    pub total_sell_quantity: u32,
    pub ohlc: Ohlc,
}

/// 184 bytes: a tradable instrument in `full` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullPacket {
    pub quote: QuotePacket,
    pub last_trade_time: u32,
    pub oi: u32,
    pub oi_day_high: u32,
    pub oi_day_low: u32,
    pub exchange_timestamp: u32,
    pub depth: Depth,
}

/// One market-data packet. The kind is identified on the wire by its length alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Packet {
    Ltp(LtpPacket),
    IndexQuote(IndexQuotePacket),
    IndexFull(IndexFullPacket),
    Quote(QuotePacket),
    Full(FullPacket),
}

impl Packet {
    pub const LTP_LEN: usize = 8;
    pub const INDEX_QUOTE_LEN: usize = 28;
    pub const INDEX_FULL_LEN: usize = 32;
    pub const QUOTE_LEN: usize = 44;
    pub const FULL_LEN: usize = 184;

    pub fn token(&self) -> InstrumentToken {
        match self {
            Self::Ltp(p) => p.token,
            Self::IndexQuote(p) => p.token,
            Self::IndexFull(p) => p.quote.token,
            Self::Quote(p) => p.token,
            Self::Full(p) => p.quote.token,
        }
    }

    pub fn last_price(&self) -> i32 {
        match self {
            Self::Ltp(p) => p.last_price,
            Self::IndexQuote(p) => p.last_price,
            Self::IndexFull(p) => p.quote.last_price,
            Self::Quote(p) => p.last_price,
            Self::Full(p) => p.quote.last_price,
        }
    }

    /// The segment, from the token's low byte.
    pub fn segment(&self) -> Segment {
        Segment::of_token(self.token())
    }

    /// `false` for indices, whatever the packet kind (an index LTP packet is 8 bytes too).
    pub fn is_tradable(&self) -> bool {
        !self.segment().is_index()
    }

    pub fn mode(&self) -> Mode {
        match self {
            Self::Ltp(_) => Mode::Ltp,
            Self::IndexQuote(_) | Self::Quote(_) => Mode::Quote,
            Self::IndexFull(_) | Self::Full(_) => Mode::Full,
        }
    }

    /// Encoded length in bytes (without the u16 length prefix).
    pub fn wire_len(&self) -> usize {
        match self {
            Self::Ltp(_) => Self::LTP_LEN,
            Self::IndexQuote(_) => Self::INDEX_QUOTE_LEN,
            Self::IndexFull(_) => Self::INDEX_FULL_LEN,
            Self::Quote(_) => Self::QUOTE_LEN,
            Self::Full(_) => Self::FULL_LEN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tradable_follows_the_segment() {
        let cases = [
            (256_265, false),
            (265, false),
            (408_065, true),
            ((1000 << 8) | 3, true),
        ];
        for (token, tradable) in cases {
            let packet = Packet::Ltp(LtpPacket {
                token,
                last_price: 1,
            });
            assert_eq!(packet.is_tradable(), tradable, "{token}");
        }
    }
}

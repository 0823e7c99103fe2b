//! Kite exchange segments, decoded from the low byte of an instrument token, and the price
//! divisor each segment's wire integers use.

use serde::{Deserialize, Serialize};

/// Kite instrument token: `(exchange_token << 8) | segment`.
pub type InstrumentToken = u32;

/// Exchange segment as carried in the low byte of an instrument token
/// (`KiteTicker.EXCHANGE_MAP` in pykiteconnect 5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Segment {
    Nse,
    Nfo,
    Cds,
    Bse,
    Bfo,
    Bcd,
    Mcx,
    Mcxsx,
    Indices,
    Nco,
    /// A segment id feedgate does not know; prices use the default divisor (100).
    Other(u8),
}

impl Segment {
    /// Segment of an instrument token (its low byte).
    pub fn of_token(token: InstrumentToken) -> Self {
        Self::from_id((token & 0xff) as u8)
    }

    pub fn from_id(id: u8) -> Self {
        match id {
            1 => Self::Nse,
            2 => Self::Nfo,
            3 => Self::Cds,
            4 => Self::Bse,
            5 => Self::Bfo,
            6 => Self::Bcd,
            7 => Self::Mcx,
            8 => Self::Mcxsx,
            9 => Self::Indices,
            12 => Self::Nco,
            other => Self::Other(other),
        }
    }

    pub fn id(self) -> u8 {
        match self {
            Self::Nse => 1,
            Self::Nfo => 2,
            Self::Cds => 3,
            Self::Bse => 4,
            Self::Bfo => 5,
            Self::Bcd => 6,
            Self::Mcx => 7,
            Self::Mcxsx => 8,
            Self::Indices => 9,
            Self::Nco => 12,
            Self::Other(id) => id,
        }
    }

    /// The number the wire integer is divided by to get a price in rupees.
    ///
    /// CDS uses 10^7 and BCD 10^4 (verified against pykiteconnect 5.2.2, kite.md §3.4). NCO
    /// follows Python (10^4): the Go/JS clients disagree (100) and no authoritative source exists;
    /// Python is the client our users run, so matching it keeps feedgate's prices identical to
    /// what they see today.
    pub fn price_divisor(self) -> u32 {
        match self {
            Self::Cds => 10_000_000,
            Self::Bcd | Self::Nco => 10_000,
            _ => 100,
        }
    }

    /// Indices (segment 9) are not tradable; their packets use the 28/32-byte index layout.
    pub fn is_index(self) -> bool {
        self == Self::Indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in 0..=u8::MAX {
            assert_eq!(Segment::from_id(id).id(), id);
            assert_eq!(Segment::of_token((1000 << 8) | u32::from(id)).id(), id);
        }
    }

    #[test]
    fn divisors_and_index_flag() {
        let table = [
            (Segment::Nse, 100, false),
            (Segment::Nfo, 100, false),
            (Segment::Cds, 10_000_000, false),
            (Segment::Bse, 100, false),
            (Segment::Bfo, 100, false),
            (Segment::Bcd, 10_000, false),
            (Segment::Mcx, 100, false),
            (Segment::Mcxsx, 100, false),
            (Segment::Indices, 100, true),
            (Segment::Nco, 10_000, false),
            (Segment::Other(42), 100, false),
        ];
        for (segment, divisor, index) in table {
            assert_eq!(segment.price_divisor(), divisor, "{segment:?}");
            assert_eq!(segment.is_index(), index, "{segment:?}");
        }
        assert_eq!(Segment::of_token(256_265), Segment::Indices);
        assert_eq!(Segment::of_token(408_065), Segment::Nse);
    }
}

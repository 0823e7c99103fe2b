//! The market vocabulary every feedgate crate shares, defined once: how much of an instrument a
//! subscriber wants ([`Mode`]) and one level of an order book ([`Level`]). Broker-neutral and
//! pure: no I/O, nothing but `serde`. The Kite codec (modes), the gateway's normalised tick and
//! the simulator's market model (modes and levels) use these types rather than copies.
//! [`transport::describe`] names the root cause of a failed network call the same way for
//! every broker client.

pub mod transport;

use serde::{Deserialize, Serialize};

/// Subscription mode. Ordered: `Ltp < Quote < Full` (a higher mode carries every field of a
/// lower one). These are Kite's three modes (kite.md §2); feedgate's client protocol uses them
/// whichever broker is behind it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Ltp,
    /// Kite's default mode after a plain `subscribe`, and feedgate's.
    #[default]
    Quote,
    Full,
}

impl Mode {
    /// Every mode, lowest first.
    pub const ALL: [Mode; 3] = [Mode::Ltp, Mode::Quote, Mode::Full];

    /// The name on the wire: `ltp`, `quote` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ltp => "ltp",
            Self::Quote => "quote",
            Self::Full => "full",
        }
    }

    /// The mode named `ltp`, `quote` or `full` (exact, lowercase as on the wire).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ltp" => Some(Self::Ltp),
            "quote" => Some(Self::Quote),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    /// 0, 1, 2 in mode order, for per-mode arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One price level of an order book: price in the instrument's wire unit (paise for NSE
/// equities; the segment's divisor applies only when a price is written as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Level {
    pub price: i64,
    pub quantity: u64,
    pub orders: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_ordered_named_and_parsed_back() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
            assert_eq!(Mode::ALL[mode.index()], mode);
        }
        assert_eq!(Mode::parse("FULL"), None);
        assert!(Mode::Ltp < Mode::Quote && Mode::Quote < Mode::Full);
        assert_eq!(Mode::default(), Mode::Quote);
        assert_eq!(serde_json::to_string(&Mode::Full).unwrap(), "\"full\"");
    }
}

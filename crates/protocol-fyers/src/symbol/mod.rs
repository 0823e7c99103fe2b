//! Fyers symbols and their conversion to data-socket topics (spec §2): the symbol
//! (`NSE:SBIN-EQ`), the fyToken the symbol-token REST call returns for it (`10100000003045`),
//! the index display names used in index topics ([`IndexNames`]), and the resolution of a
//! symbol-token response into topics ([`resolve`]). Pure: the REST calls live in
//! [`crate::rest`].

mod index_names;
mod index_table;
/// Symbol-token response → topics.
pub mod resolve;

use std::fmt;
use std::str::FromStr;

pub use index_names::IndexNames;
pub use resolve::{FeedKind, Resolution, ResolvedSymbols, topic_for};

use crate::segment::Segment;

/// Longest symbol accepted; real ones are well under 50 bytes.
const MAX_SYMBOL_LEN: usize = 100;

/// A Fyers symbol `EXCHANGE:TICKER`, e.g. `NSE:SBIN-EQ` or `NSE:NIFTY50-INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FyersSymbol(String);

/// Why a symbol or fyToken is unusable, or a symbol cannot become a topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// Not `EXCHANGE:TICKER` with printable, comma-free characters.
    #[error("{0:?} is not a fyers symbol (expected EXCHANGE:TICKER such as NSE:SBIN-EQ)")]
    InvalidSymbol(String),
    /// Not a digit string of at least 11 characters.
    #[error("{0:?} is not a fyers fyToken (expected a digit string such as 10100000003045)")]
    InvalidFyToken(String),
    /// The fyToken's first four digits are not a known segment (the official client skips such
    /// symbols silently).
    #[error("symbol {symbol} has fyToken prefix {prefix:?}, which is not a known segment")]
    UnknownSegment {
        /// The symbol.
        symbol: String,
        /// The fyToken's first four characters.
        prefix: String,
    },
    /// Depth was requested for an index.
    #[error("index {0} has no market depth")]
    IndexHasNoDepth(String),
    /// The symbol-token call listed the symbol as invalid.
    #[error("fyers does not know the symbol {0}")]
    UnknownSymbol(String),
    /// The resulting topic would not fit the wire.
    #[error("symbol {symbol} gives an unusable topic: {source}")]
    Topic {
        /// The symbol.
        symbol: String,
        /// Why.
        source: crate::hsm::TopicError,
    },
}

impl FyersSymbol {
    /// A symbol: non-empty exchange and ticker around the first `:`, printable ASCII without
    /// spaces or commas (commas separate symbols in the quotes call), at most 100 bytes.
    pub fn new(text: impl Into<String>) -> Result<Self, SymbolError> {
        let text = text.into();
        let printable = text.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        let well_formed = matches!(
            text.split_once(':'),
            Some((exchange, ticker)) if !exchange.is_empty() && !ticker.is_empty()
        );
        if text.len() > MAX_SYMBOL_LEN || !printable || !well_formed {
            return Err(SymbolError::InvalidSymbol(text));
        }
        Ok(Self(text))
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exchange part (`NSE`).
    pub fn exchange(&self) -> &str {
        self.0.split_once(':').map_or("", |(exchange, _)| exchange)
    }

    /// The ticker part (`SBIN-EQ`).
    pub fn ticker(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, ticker)| ticker)
    }

    /// Whether the symbol is an index: its last `-` part is `INDEX` (the official rule).
    pub fn is_index(&self) -> bool {
        self.0
            .rsplit_once('-')
            .is_some_and(|(_, last)| last == "INDEX")
    }

    /// The ticker up to its first `-` (`NIFTY50` for `NSE:NIFTY50-INDEX`): the last-resort
    /// index topic name.
    pub fn stem(&self) -> &str {
        let ticker = self.ticker();
        ticker.split_once('-').map_or(ticker, |(stem, _)| stem)
    }
}

impl fmt::Display for FyersSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FyersSymbol {
    type Err = SymbolError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for FyersSymbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A fyToken: the digit string the symbol-token call returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FyToken(String);

impl FyToken {
    /// A fyToken: ASCII digits only, at least 11 (four segment digits, six more, then the
    /// exchange token), at most 40.
    pub fn new(text: impl Into<String>) -> Result<Self, SymbolError> {
        let text = text.into();
        if !(11..=40).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SymbolError::InvalidFyToken(text));
        }
        Ok(Self(text))
    }

    /// The fyToken text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Characters `[0..4]`, which select the segment.
    pub fn segment_prefix(&self) -> &str {
        self.0.get(..4).unwrap_or("")
    }

    /// The segment, if the prefix is known.
    pub fn segment(&self) -> Option<Segment> {
        Segment::from_fy_token_prefix(self.segment_prefix())
    }

    /// Characters `[10..]`: the exchange token used in `sf`/`dp` topics (`3045`).
    pub fn exchange_token(&self) -> &str {
        self.0.get(10..).unwrap_or("")
    }
}

impl fmt::Display for FyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_table() {
        // (text, valid, exchange, ticker, is_index, stem)
        let cases = [
            ("NSE:SBIN-EQ", true, "NSE", "SBIN-EQ", false, "SBIN"),
            (
                "NSE:NIFTY50-INDEX",
                true,
                "NSE",
                "NIFTY50-INDEX",
                true,
                "NIFTY50",
            ),
            (
                "BSE:SENSEX-INDEX",
                true,
                "BSE",
                "SENSEX-INDEX",
                true,
                "SENSEX",
            ),
            ("NSE:M&M-EQ", true, "NSE", "M&M-EQ", false, "M&M"),
            (
                "MCX:CRUDEOIL24JANFUT",
                true,
                "MCX",
                "CRUDEOIL24JANFUT",
                false,
                "CRUDEOIL24JANFUT",
            ),
            ("NSE:INDEX", true, "NSE", "INDEX", false, "INDEX"),
            ("NSE:SBIN", true, "NSE", "SBIN", false, "SBIN"),
            ("SBIN-EQ", false, "", "", false, ""),
            (":SBIN", false, "", "", false, ""),
            ("NSE:", false, "", "", false, ""),
            ("NSE:NIFTY 50", false, "", "", false, ""),
            ("NSE:A,NSE:B", false, "", "", false, ""),
            ("", false, "", "", false, ""),
        ];
        for (text, valid, exchange, ticker, is_index, stem) in cases {
            match FyersSymbol::new(text) {
                Ok(symbol) => {
                    assert!(valid, "{text} should be rejected");
                    assert_eq!(
                        (
                            symbol.exchange(),
                            symbol.ticker(),
                            symbol.is_index(),
                            symbol.stem()
                        ),
                        (exchange, ticker, is_index, stem),
                        "{text}"
                    );
                }
                Err(err) => assert!(!valid, "{text}: {err}"),
            }
        }
        assert!(FyersSymbol::new(format!("NSE:{}", "A".repeat(97))).is_err());
    }

    #[test]
    fn fy_token_table() {
        let sbin = FyToken::new("10100000003045").unwrap();
        assert_eq!(sbin.segment(), Some(Segment::NseCm));
        assert_eq!(sbin.exchange_token(), "3045");
        let nifty = FyToken::new("101000000026000").unwrap();
        assert_eq!(nifty.exchange_token(), "26000");
        let unknown = FyToken::new("99990000001234").unwrap();
        assert_eq!(
            (unknown.segment(), unknown.segment_prefix()),
            (None, "9999")
        );
        for bad in [
            "",
            "1010",
            "1010000000",
            "10100000003O45",
            "1".repeat(41).as_str(),
        ] {
            assert!(FyToken::new(bad).is_err(), "{bad}");
        }
    }
}

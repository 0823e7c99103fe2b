//! The simulator's universe as Fyers sees it: each instrument's Fyers symbol
//! (`NSE:SBIN-EQ`, `NSE:NIFTY50-INDEX`, `NSE:NIFTY25NOVFUT`), fyToken, segment, scrip code and
//! data-socket topics, with lookups by symbol and by topic. Built once at start from the
//! broker-neutral universe, so both brokers stream the same instruments.
//!
//! Mapping rules (Fyers' symbology, spec §2):
//! * NSE/BSE equities: `EXCHANGE:TRADINGSYMBOL-EQ`, segment `nse_cm`/`bse_cm`;
//! * indices: `EXCHANGE:<name without spaces>-INDEX` with Fyers' own scrip codes (NIFTY 50 is
//!   26000, NIFTY BANK 26009, SENSEX 1); index topics use the display name from the official
//!   client's `map.json` table (`if|nse_cm|Nifty 50`), and the ticker stem is accepted too
//!   (a third party reports the real server takes it);
//! * NFO futures and options: `NSE:<Kite tradingsymbol>` (the monthly formats agree), `nse_fo`;
//! * CDS / BCD currency futures: `NSE:` / `BSE:` + the tradingsymbol, `cde_fo` / `bcs_fo`.
//!
//! fyTokens are `<4-digit segment prefix><6 digits><scrip code>`, the 6 digits being `000000`
//! for cash and indices and the expiry as `YYMMDD` for derivatives (as in the real masters).

use crate::decimal::decimal_places;
use crate::universe::{Instrument, InstrumentType, Universe};
use chrono::Datelike;
use feedgate_fyers::Segment;
use feedgate_fyers::hsm::TopicKind;
use feedgate_fyers::symbol::IndexNames;
use std::collections::HashMap;

/// Fyers' scrip codes for the indices the universe carries (`Kite name → code`).
const INDEX_CODES: [(&str, &str, u32); 3] = [
    ("NSE", "NIFTY 50", 26_000),
    ("NSE", "NIFTY BANK", 26_009),
    ("BSE", "SENSEX", 1),
];

/// One instrument in Fyers terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FyersInstrument {
    /// Position in the universe (and the market).
    pub idx: usize,
    /// `NSE:SBIN-EQ`.
    pub symbol: String,
    /// `10100000003045`.
    pub fy_token: String,
    pub segment: Segment,
    /// The exchange token (`3045`); the index code for indices.
    pub scrip_code: u32,
    /// The index topic name (`Nifty 50`); `None` for tradables.
    pub index_name: Option<String>,
    /// Price decimals on the socket (`raw / 10^precision`, multiplier 1).
    pub precision: u8,
}

impl FyersInstrument {
    pub(crate) fn is_index(&self) -> bool {
        self.index_name.is_some()
    }

    /// The ticker without the exchange (`SBIN-EQ`).
    pub(crate) fn ticker(&self) -> &str {
        self.symbol
            .split_once(':')
            .map_or(self.symbol.as_str(), |(_, t)| t)
    }

    /// The exchange part (`NSE`).
    pub(crate) fn exchange(&self) -> &str {
        self.symbol.split_once(':').map_or("", |(e, _)| e)
    }

    /// The topic streaming this instrument as `kind`; `None` for depth of an index.
    pub(crate) fn topic(&self, kind: TopicKind) -> Option<String> {
        let segment = self.segment.code();
        match (kind, &self.index_name) {
            (TopicKind::Index, Some(name)) => Some(format!("if|{segment}|{name}")),
            (TopicKind::Scrip, None) => Some(format!("sf|{segment}|{}", self.scrip_code)),
            (TopicKind::Depth, None) => Some(format!("dp|{segment}|{}", self.scrip_code)),
            _ => None,
        }
    }
}

/// The universe with Fyers lookups.
#[derive(Debug, Clone)]
pub(crate) struct FyersCatalog {
    instruments: Vec<FyersInstrument>,
    by_symbol: HashMap<String, usize>,
    /// Topic string → (position in `instruments`, kind).
    by_topic: HashMap<String, (usize, TopicKind)>,
    /// Universe position → position in `instruments`.
    by_idx: HashMap<usize, usize>,
}

impl FyersCatalog {
    pub(crate) fn build(universe: &Universe) -> Self {
        let instruments: Vec<FyersInstrument> = universe
            .instruments()
            .iter()
            .enumerate()
            .filter_map(|(idx, inst)| map_instrument(idx, inst))
            .collect();
        let mut by_symbol = HashMap::with_capacity(instruments.len());
        let mut by_topic = HashMap::with_capacity(instruments.len() * 2);
        let by_idx = instruments
            .iter()
            .enumerate()
            .map(|(at, inst)| (inst.idx, at))
            .collect();
        for (at, inst) in instruments.iter().enumerate() {
            by_symbol.entry(inst.symbol.clone()).or_insert(at);
            for kind in [TopicKind::Scrip, TopicKind::Index, TopicKind::Depth] {
                if let Some(topic) = inst.topic(kind) {
                    by_topic.entry(topic).or_insert((at, kind));
                }
            }
            if inst.is_index() {
                // The ticker stem (`if|nse_cm|NIFTY50`), the official client's last resort.
                let stem = inst.ticker().split('-').next().unwrap_or_default();
                let alias = format!("if|{}|{stem}", inst.segment.code());
                by_topic.entry(alias).or_insert((at, TopicKind::Index));
            }
        }
        Self {
            instruments,
            by_symbol,
            by_topic,
            by_idx,
        }
    }

    pub(crate) fn instruments(&self) -> &[FyersInstrument] {
        &self.instruments
    }

    pub(crate) fn by_symbol(&self, symbol: &str) -> Option<&FyersInstrument> {
        self.by_symbol
            .get(symbol)
            .and_then(|&at| self.instruments.get(at))
    }

    /// The instrument at universe position `idx`.
    pub(crate) fn by_idx(&self, idx: usize) -> Option<&FyersInstrument> {
        self.by_idx
            .get(&idx)
            .and_then(|&at| self.instruments.get(at))
    }

    /// The instrument and kind a topic string streams, if the simulator serves it.
    pub(crate) fn by_topic(&self, topic: &str) -> Option<(&FyersInstrument, TopicKind)> {
        let &(at, kind) = self.by_topic.get(topic)?;
        Some((self.instruments.get(at)?, kind))
    }
}

fn map_instrument(idx: usize, inst: &Instrument) -> Option<FyersInstrument> {
    let precision = u8::try_from(decimal_places(inst.divisor)).ok()?;
    let ts = inst.tradingsymbol.as_str();
    let (symbol, segment, scrip_code, index_name) = if inst.is_index() {
        let code = INDEX_CODES
            .iter()
            .find(|(ex, name, _)| *ex == inst.exchange && *name == ts)
            .map_or(inst.exchange_token, |(_, _, code)| *code);
        let symbol = format!("{}:{}-INDEX", inst.exchange, ts.replace(' ', ""));
        let segment = match inst.exchange.as_str() {
            "BSE" => Segment::BseCm,
            _ => Segment::NseCm,
        };
        let stem = ts.replace(' ', "");
        let name = IndexNames::builtin(&symbol).map_or(stem, str::to_owned);
        (symbol, segment, code, Some(name))
    } else {
        let (symbol, segment) = match (inst.exchange.as_str(), inst.instrument_type) {
            ("NSE", InstrumentType::Eq) => (format!("NSE:{ts}-EQ"), Segment::NseCm),
            ("BSE", InstrumentType::Eq) => (format!("BSE:{ts}-EQ"), Segment::BseCm),
            ("NFO", _) => (format!("NSE:{ts}"), Segment::NseFo),
            ("CDS", _) => (format!("NSE:{ts}"), Segment::CdeFo),
            ("BCD", _) => (format!("BSE:{ts}"), Segment::BcsFo),
            ("BFO", _) => (format!("BSE:{ts}"), Segment::BseFo),
            _ => return None,
        };
        (symbol, segment, inst.exchange_token, None)
    };
    let middle = inst.expiry.map_or_else(
        || "000000".to_owned(),
        |e| {
            format!(
                "{:02}{:02}{:02}",
                e.year().rem_euclid(100),
                e.month(),
                e.day()
            )
        },
    );
    let fy_token = format!("{}{middle}{scrip_code}", segment.fy_token_prefix());
    Some(FyersInstrument {
        idx,
        symbol,
        fy_token,
        segment,
        scrip_code,
        index_name,
        precision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;
    use feedgate_fyers::symbol::{FeedKind, topic_for};
    use feedgate_fyers::{FyToken, FyersSymbol};
    use std::collections::HashSet;

    fn catalog() -> (Universe, FyersCatalog) {
        let u = build_universe("2025-11-10".parse().unwrap());
        let c = FyersCatalog::build(&u);
        (u, c)
    }

    #[test]
    fn known_symbols_tokens_and_topics() {
        let (_, c) = catalog();
        let cases = [
            (
                "NSE:SBIN-EQ",
                "10100000003045",
                "sf|nse_cm|3045",
                Some("dp|nse_cm|3045"),
            ),
            (
                "NSE:M&M-EQ",
                "10100000002031",
                "sf|nse_cm|2031",
                Some("dp|nse_cm|2031"),
            ),
            (
                "NSE:NIFTY50-INDEX",
                "101000000026000",
                "if|nse_cm|Nifty 50",
                None,
            ),
            (
                "NSE:NIFTYBANK-INDEX",
                "101000000026009",
                "if|nse_cm|Nifty Bank",
                None,
            ),
            ("BSE:SENSEX-INDEX", "12100000001", "if|bse_cm|SENSEX", None),
            (
                "NSE:NIFTY25NOVFUT",
                "101125112552343",
                "sf|nse_fo|52343",
                Some("dp|nse_fo|52343"),
            ),
            (
                "NSE:NIFTY25NOV24300CE",
                "101125112543650",
                "sf|nse_fo|43650",
                Some("dp|nse_fo|43650"),
            ),
            (
                "NSE:USDINR25NOVFUT",
                "10122511261901",
                "sf|cde_fo|1901",
                Some("dp|cde_fo|1901"),
            ),
            (
                "BSE:USDINR25NOVFUT",
                "12122511261207",
                "sf|bcs_fo|1207",
                Some("dp|bcs_fo|1207"),
            ),
        ];
        for (symbol, fy_token, quote_topic, depth_topic) in cases {
            let inst = c.by_symbol(symbol).unwrap_or_else(|| panic!("{symbol}"));
            assert_eq!(inst.fy_token, fy_token, "{symbol}");
            // The gateway's resolution (the protocol crate) must land on the topics we serve.
            let s = FyersSymbol::new(symbol).unwrap();
            let t = FyToken::new(fy_token).unwrap();
            let names = IndexNames::new();
            let quote = topic_for(&s, &t, FeedKind::Quote, &names).unwrap();
            assert_eq!(quote.to_string(), quote_topic, "{symbol}");
            let kind = if inst.is_index() {
                TopicKind::Index
            } else {
                TopicKind::Scrip
            };
            assert_eq!(
                c.by_topic(quote_topic).map(|(i, k)| (i.idx, k)),
                Some((inst.idx, kind))
            );
            match depth_topic {
                Some(topic) => {
                    let depth = topic_for(&s, &t, FeedKind::Depth, &names).unwrap();
                    assert_eq!(depth.to_string(), topic);
                    assert_eq!(c.by_topic(topic).unwrap().1, TopicKind::Depth);
                }
                None => assert!(topic_for(&s, &t, FeedKind::Depth, &names).is_err()),
            }
        }
        assert_eq!(
            c.by_topic("if|nse_cm|NIFTY50")
                .map(|(i, _)| i.symbol.as_str()),
            Some("NSE:NIFTY50-INDEX"),
            "the ticker stem is accepted"
        );
        assert!(c.by_topic("sf|nse_cm|999999").is_none());
        assert_eq!(c.by_symbol("NSE:USDINR25NOVFUT").unwrap().precision, 7);
        assert_eq!(c.by_symbol("BSE:USDINR25NOVFUT").unwrap().precision, 4);
    }

    #[test]
    fn every_instrument_maps_uniquely() {
        let (u, c) = catalog();
        assert_eq!(c.instruments().len(), u.len());
        let symbols: HashSet<_> = c.instruments().iter().map(|i| &i.symbol).collect();
        let tokens: HashSet<_> = c.instruments().iter().map(|i| &i.fy_token).collect();
        assert_eq!(symbols.len(), u.len());
        assert_eq!(tokens.len(), u.len());
        for inst in c.instruments() {
            assert!(
                FyersSymbol::new(inst.symbol.as_str()).is_ok(),
                "{}",
                inst.symbol
            );
            let token = FyToken::new(inst.fy_token.as_str()).unwrap();
            assert_eq!(token.segment(), Some(inst.segment));
            if !inst.is_index() {
                assert_eq!(token.exchange_token(), inst.scrip_code.to_string());
            }
        }
    }
}

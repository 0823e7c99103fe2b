//! Index topic names (spec §2.3): an index topic's token is a display name, not a number
//! (`NSE:NIFTY50-INDEX` → `if|nse_cm|Nifty 50`). Lookup order, as in the official client: the
//! live `index_hsm_mapping.json` (when fetched), the built-in copy of the client's `map.json`
//! table, then the ticker stem (`NIFTY50`). Empty names fall through to the next source.

use std::collections::HashMap;

use serde_json::Value;

use super::FyersSymbol;
use super::index_table::INDEX_NAMES;

/// Index symbol → topic name, with the built-in table and the stem as fallbacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexNames {
    live: HashMap<String, String>,
}

impl IndexNames {
    /// No live mapping: the built-in table and the stem only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A live mapping from symbol to topic name.
    pub fn from_map(live: HashMap<String, String>) -> Self {
        Self { live }
    }

    /// Parses the live mapping document (a JSON object of symbol → name); entries whose value
    /// is not a string are skipped.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: HashMap<String, Value> = serde_json::from_slice(body)?;
        let live = raw
            .into_iter()
            .filter_map(|(symbol, name)| match name {
                Value::String(name) => Some((symbol, name)),
                _ => None,
            })
            .collect();
        Ok(Self { live })
    }

    /// Number of live entries.
    pub fn live_len(&self) -> usize {
        self.live.len()
    }

    /// The built-in name for an index symbol, if listed.
    pub fn builtin(symbol: &str) -> Option<&'static str> {
        INDEX_NAMES
            .binary_search_by(|(key, _)| (*key).cmp(symbol))
            .ok()
            .and_then(|at| INDEX_NAMES.get(at))
            .map(|(_, name)| *name)
    }

    /// The topic name for an index symbol: live, else built-in, else the ticker stem.
    pub fn resolve<'a>(&'a self, symbol: &'a FyersSymbol) -> &'a str {
        self.live
            .get(symbol.as_str())
            .map(String::as_str)
            .filter(|name| !name.is_empty())
            .or_else(|| Self::builtin(symbol.as_str()))
            .unwrap_or_else(|| symbol.stem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(text: &str) -> FyersSymbol {
        FyersSymbol::new(text).unwrap()
    }

    #[test]
    fn builtin_table_is_sorted_and_complete() {
        assert_eq!(INDEX_NAMES.len(), 175);
        assert!(INDEX_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        for (key, name) in INDEX_NAMES {
            assert_eq!(IndexNames::builtin(key), Some(*name));
        }
    }

    #[test]
    fn lookup_order() {
        let live = IndexNames::from_json(
            br#"{"NSE:NIFTY50-INDEX":"NIFTY 50 LIVE","NSE:NEW-INDEX":"Brand New","NSE:EMPTY-INDEX":"","X":1}"#,
        )
        .unwrap();
        assert_eq!(live.live_len(), 3);
        let cases = [
            (&live, "NSE:NIFTY50-INDEX", "NIFTY 50 LIVE"),
            (&live, "NSE:NEW-INDEX", "Brand New"),
            (&live, "NSE:EMPTY-INDEX", "EMPTY"),
            (&live, "NSE:NIFTYBANK-INDEX", "Nifty Bank"),
            (&live, "NSE:UNLISTED-INDEX", "UNLISTED"),
        ];
        for (names, text, expected) in cases {
            assert_eq!(names.resolve(&symbol(text)), expected, "{text}");
        }
        let builtin = IndexNames::new();
        for (text, expected) in [
            ("NSE:NIFTY50-INDEX", "Nifty 50"),
            ("NSE:FINNIFTY-INDEX", "Nifty Fin Service"),
            ("BSE:SENSEX-INDEX", "SENSEX"),
        ] {
            assert_eq!(builtin.resolve(&symbol(text)), expected);
        }
        assert!(IndexNames::from_json(b"[1]").is_err());
    }
}

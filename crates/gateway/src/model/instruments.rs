//! The instrument registry: symbol ↔ token, tick size, segment and price divisor, built from
//! the broker's instrument dump. Pure lookup; loading and caching the dump is the job of the
//! instrument loader in `rest/` (a layer above).
//!
//! Accepted symbol forms (DESIGN.md §6): Kite's `EXCHANGE:TRADINGSYMBOL` (`NSE:SBIN`,
//! `NSE:NIFTY 50`), Fyers style (`NSE:SBIN-EQ`, `NSE:NIFTY50-INDEX`, `NSE:NIFTY25NOVFUT`), the
//! index aliases `NIFTY`, `BANKNIFTY`, `SENSEX` (and a few more), and a bare symbol (`SBIN`),
//! read as NSE. Matching is case-insensitive.

use crate::model::tick::Token;
use std::collections::HashMap;
use std::sync::Arc;

/// One instrument, as clients and the hub need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    pub token: Token,
    /// `NSE`, `BSE`, `NFO`, `CDS`, …
    pub exchange: Arc<str>,
    pub tradingsymbol: Arc<str>,
    /// Canonical client-facing symbol, `EXCHANGE:TRADINGSYMBOL`.
    pub symbol: Arc<str>,
    /// The symbol as a JSON string literal (quotes included, escaped), written once here so
    /// the tick encoder only copies bytes.
    pub symbol_json: Arc<str>,
    pub name: Arc<str>,
    /// Broker segment name (`NSE`, `INDICES`, `NFO-FUT`, …).
    pub segment: Arc<str>,
    pub instrument_type: Arc<str>,
    /// Tick size in wire units (5 = ₹0.05 at divisor 100).
    pub tick_size: i64,
    pub lot_size: u32,
    pub divisor: u32,
    pub is_index: bool,
    /// Derivatives carry open interest; cash instruments report it as `null`.
    pub has_oi: bool,
    /// Expiry date of a derivative (as the broker's list gives it).
    pub expiry: Option<chrono::NaiveDate>,
    /// Strike of an option in wire units (0 otherwise).
    pub strike: i64,
}

/// Why a symbol was rejected, for the per-symbol `rejected` list of an ack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("empty symbol")]
    Empty,
    #[error("symbol too long (max {max} characters)")]
    TooLong { max: usize },
    #[error("unknown instrument")]
    Unknown,
}

/// Index aliases (upper case) → canonical Kite symbols.
const ALIASES: &[(&str, &str)] = &[
    ("NIFTY", "NSE:NIFTY 50"),
    ("NIFTY50", "NSE:NIFTY 50"),
    ("NIFTY 50", "NSE:NIFTY 50"),
    ("BANKNIFTY", "NSE:NIFTY BANK"),
    ("NIFTYBANK", "NSE:NIFTY BANK"),
    ("NIFTY BANK", "NSE:NIFTY BANK"),
    ("FINNIFTY", "NSE:NIFTY FIN SERVICE"),
    ("MIDCPNIFTY", "NSE:NIFTY MID SELECT"),
    ("SENSEX", "BSE:SENSEX"),
    ("BANKEX", "BSE:BANKEX"),
    ("INDIAVIX", "NSE:INDIA VIX"),
];

/// Fyers index names (`NSE:NIFTY50-INDEX`) → canonical Kite symbols.
const FYERS_INDEX: &[(&str, &str)] = &[
    ("NSE:NIFTY50-INDEX", "NSE:NIFTY 50"),
    ("NSE:NIFTYBANK-INDEX", "NSE:NIFTY BANK"),
    ("NSE:FINNIFTY-INDEX", "NSE:NIFTY FIN SERVICE"),
    ("NSE:MIDCPNIFTY-INDEX", "NSE:NIFTY MID SELECT"),
    ("NSE:INDIAVIX-INDEX", "NSE:INDIA VIX"),
    ("BSE:SENSEX-INDEX", "BSE:SENSEX"),
    ("BSE:BANKEX-INDEX", "BSE:BANKEX"),
];

const MAX_SYMBOL_LEN: usize = 64;

/// The canonical (Kite-style) symbol of a Fyers index symbol, upper case as given:
/// `NSE:NIFTY50-INDEX` → `NSE:NIFTY 50`. Kite names indices by their exchange names in upper
/// case, and the data socket's index names are those exchange names (`Nifty 50`, `Nifty Bank`,
/// `India VIX`), so the official client's built-in name table, upper-cased, gives Kite's name;
/// a few indices whose names differ are listed in `FYERS_INDEX`. Unlisted indices keep the
/// ticker stem (`NSE:NEWIDX-INDEX` → `NSE:NEWIDX`). `None` for anything but an `-INDEX` symbol.
pub fn fyers_index_symbol(upper: &str) -> Option<String> {
    if let Some((_, canon)) = FYERS_INDEX.iter().find(|(a, _)| *a == upper) {
        return Some((*canon).to_string());
    }
    let (exchange, ticker) = upper.split_once(':')?;
    let stem = ticker.strip_suffix("-INDEX")?;
    let name = feedgate_fyers::symbol::IndexNames::builtin(upper).unwrap_or(stem);
    Some(format!("{exchange}:{}", name.to_ascii_uppercase()))
}

/// Input for building a registry (one row of the broker's dump, already parsed).
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentSpec {
    pub token: Token,
    pub exchange: String,
    pub tradingsymbol: String,
    pub name: String,
    pub segment: String,
    pub instrument_type: String,
    /// Tick size in rupees as the dump gives it (e.g. 0.05).
    pub tick_size: f64,
    pub lot_size: u32,
    pub divisor: u32,
    pub is_index: bool,
    /// Expiry date of a derivative.
    pub expiry: Option<chrono::NaiveDate>,
    /// Strike of an option in rupees (0 otherwise).
    pub strike: f64,
}

impl InstrumentSpec {
    /// An NSE cash-market equity as Kite's dump lists it (tick 0.05, lot 1, prices in paise).
    pub fn nse_equity(
        token: Token,
        tradingsymbol: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            token,
            exchange: "NSE".into(),
            tradingsymbol: tradingsymbol.into(),
            name: name.into(),
            segment: "NSE".into(),
            instrument_type: "EQ".into(),
            tick_size: 0.05,
            lot_size: 1,
            divisor: 100,
            is_index: false,
            expiry: None,
            strike: 0.0,
        }
    }
}

/// Symbol ↔ instrument lookups. Cheap to clone behind an `Arc`; rebuilt when the dump is
/// refreshed.
#[derive(Debug, Default)]
pub struct Registry {
    by_token: HashMap<Token, Arc<Instrument>>,
    by_symbol: HashMap<String, Token>,
}

impl Registry {
    pub fn new(specs: impl IntoIterator<Item = InstrumentSpec>) -> Self {
        let mut reg = Registry::default();
        for spec in specs {
            let symbol = format!("{}:{}", spec.exchange, spec.tradingsymbol);
            let key = symbol.to_ascii_uppercase();
            let symbol_json = serde_json::to_string(&symbol).unwrap_or_else(|_| "\"?\"".into());
            let seg_upper = spec.segment.to_ascii_uppercase();
            let has_oi = !spec.is_index
                && (seg_upper.contains("NFO")
                    || seg_upper.contains("BFO")
                    || seg_upper.contains("CDS")
                    || seg_upper.contains("BCD")
                    || seg_upper.contains("MCX")
                    || matches!(spec.instrument_type.as_str(), "FUT" | "CE" | "PE"));
            // Tick size arrives in rupees; keep it in wire units, rounding away float noise.
            let tick_size = (spec.tick_size * f64::from(spec.divisor)).round() as i64;
            let strike = if spec.strike.is_finite() && spec.strike > 0.0 {
                (spec.strike * f64::from(spec.divisor)).round() as i64
            } else {
                0
            };
            let inst = Arc::new(Instrument {
                token: spec.token,
                exchange: spec.exchange.into(),
                tradingsymbol: spec.tradingsymbol.into(),
                symbol: symbol.into(),
                symbol_json: symbol_json.into(),
                name: spec.name.into(),
                segment: spec.segment.into(),
                instrument_type: spec.instrument_type.into(),
                tick_size,
                lot_size: spec.lot_size,
                divisor: spec.divisor.max(1),
                is_index: spec.is_index,
                has_oi,
                expiry: spec.expiry,
                strike,
            });
            // Exchanges reuse tokens after expiry; the dump is the source of truth for today,
            // so the last row for a symbol or token wins.
            reg.by_symbol.insert(key, inst.token);
            reg.by_token.insert(inst.token, inst);
        }
        reg
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    pub fn by_token(&self, token: Token) -> Option<&Arc<Instrument>> {
        self.by_token.get(&token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Instrument>> {
        self.by_token.values()
    }

    /// Instruments matching a search text, best first: exact trading symbol, then symbol
    /// prefix, then substring of the symbol or the name. Case-insensitive.
    pub fn search(&self, text: &str, limit: usize) -> Vec<&Arc<Instrument>> {
        let q = text.trim().to_ascii_uppercase();
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut hits: Vec<(u8, &Arc<Instrument>)> = self
            .by_token
            .values()
            .filter_map(|i| {
                let ts = i.tradingsymbol.to_ascii_uppercase();
                let rank = if ts == q || i.symbol.eq_ignore_ascii_case(&q) {
                    0
                } else if ts.starts_with(&q) {
                    1
                } else if ts.contains(&q) || i.symbol.to_ascii_uppercase().contains(&q) {
                    2
                } else if i.name.to_ascii_uppercase().contains(&q) {
                    3
                } else {
                    return None;
                };
                Some((rank, i))
            })
            .collect();
        // Same rank: shorter symbols first (NIFTY 50 before NIFTY25NOVFUT), then alphabetical.
        hits.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.tradingsymbol.len().cmp(&b.1.tradingsymbol.len()))
                .then_with(|| a.1.symbol.cmp(&b.1.symbol))
        });
        hits.into_iter().take(limit).map(|(_, i)| i).collect()
    }

    /// Resolves a client-supplied symbol in any accepted form.
    pub fn resolve(&self, symbol: &str) -> Result<&Arc<Instrument>, ResolveError> {
        let trimmed = symbol.trim();
        if trimmed.is_empty() {
            return Err(ResolveError::Empty);
        }
        if trimmed.len() > MAX_SYMBOL_LEN {
            return Err(ResolveError::TooLong {
                max: MAX_SYMBOL_LEN,
            });
        }
        let upper = trimmed.to_ascii_uppercase();
        for key in candidates(&upper) {
            if let Some(inst) = self.by_symbol.get(&key).and_then(|t| self.by_token.get(t)) {
                return Ok(inst);
            }
        }
        Err(ResolveError::Unknown)
    }
}

/// The canonical keys to try for an upper-cased symbol, most specific first.
fn candidates(upper: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(4);
    if let Some((_, canon)) = ALIASES.iter().find(|(a, _)| *a == upper) {
        out.push((*canon).to_string());
    }
    if let Some(canon) = fyers_index_symbol(upper) {
        out.push(canon);
    }
    let (exchange, sym) = match upper.split_once(':') {
        Some((e, s)) => (e.trim().to_string(), s.trim().to_string()),
        None => ("NSE".to_string(), upper.to_string()),
    };
    out.push(format!("{exchange}:{sym}"));
    // Fyers equity series suffix: NSE:SBIN-EQ → NSE:SBIN. Kite keeps other series in the
    // tradingsymbol itself (CENTRALBK-BE), so only -EQ is stripped, and only after the exact
    // form was tried.
    if let Some(base) = sym.strip_suffix("-EQ") {
        out.push(format!("{exchange}:{base}"));
    }
    // Fyers lists derivatives under the cash exchange (NSE:NIFTY25NOVFUT); Kite under NFO/BFO.
    let deriv = match exchange.as_str() {
        "NSE" => Some("NFO"),
        "BSE" => Some("BFO"),
        _ => None,
    };
    if let Some(d) = deriv {
        out.push(format!("{d}:{sym}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        token: Token,
        exchange: &str,
        ts: &str,
        segment: &str,
        is_index: bool,
    ) -> InstrumentSpec {
        InstrumentSpec {
            token,
            exchange: exchange.into(),
            tradingsymbol: ts.into(),
            name: ts.into(),
            segment: segment.into(),
            instrument_type: if segment.contains("FUT") { "FUT" } else { "EQ" }.into(),
            tick_size: 0.05,
            lot_size: 1,
            divisor: 100,
            is_index,
            expiry: None,
            strike: 0.0,
        }
    }

    fn registry() -> Registry {
        Registry::new([
            spec(779_521, "NSE", "SBIN", "NSE", false),
            spec(256_265, "NSE", "NIFTY 50", "INDICES", true),
            spec(260_105, "NSE", "NIFTY BANK", "INDICES", true),
            spec(265, "BSE", "SENSEX", "INDICES", true),
            spec(3_813_889, "NSE", "CENTRALBK-BE", "NSE", false),
            spec(13_368_834, "NFO", "NIFTY25NOVFUT", "NFO-FUT", false),
        ])
    }

    #[test]
    fn resolves_every_accepted_form() {
        let reg = registry();
        let cases = [
            ("NSE:SBIN", 779_521),
            ("nse:sbin", 779_521),
            (" NSE:SBIN ", 779_521),
            ("SBIN", 779_521),
            ("NSE:SBIN-EQ", 779_521),
            ("NSE:NIFTY 50", 256_265),
            ("NIFTY", 256_265),
            ("nifty", 256_265),
            ("NSE:NIFTY50-INDEX", 256_265),
            ("BANKNIFTY", 260_105),
            ("SENSEX", 265),
            ("BSE:SENSEX-INDEX", 265),
            ("NSE:CENTRALBK-BE", 3_813_889),
            ("NFO:NIFTY25NOVFUT", 13_368_834),
            ("NSE:NIFTY25NOVFUT", 13_368_834),
            ("NSE:NIFTYBANK-INDEX", 260_105),
            ("nse:niftybank-index", 260_105),
        ];
        for (sym, token) in cases {
            assert_eq!(reg.resolve(sym).map(|i| i.token), Ok(token), "{sym}");
        }
    }

    #[test]
    fn fyers_index_symbols_map_to_kite_names() {
        let cases = [
            ("NSE:NIFTY50-INDEX", Some("NSE:NIFTY 50")),
            ("NSE:NIFTYBANK-INDEX", Some("NSE:NIFTY BANK")),
            ("NSE:NIFTYIT-INDEX", Some("NSE:NIFTY IT")),
            ("NSE:NIFTYNXT50-INDEX", Some("NSE:NIFTY NEXT 50")),
            ("NSE:FINNIFTY-INDEX", Some("NSE:NIFTY FIN SERVICE")),
            ("NSE:INDIAVIX-INDEX", Some("NSE:INDIA VIX")),
            ("BSE:SENSEX-INDEX", Some("BSE:SENSEX")),
            ("NSE:NEWIDX-INDEX", Some("NSE:NEWIDX")),
            ("NSE:SBIN-EQ", None),
            ("NIFTY50-INDEX", None),
        ];
        for (fyers, want) in cases {
            assert_eq!(fyers_index_symbol(fyers).as_deref(), want, "{fyers}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        let reg = registry();
        assert_eq!(reg.resolve("NSE:NOPE").err(), Some(ResolveError::Unknown));
        assert_eq!(reg.resolve("  ").err(), Some(ResolveError::Empty));
        assert!(matches!(
            reg.resolve(&"X".repeat(100)),
            Err(ResolveError::TooLong { .. })
        ));
    }

    #[test]
    fn search_ranks_exact_then_prefix_then_contains() {
        let reg = registry();
        let syms = |q| -> Vec<String> {
            reg.search(q, 10)
                .iter()
                .map(|i| i.symbol.to_string())
                .collect()
        };
        assert_eq!(syms("sbin"), ["NSE:SBIN"]);
        assert_eq!(syms("NIFTY")[..2], ["NSE:NIFTY 50", "NSE:NIFTY BANK"]);
        assert!(syms("NIFTY").contains(&"NFO:NIFTY25NOVFUT".to_string()));
        assert!(syms("zzz").is_empty());
        assert_eq!(reg.search("N", 2).len(), 2, "limit");
    }

    #[test]
    fn instrument_fields_are_derived_once() {
        let reg = registry();
        let sbin = reg.by_token(779_521).unwrap();
        assert_eq!(&*sbin.symbol, "NSE:SBIN");
        assert_eq!(&*sbin.symbol_json, "\"NSE:SBIN\"");
        assert_eq!(sbin.tick_size, 5);
        assert!(!sbin.has_oi);
        assert!(reg.by_token(13_368_834).unwrap().has_oi);
        assert!(reg.by_token(256_265).unwrap().is_index);
    }
}

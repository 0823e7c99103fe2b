//! The Fyers symbol master (`sym_details/<SEGMENT>.csv`) turned into registry specs with the
//! same canonical symbols, segments and JSON as Kite's dump, plus the Fyers symbol of every
//! instrument (what the socket and REST calls need). Pure: downloading is [`super::book`]'s
//! job.
//!
//! The files are header-less CSV with 21 columns; the ones used here are 0 fyToken,
//! 1 description, 2 exchange instrument type, 3 lot size, 4 tick size (rupees), 9 Fyers symbol,
//! 13 underlying symbol and 16 option type (`CE`/`PE`/`XX`). A header row, if a mirror adds one,
//! is skipped. Rows that cannot be used are counted, not fatal.
//!
//! # Canonical symbols (the same as Kite's)
//! | Fyers | canonical | Kite segment |
//! |---|---|---|
//! | `NSE:SBIN-EQ` | `NSE:SBIN` (only `-EQ` is dropped; `NSE:CENTRALBK-BE` stays, as on Kite) | `NSE` |
//! | `NSE:NIFTY50-INDEX` | `NSE:NIFTY 50` ([`crate::model::instruments::fyers_index_symbol`]) | `INDICES` |
//! | `NSE:NIFTY25NOVFUT`, `…CE/PE` | `NFO:NIFTY25NOVFUT` (derivatives move to the F&O exchange) | `NFO-FUT`/`NFO-OPT` |
//! | `NSE:USDINR25NOVFUT` (`cde_fo`) | `CDS:USDINR25NOVFUT` | `CDS-FUT` |
//! | `BSE:SBIN-A` | `BSE:SBIN` (the BSE group suffix is dropped) | `BSE` |
//! | `BSE:SENSEX25NOVFUT`, `BSE:USDINR…` | `BFO:…`, `BCD:…` | `BFO-FUT`, `BCD-FUT` |
//! | `MCX:CRUDEOIL25NOVFUT`, NSE commodities | `MCX:…`, `NCO:…` | `MCX-FUT`, `NCO-FUT` |
//!
//! # Tokens
//! Our instrument token is a `u32`; Fyers identifies instruments by the fyToken digit string. The
//! token is derived as Kite builds its own: `(exchange_token << 8) | segment_id`, where the
//! exchange token is the fyToken's characters `10..` (what data-socket topics carry, spec §2.2)
//! and the segment id is Kite's (NSE 1, NFO 2, CDS 3, BSE 4, BFO 5, BCD 6, MCX 7, indices 9,
//! NCO 12). So a cash stock gets the very token Kite gives it (SBIN: 3045 → 779521), and the
//! token is stable for as long as the exchange token is. Exchange tokens of 2^24 and above do
//! not fit and such rows are skipped (none exist today); two rows with one token keep the first.
//!
//! # Divisors
//! Prices are integers at the instrument's divisor: `10^d` where `d` is the number of decimals
//! of the tick size, at least 2 (paise), and at least 4 for currency derivatives (whose prices
//! and averages carry 4 decimals). Every price on the tick grid is then exact; the data socket's
//! `raw / (10^precision × multiplier)` converts exactly whenever its precision does not exceed
//! `d` (see [`super::units`]).

use crate::model::instruments::{InstrumentSpec, fyers_index_symbol};
use crate::model::tick::Token;
use feedgate_fyers::Segment;
use feedgate_fyers::symbol::{FyToken, FyersSymbol};
use serde::{Deserialize, Serialize};

/// Column positions in the symbol master.
mod col {
    pub const FY_TOKEN: usize = 0;
    pub const DESCRIPTION: usize = 1;
    pub const INSTRUMENT_TYPE: usize = 2;
    pub const LOT_SIZE: usize = 3;
    pub const TICK_SIZE: usize = 4;
    pub const EXPIRY: usize = 8;
    pub const SYMBOL: usize = 9;
    pub const UNDERLYING: usize = 13;
    pub const STRIKE: usize = 15;
    pub const OPTION_TYPE: usize = 16;
}

/// The exchange instrument type the master uses for indices.
const INDEX_TYPE: &str = "10";

/// What the socket and REST need to know about one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The Fyers symbol, e.g. `NSE:SBIN-EQ`.
    pub symbol: String,
    /// The instrument's price divisor (same as its registry spec).
    pub divisor: u32,
    pub is_index: bool,
}

/// One usable master row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub spec: InstrumentSpec,
    pub entry: Entry,
}

/// Why a row was skipped (counted per load, never fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A header line.
    Header,
    /// Missing or malformed fyToken or symbol.
    Malformed,
    /// A segment the data socket does not serve.
    UnknownSegment,
    /// The exchange token does not fit the 24 bits of our token.
    TokenTooLarge,
}

/// Kite's exchange, segment name (cash; derivatives get `-FUT`/`-OPT`) and segment id for a
/// Fyers segment.
fn kite_segment(segment: Segment) -> (&'static str, &'static str, u32) {
    match segment {
        Segment::NseCm => ("NSE", "NSE", 1),
        Segment::NseFo => ("NFO", "NFO", 2),
        Segment::CdeFo => ("CDS", "CDS", 3),
        Segment::BseCm => ("BSE", "BSE", 4),
        Segment::BseFo => ("BFO", "BFO", 5),
        Segment::BcsFo => ("BCD", "BCD", 6),
        Segment::McxFo => ("MCX", "MCX", 7),
        Segment::NseCom => ("NCO", "NCO", 12),
    }
}

/// Kite's segment id for indices.
const INDICES_SEGMENT_ID: u32 = 9;

/// `(exchange_token << 8) | segment_id`, if the exchange token fits 24 bits.
pub fn token_for(fy_token: &FyToken, segment_id: u32) -> Option<Token> {
    let exchange_token: u32 = fy_token.exchange_token().parse().ok()?;
    (exchange_token < 1 << 24).then_some((exchange_token << 8) | segment_id)
}

/// Parses one master row.
pub fn parse_row(fields: &csv::StringRecord) -> Result<Row, Skip> {
    let get = |i: usize| fields.get(i).map(str::trim).unwrap_or("");
    let fy_text = get(col::FY_TOKEN);
    if !fy_text.is_empty() && !fy_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Skip::Header);
    }
    let fy_token = FyToken::new(fy_text).map_err(|_| Skip::Malformed)?;
    let symbol = FyersSymbol::new(get(col::SYMBOL)).map_err(|_| Skip::Malformed)?;
    let segment = fy_token.segment().ok_or(Skip::UnknownSegment)?;
    let class = Class::of(
        segment,
        &symbol,
        get(col::INSTRUMENT_TYPE),
        get(col::OPTION_TYPE),
    );
    let naming = Naming::new(class, segment, &fy_token, &symbol)?;
    let name = display_name(class, &naming, get(col::UNDERLYING), get(col::DESCRIPTION));
    let currency = matches!(segment, Segment::CdeFo | Segment::BcsFo);
    let divisor = divisor_for(get(col::TICK_SIZE), if currency { 4 } else { 2 });
    let is_index = class == Class::Index;
    Ok(Row {
        spec: InstrumentSpec {
            token: naming.token,
            exchange: naming.exchange.to_string(),
            tradingsymbol: naming.tradingsymbol,
            name,
            segment: naming.segment,
            instrument_type: naming.instrument_type.to_string(),
            tick_size: tick_size(get(col::TICK_SIZE)),
            lot_size: if is_index {
                0
            } else {
                lot_size(get(col::LOT_SIZE))
            },
            divisor,
            is_index,
            expiry: expiry_date(get(col::EXPIRY)),
            strike: strike(get(col::STRIKE)),
        },
        entry: Entry {
            symbol: symbol.as_str().to_string(),
            divisor,
            is_index,
        },
    })
}

/// The IST date of the master's expiry (epoch seconds of the expiry day's close); `None` for
/// cash instruments (empty or 0).
fn expiry_date(text: &str) -> Option<chrono::NaiveDate> {
    let secs: i64 = text.parse::<f64>().ok().filter(|s| *s > 0.0)? as i64;
    let ist = secs + crate::model::ist::IST_OFFSET_SECS;
    chrono::DateTime::from_timestamp(ist, 0).map(|d| d.date_naive())
}

/// An option's strike in rupees; the master writes `-1.0` (or nothing) for everything else.
fn strike(text: &str) -> f64 {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(0.0)
}

/// What an instrument is, as far as its canonical naming goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class<'a> {
    /// An NSE or BSE index.
    Index,
    /// A cash (equity) instrument.
    Cash,
    /// A future, or an option (`CE`/`PE`).
    Derivative { option: Option<&'a str> },
}

impl<'a> Class<'a> {
    fn of(
        segment: Segment,
        symbol: &FyersSymbol,
        instrument_type: &str,
        option_type: &'a str,
    ) -> Self {
        let cash = matches!(segment, Segment::NseCm | Segment::BseCm);
        if cash && (symbol.is_index() || instrument_type == INDEX_TYPE) {
            Self::Index
        } else if cash {
            Self::Cash
        } else {
            let option = matches!(option_type, "CE" | "PE").then_some(option_type);
            Self::Derivative { option }
        }
    }
}

/// An instrument's canonical (Kite) names and token.
#[derive(Debug)]
struct Naming<'a> {
    exchange: &'static str,
    tradingsymbol: String,
    segment: String,
    instrument_type: &'a str,
    token: Token,
}

impl<'a> Naming<'a> {
    /// See the table in the module docs.
    fn new(
        class: Class<'a>,
        segment: Segment,
        fy_token: &FyToken,
        symbol: &FyersSymbol,
    ) -> Result<Self, Skip> {
        let (exchange, segment_name, segment_id) = kite_segment(segment);
        let token = |segment_id| token_for(fy_token, segment_id).ok_or(Skip::TokenTooLarge);
        Ok(match class {
            Class::Index => {
                let upper = symbol.as_str().to_ascii_uppercase();
                let canonical = fyers_index_symbol(&upper).ok_or(Skip::Malformed)?;
                let name = canonical
                    .split_once(':')
                    .map_or(canonical.as_str(), |(_, n)| n)
                    .to_string();
                Self {
                    exchange,
                    tradingsymbol: name,
                    segment: "INDICES".to_string(),
                    instrument_type: "EQ",
                    token: token(INDICES_SEGMENT_ID)?,
                }
            }
            Class::Cash => {
                let ticker = symbol.ticker();
                let name = match segment {
                    Segment::BseCm => strip_bse_group(ticker),
                    _ => ticker.strip_suffix("-EQ").unwrap_or(ticker),
                };
                Self {
                    exchange,
                    tradingsymbol: name.to_string(),
                    segment: segment_name.to_string(),
                    instrument_type: "EQ",
                    token: token(segment_id)?,
                }
            }
            Class::Derivative { option } => {
                let kind = if option.is_some() { "OPT" } else { "FUT" };
                Self {
                    exchange,
                    tradingsymbol: symbol.ticker().to_string(),
                    segment: format!("{segment_name}-{kind}"),
                    instrument_type: option.unwrap_or("FUT"),
                    token: token(segment_id)?,
                }
            }
        })
    }
}

/// The instrument's name: an index's own, a derivative's underlying, else the master's
/// description (or the trading symbol when it has none).
fn display_name(
    class: Class<'_>,
    naming: &Naming<'_>,
    underlying: &str,
    description: &str,
) -> String {
    match class {
        Class::Index => naming.tradingsymbol.clone(),
        Class::Derivative { .. } if !underlying.is_empty() => underlying.to_string(),
        _ if description.is_empty() => naming.tradingsymbol.clone(),
        _ => description.to_string(),
    }
}

/// The tick size in rupees; 0.05 when missing or unusable.
fn tick_size(text: &str) -> f64 {
    text.parse()
        .ok()
        .filter(|t: &f64| t.is_finite() && *t > 0.0)
        .unwrap_or(0.05)
}

/// The lot size; 1 when missing or unusable.
fn lot_size(text: &str) -> u32 {
    text.parse::<f64>()
        .ok()
        .filter(|l| l.is_finite() && *l >= 0.0 && *l <= f64::from(u32::MAX))
        .map_or(1, |l| l as u32)
}

/// `BSE:SBIN-A` → `SBIN`: BSE cash tickers end in their group (`A`, `B`, `T`, `XT`, …), which
/// Kite's symbols do not carry. Only a final part of one or two letters/digits is dropped, so
/// `BAJAJ-AUTO-A` keeps `BAJAJ-AUTO`.
fn strip_bse_group(ticker: &str) -> &str {
    match ticker.rsplit_once('-') {
        Some((base, group))
            if !base.is_empty()
                && (1..=2).contains(&group.len())
                && group.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            base
        }
        _ => ticker,
    }
}

/// `10^max(min_digits, decimals of the tick size text)`, capped at 10^9.
fn divisor_for(tick_size: &str, min_digits: u32) -> u32 {
    let decimals = tick_size
        .split_once('.')
        .map_or(0, |(_, frac)| frac.trim_end_matches('0').len());
    let digits = u32::try_from(decimals).unwrap_or(9).clamp(min_digits, 9);
    10u32.pow(digits)
}

/// Every usable row of one master file, plus how many were skipped (header lines aside).
pub fn parse_file(body: &[u8]) -> (Vec<Row>, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rows = Vec::new();
    let mut skipped = 0usize;
    for record in reader.records() {
        match record
            .as_ref()
            .map_err(|_| Skip::Malformed)
            .and_then(parse_row)
        {
            Ok(row) => rows.push(row),
            Err(Skip::Header) => {}
            Err(_) => skipped += 1,
        }
    }
    (rows, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Master rows in the real layout (21 columns).
    const NSE_CM: &str = "\
10100000003045,STATE BANK OF INDIA,0,1,0.05,INE062A01020,0915-1530|1815-1915:,1700000000,,NSE:SBIN-EQ,10,10,3045,SBIN,3045,-1.0,XX,10100000003045,None,0,None
101000000016669,BAJAJ AUTO LIMITED,0,1,0.05,INE917I01010,0915-1530|1815-1915:,1700000000,,NSE:BAJAJ-AUTO-EQ,10,10,16669,BAJAJ-AUTO,16669,-1.0,XX,10100000016669,None,0,None
101000000012345,CENTRAL BANK OF INDIA,0,1,0.01,INE483A01010,0915-1530|1815-1915:,1700000000,,NSE:CENTRALBK-BE,10,10,12345,CENTRALBK,12345,-1.0,XX,10100000012345,None,0,None
101000000026000,Nifty 50,10,1,0.05,,0915-1530|1815-1915:,1700000000,,NSE:NIFTY50-INDEX,10,10,26000,NIFTY50,26000,-1.0,XX,101000000026000,None,0,None
";

    fn rows(text: &str) -> Vec<Row> {
        let (rows, skipped) = parse_file(text.as_bytes());
        assert_eq!(skipped, 0);
        rows
    }

    fn by_symbol<'a>(rows: &'a [Row], fyers: &str) -> &'a Row {
        rows.iter().find(|r| r.entry.symbol == fyers).unwrap()
    }

    #[test]
    fn cash_and_index_rows_get_kite_symbols_tokens_and_segments() {
        let rows = rows(NSE_CM);
        // (fyers, exchange, tradingsymbol, segment, token, divisor, index)
        let cases = [
            ("NSE:SBIN-EQ", "NSE", "SBIN", "NSE", 779_521, 100, false),
            (
                "NSE:BAJAJ-AUTO-EQ",
                "NSE",
                "BAJAJ-AUTO",
                "NSE",
                (16_669 << 8) | 1,
                100,
                false,
            ),
            (
                "NSE:CENTRALBK-BE",
                "NSE",
                "CENTRALBK-BE",
                "NSE",
                (12_345 << 8) | 1,
                100,
                false,
            ),
            (
                "NSE:NIFTY50-INDEX",
                "NSE",
                "NIFTY 50",
                "INDICES",
                (26_000 << 8) | 9,
                100,
                true,
            ),
        ];
        for (fyers, exchange, ts, segment, token, divisor, index) in cases {
            let r = by_symbol(&rows, fyers);
            assert_eq!(
                (
                    r.spec.exchange.as_str(),
                    r.spec.tradingsymbol.as_str(),
                    r.spec.segment.as_str(),
                    r.spec.token,
                    r.spec.divisor,
                    r.spec.is_index
                ),
                (exchange, ts, segment, token, divisor, index),
                "{fyers}"
            );
            assert_eq!(r.entry.divisor, r.spec.divisor);
        }
        let sbin = by_symbol(&rows, "NSE:SBIN-EQ");
        assert_eq!(sbin.spec.name, "STATE BANK OF INDIA");
        assert_eq!(sbin.spec.instrument_type, "EQ");
        assert_eq!(by_symbol(&rows, "NSE:NIFTY50-INDEX").spec.lot_size, 0);
    }

    #[test]
    fn derivatives_move_to_their_f_and_o_exchange() {
        let text = "\
1011251127035003,NIFTY 25 Nov 27 FUT,11,75,0.1,,0915-1530:,1700000000,1764237600,NSE:NIFTY25NOVFUT,10,11,35003,NIFTY,26000,-1.0,XX,101000000026000,None,0,None
1011251127043650,NIFTY 25 Nov 24300 CE,14,75,0.05,,0915-1530:,1700000000,1764237600,NSE:NIFTY25NOV24300CE,10,11,43650,NIFTY,26000,24300.0,CE,101000000026000,None,0,None
1012251126001901,USDINR 25 Nov 26 FUT,16,1,0.0025,,0900-1700:,1700000000,1764151200,NSE:USDINR25NOVFUT,10,12,1901,USDINR,1,-1.0,XX,10120000000001,None,0,None
1212251126001207,USDINR 25 Nov FUT,16,1,0.0025,,0900-1700:,1700000000,1764151200,BSE:USDINR25NOVFUT,12,12,1207,USDINR,1,-1.0,XX,1212000000001,None,0,None
1120251119012345,CRUDEOIL 25 Nov FUT,30,100,1.0,,0900-2330:,1700000000,1763553600,MCX:CRUDEOIL25NOVFUT,11,20,12345,CRUDEOIL,1,-1.0,XX,112000000001,None,0,None
";
        let rows = rows(text);
        let cases = [
            (
                "NSE:NIFTY25NOVFUT",
                "NFO:NIFTY25NOVFUT",
                "NFO-FUT",
                "FUT",
                (35_003 << 8) | 2,
                100,
            ),
            (
                "NSE:NIFTY25NOV24300CE",
                "NFO:NIFTY25NOV24300CE",
                "NFO-OPT",
                "CE",
                (43_650 << 8) | 2,
                100,
            ),
            (
                "NSE:USDINR25NOVFUT",
                "CDS:USDINR25NOVFUT",
                "CDS-FUT",
                "FUT",
                (1_901 << 8) | 3,
                10_000,
            ),
            (
                "BSE:USDINR25NOVFUT",
                "BCD:USDINR25NOVFUT",
                "BCD-FUT",
                "FUT",
                (1_207 << 8) | 6,
                10_000,
            ),
            (
                "MCX:CRUDEOIL25NOVFUT",
                "MCX:CRUDEOIL25NOVFUT",
                "MCX-FUT",
                "FUT",
                (12_345 << 8) | 7,
                100,
            ),
        ];
        for (fyers, canonical, segment, kind, token, divisor) in cases {
            let r = by_symbol(&rows, fyers);
            let sym = format!("{}:{}", r.spec.exchange, r.spec.tradingsymbol);
            assert_eq!(
                (
                    sym.as_str(),
                    r.spec.segment.as_str(),
                    r.spec.instrument_type.as_str(),
                    r.spec.token,
                    r.spec.divisor
                ),
                (canonical, segment, kind, token, divisor),
                "{fyers}"
            );
        }
        assert_eq!(by_symbol(&rows, "NSE:NIFTY25NOVFUT").spec.name, "NIFTY");
        assert_eq!(by_symbol(&rows, "NSE:NIFTY25NOVFUT").spec.lot_size, 75);
        let ce = &by_symbol(&rows, "NSE:NIFTY25NOV24300CE").spec;
        let expiry = chrono::NaiveDate::from_ymd_opt(2025, 11, 27);
        assert_eq!((ce.expiry, ce.strike), (expiry, 24_300.0));
        let fut = &by_symbol(&rows, "NSE:NIFTY25NOVFUT").spec;
        assert_eq!((fut.expiry, fut.strike), (expiry, 0.0), "no strike: -1.0");
        let cash = &self::rows(NSE_CM)[0].spec;
        assert_eq!((cash.expiry, cash.strike), (None, 0.0));
    }

    #[test]
    fn bse_groups_are_dropped_and_odd_rows_skipped() {
        assert_eq!(strip_bse_group("SBIN-A"), "SBIN");
        assert_eq!(strip_bse_group("BAJAJ-AUTO-XT"), "BAJAJ-AUTO");
        assert_eq!(strip_bse_group("BAJAJ-AUTO"), "BAJAJ-AUTO");
        assert_eq!(strip_bse_group("-A"), "-A");
        let text = "\
Fytoken,Symbol Details,Exchange Instrument type,Minimum lot size,Tick size,ISIN,Trading Session,Last update date,Expiry date,Symbol ticker
1210000000500112,STATE BANK OF INDIA,0,1,0.05,INE062A01020,0915-1530:,1700000000,,BSE:SBIN-A,12,10,500112,SBIN,500112,-1.0,XX,12100000500112,None,0,None
121000000001,SENSEX,10,1,0.01,,0915-1530:,1700000000,,BSE:SENSEX-INDEX,12,10,1,SENSEX,1,-1.0,XX,121000000001,None,0,None
99990000001234,ODD,0,1,0.05,,,,,NSE:ODD-EQ
1010,SHORT,0,1,0.05,,,,,NSE:SHORT-EQ
101000000016777216,HUGE,0,1,0.05,,,,,NSE:HUGE-EQ
10100000000001,NO SYMBOL,0,1,0.05
";
        let (rows, skipped) = parse_file(text.as_bytes());
        assert_eq!(
            skipped, 4,
            "unknown segment, short token, token too large, no symbol"
        );
        let sbin = by_symbol(&rows, "BSE:SBIN-A");
        assert_eq!(
            (
                sbin.spec.exchange.as_str(),
                sbin.spec.tradingsymbol.as_str(),
                sbin.spec.token
            ),
            ("BSE", "SBIN", (500_112 << 8) | 4)
        );
        let sensex = by_symbol(&rows, "BSE:SENSEX-INDEX");
        assert_eq!(
            (
                sensex.spec.tradingsymbol.as_str(),
                sensex.spec.token,
                sensex.spec.divisor
            ),
            ("SENSEX", 265, 100),
            "the same token Kite gives SENSEX"
        );
    }

    #[test]
    fn divisors_keep_every_tick_exact() {
        let cases = [
            ("0.05", 2, 100),
            ("0.01", 2, 100),
            ("1.0", 2, 100),
            ("0.0025", 4, 10_000),
            ("0.0025", 2, 10_000),
            ("0.25", 4, 10_000),
            ("0.000001", 2, 1_000_000),
            ("", 2, 100),
            ("0.0000000000001", 2, 1_000_000_000),
        ];
        for (tick, min, want) in cases {
            assert_eq!(divisor_for(tick, min), want, "{tick}");
        }
    }
}

//! The simulator's fixed catalogue: real Kite tokens for the indices and NIFTY 50 stocks
//! (`token = (exchange_token << 8) | segment`, matching Zerodha's dump where it has them, e.g.
//! INFY 408065, RELIANCE 738561, SBIN 779521), plus current-month derivatives whose symbols and
//! expiries follow the date the simulator starts on.

use super::expiry;
use super::{Instrument, InstrumentType, Universe};
use chrono::NaiveDate;

const SEG_NSE: u32 = 1;
const SEG_NFO: u32 = 2;
const SEG_CDS: u32 = 3;
const SEG_BCD: u32 = 6;
const SEG_INDICES: u32 = 9;

/// NIFTY 50 constituents: (symbol, NSE exchange token, name, reference price in paise).
const NIFTY50: [(&str, u32, &str, i64); 50] = [
    ("ADANIENT", 25, "ADANI ENTERPRISES", 240_000),
    ("ADANIPORTS", 15_083, "ADANI PORT & SEZ", 145_000),
    ("APOLLOHOSP", 157, "APOLLO HOSPITALS", 750_000),
    ("ASIANPAINT", 236, "ASIAN PAINTS", 245_000),
    ("AXISBANK", 5_900, "AXIS BANK", 115_000),
    ("BAJAJ-AUTO", 16_669, "BAJAJ AUTO", 880_000),
    ("BAJAJFINSV", 16_675, "BAJAJ FINSERV", 200_000),
    ("BAJFINANCE", 317, "BAJAJ FINANCE", 100_000),
    ("BEL", 383, "BHARAT ELECTRONICS", 41_000),
    ("BHARTIARTL", 10_604, "BHARTI AIRTEL", 205_000),
    ("CIPLA", 694, "CIPLA", 152_000),
    ("COALINDIA", 20_374, "COAL INDIA", 38_500),
    ("DRREDDY", 881, "DR. REDDY S LABORATORIES", 125_000),
    ("EICHERMOT", 910, "EICHER MOTORS", 690_000),
    ("ETERNAL", 5_097, "ETERNAL", 31_000),
    ("GRASIM", 1_232, "GRASIM INDUSTRIES", 275_000),
    ("HCLTECH", 7_229, "HCL TECHNOLOGIES", 155_000),
    ("HDFCBANK", 1_333, "HDFC BANK", 99_000),
    ("HDFCLIFE", 467, "HDFC LIFE INS CO", 76_000),
    ("HEROMOTOCO", 1_348, "HERO MOTOCORP", 550_000),
    ("HINDALCO", 1_363, "HINDALCO INDUSTRIES", 80_000),
    ("HINDUNILVR", 1_394, "HINDUSTAN UNILEVER", 245_000),
    ("ICICIBANK", 4_963, "ICICI BANK", 138_000),
    ("INDUSINDBK", 5_258, "INDUSIND BANK", 76_000),
    ("INFY", 1_594, "INFOSYS", 150_000),
    ("ITC", 1_660, "ITC", 40_500),
    ("JIOFIN", 18_143, "JIO FIN SERVICES", 30_500),
    ("JSWSTEEL", 11_723, "JSW STEEL", 117_000),
    ("KOTAKBANK", 1_922, "KOTAK MAHINDRA BANK", 210_000),
    ("LT", 11_483, "LARSEN & TOUBRO", 395_000),
    ("M&M", 2_031, "MAHINDRA & MAHINDRA", 365_000),
    ("MARUTI", 10_999, "MARUTI SUZUKI INDIA", 1_600_000),
    ("NESTLEIND", 17_963, "NESTLE INDIA", 125_000),
    ("NTPC", 11_630, "NTPC", 33_000),
    ("ONGC", 2_475, "OIL AND NATURAL GAS CORP.", 25_000),
    ("POWERGRID", 14_977, "POWER GRID CORP. LTD.", 27_000),
    ("RELIANCE", 2_885, "RELIANCE INDUSTRIES", 150_000),
    ("SBILIFE", 21_808, "SBI LIFE INSURANCE CO", 195_000),
    ("SBIN", 3_045, "STATE BANK OF INDIA", 95_000),
    ("SHRIRAMFIN", 4_306, "SHRIRAM FINANCE", 80_000),
    ("SUNPHARMA", 3_351, "SUN PHARMACEUTICAL IND L", 175_000),
    ("TATACONSUM", 3_432, "TATA CONSUMER PRODUCT", 115_000),
    ("TATAMOTORS", 3_456, "TATA MOTORS", 68_000),
    ("TATASTEEL", 3_499, "TATA STEEL", 17_000),
    ("TCS", 11_536, "TATA CONSULTANCY SERV", 310_000),
    ("TECHM", 13_538, "TECH MAHINDRA", 145_000),
    ("TITAN", 3_506, "TITAN COMPANY", 370_000),
    ("TRENT", 1_964, "TRENT", 470_000),
    ("ULTRACEMCO", 11_532, "ULTRATECH CEMENT", 1_180_000),
    ("WIPRO", 3_787, "WIPRO", 24_500),
];

const NIFTY_REF: i64 = 2_430_000;
const BANKNIFTY_REF: i64 = 5_450_000;
const SENSEX_REF: i64 = 8_000_000;

fn token(exchange_token: u32, segment: u32) -> u32 {
    (exchange_token << 8) | segment
}

struct Spec<'a> {
    exchange_token: u32,
    segment_id: u32,
    tradingsymbol: String,
    name: &'a str,
    exchange: &'a str,
    segment: &'a str,
    instrument_type: InstrumentType,
    expiry: Option<NaiveDate>,
    strike: i64,
    tick_size: i64,
    lot_size: u32,
    divisor: i64,
    base_price: i64,
}

impl<'a> Spec<'a> {
    /// An NSE cash stock: ₹0.05 ticks, lot size 1, prices in paise.
    fn nse_equity(
        exchange_token: u32,
        tradingsymbol: String,
        name: &'a str,
        base_price: i64,
    ) -> Self {
        Spec {
            exchange_token,
            segment_id: SEG_NSE,
            tradingsymbol,
            name,
            exchange: "NSE",
            segment: "NSE",
            instrument_type: InstrumentType::Eq,
            expiry: None,
            strike: 0,
            tick_size: 5,
            lot_size: 1,
            divisor: 100,
            base_price,
        }
    }

    fn build(self) -> Instrument {
        Instrument {
            token: token(self.exchange_token, self.segment_id),
            exchange_token: self.exchange_token,
            tradingsymbol: self.tradingsymbol,
            name: self.name.to_owned(),
            exchange: self.exchange.to_owned(),
            segment: self.segment.to_owned(),
            instrument_type: self.instrument_type,
            expiry: self.expiry,
            strike: self.strike,
            tick_size: self.tick_size,
            lot_size: self.lot_size,
            divisor: self.divisor,
            base_price: self.base_price,
        }
    }
}

fn index(exchange_token: u32, symbol: &str, exchange: &str, base_price: i64) -> Instrument {
    Spec {
        exchange_token,
        segment_id: SEG_INDICES,
        tradingsymbol: symbol.to_owned(),
        name: symbol,
        exchange,
        segment: "INDICES",
        instrument_type: InstrumentType::Eq,
        expiry: None,
        strike: 0,
        tick_size: 5,
        lot_size: 0,
        divisor: 100,
        base_price,
    }
    .build()
}

/// The whole universe for a simulator started on `today` (IST): derivatives are the
/// current-month contracts (next month's once this month's have expired).
pub fn build(today: NaiveDate) -> Universe {
    let mut all = vec![
        index(1_001, "NIFTY 50", "NSE", NIFTY_REF),
        index(1_016, "NIFTY BANK", "NSE", BANKNIFTY_REF),
        index(1, "SENSEX", "BSE", SENSEX_REF),
    ];
    all.extend(
        NIFTY50
            .iter()
            .map(|&(symbol, exchange_token, name, base_price)| {
                Spec::nse_equity(exchange_token, symbol.to_owned(), name, base_price).build()
            }),
    );
    all.extend(derivatives(today));
    Universe::new(all)
}

/// Exchange token of `NSE:SYN0001`; synthetic stocks count up from here, far above any real
/// NSE token in the catalogue.
const SYNTHETIC_BASE_EXCHANGE_TOKEN: u32 = 100_000;

/// The catalogue plus `extra` synthetic NSE stocks `SYN0001`, `SYN0002`, … (at most
/// [`crate::config::MAX_EXTRA_INSTRUMENTS`]), with tokens following Kite's scheme
/// (`(exchange_token << 8) | 1`) and prices between ₹100 and ₹1,095.
pub fn build_with_synthetic(today: NaiveDate, extra: usize) -> Universe {
    let catalogue = build(today).instruments().to_vec();
    Universe::with_synthetic(catalogue, synthetic(extra))
}

fn synthetic(count: usize) -> Vec<Instrument> {
    (1..=count)
        .filter_map(|n| {
            let n32 = u32::try_from(n).ok()?;
            // Kite tokens carry the exchange token in 24 bits.
            let exchange_token = SYNTHETIC_BASE_EXCHANGE_TOKEN
                .checked_add(n32)
                .filter(|t| *t < 1 << 24)?;
            let name = format!("SYNTHETIC {n:04}");
            let base_price = 10_000 + i64::from(n32 % 200) * 500;
            Some(Spec::nse_equity(exchange_token, format!("SYN{n:04}"), &name, base_price).build())
        })
        .collect()
}

/// The NIFTY and BANKNIFTY futures, four NIFTY options and the two USDINR futures, in that
/// order, on the contract months in force on `today`.
fn derivatives(today: NaiveDate) -> Vec<Instrument> {
    let mut out = index_futures(today);
    out.extend(nifty_options(today));
    out.extend(usdinr_futures(today));
    out
}

fn index_futures(today: NaiveDate) -> Vec<Instrument> {
    let expiry = expiry::nse_monthly(today);
    let code = expiry::month_code(expiry);
    let future = |exchange_token, underlying: &str, name, base_price, lot_size| Spec {
        exchange_token,
        segment_id: SEG_NFO,
        tradingsymbol: format!("{underlying}{code}FUT"),
        name,
        exchange: "NFO",
        segment: "NFO-FUT",
        instrument_type: InstrumentType::Fut,
        expiry: Some(expiry),
        strike: 0,
        tick_size: 10,
        lot_size,
        divisor: 100,
        base_price,
    };
    vec![
        future(52_343, "NIFTY", "NIFTY", NIFTY_REF + 12_000, 75).build(),
        future(52_344, "BANKNIFTY", "BANKNIFTY", BANKNIFTY_REF + 30_000, 35).build(),
    ]
}

/// A call and a put at the money, a call above and a put below it.
fn nifty_options(today: NaiveDate) -> Vec<Instrument> {
    let expiry = expiry::nse_monthly(today);
    let code = expiry::month_code(expiry);
    // At-the-money strike on the 100-point grid of the reference level.
    let atm = (NIFTY_REF / 10_000) * 10_000;
    let option = |exchange_token, strike: i64, instrument_type: InstrumentType, base_price| Spec {
        exchange_token,
        segment_id: SEG_NFO,
        tradingsymbol: format!("NIFTY{code}{}{}", strike / 100, instrument_type.as_str()),
        name: "NIFTY",
        exchange: "NFO",
        segment: "NFO-OPT",
        instrument_type,
        expiry: Some(expiry),
        strike,
        tick_size: 5,
        lot_size: 75,
        divisor: 100,
        base_price,
    };
    vec![
        option(43_650, atm, InstrumentType::Ce, 24_500).build(),
        option(43_651, atm, InstrumentType::Pe, 22_000).build(),
        option(43_660, atm + 20_000, InstrumentType::Ce, 13_500).build(),
        option(43_641, atm - 20_000, InstrumentType::Pe, 12_000).build(),
    ]
}

/// USDINR at 88.50 on both currency segments: CDS prices are in 10^-7 rupee, BCD prices in
/// 10^-4 rupee.
fn usdinr_futures(today: NaiveDate) -> Vec<Instrument> {
    let expiry = expiry::currency_monthly(today);
    let code = expiry::month_code(expiry);
    let future = |exchange_token, segment_id, exchange, segment, tick_size, divisor, base| Spec {
        exchange_token,
        segment_id,
        tradingsymbol: format!("USDINR{code}FUT"),
        name: "USDINR",
        exchange,
        segment,
        instrument_type: InstrumentType::Fut,
        expiry: Some(expiry),
        strike: 0,
        tick_size,
        lot_size: 1,
        divisor,
        base_price: base,
    };
    vec![
        future(
            1_901,
            SEG_CDS,
            "CDS",
            "CDS-FUT",
            25_000,
            10_000_000,
            885_000_000,
        )
        .build(),
        future(1_207, SEG_BCD, "BCD", "BCD-FUT", 25, 10_000, 885_000).build(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn universe() -> Universe {
        build("2025-11-10".parse().unwrap())
    }

    #[test]
    fn known_tokens_match_kites() {
        let u = universe();
        let cases = [
            ("NSE:NIFTY 50", 256_265),
            ("NSE:NIFTY BANK", 260_105),
            ("BSE:SENSEX", 265),
            ("NSE:INFY", 408_065),
            ("NSE:RELIANCE", 738_561),
            ("NSE:SBIN", 779_521),
            ("NSE:ADANIPORTS", 3_861_249),
            ("NSE:TATAMOTORS", 884_737),
        ];
        for (symbol, token) in cases {
            let idx = u.index_of_symbol(symbol).unwrap();
            assert_eq!(u.get(idx).unwrap().token, token, "{symbol}");
        }
    }

    #[test]
    fn tokens_and_symbols_are_unique_and_consistent() {
        let u = universe();
        let tokens: HashSet<u32> = u.instruments().iter().map(|i| i.token).collect();
        let symbols: HashSet<String> = u.instruments().iter().map(Instrument::symbol).collect();
        assert_eq!(tokens.len(), u.len());
        assert_eq!(symbols.len(), u.len());
        for inst in u.instruments() {
            assert_eq!(
                inst.token >> 8,
                inst.exchange_token,
                "{}",
                inst.tradingsymbol
            );
            assert_eq!(
                inst.base_price % inst.tick_size,
                0,
                "{}",
                inst.tradingsymbol
            );
            assert_eq!(inst.strike % inst.tick_size, 0, "{}", inst.tradingsymbol);
        }
    }

    #[test]
    fn has_every_segment_the_issue_asks_for() {
        let u = universe();
        let segments: HashSet<u32> = u.instruments().iter().map(|i| i.token & 0xff).collect();
        for seg in [SEG_NSE, SEG_NFO, SEG_CDS, SEG_BCD, SEG_INDICES] {
            assert!(segments.contains(&seg), "segment {seg}");
        }
        let stocks = u
            .instruments()
            .iter()
            .filter(|i| i.segment == "NSE")
            .count();
        assert_eq!(stocks, 50);
    }

    #[test]
    fn synthetic_instruments_follow_the_catalogue_with_consistent_tokens() {
        let today = "2025-11-10".parse().unwrap();
        let plain = build(today);
        let u = build_with_synthetic(today, 3_500);
        assert_eq!(u.len(), plain.len() + 3_500);
        assert_eq!(u.synthetic_from(), plain.len());
        assert_eq!(plain.synthetic_from(), plain.len(), "none by default");
        assert_eq!(
            &u.instruments()[..plain.len()],
            plain.instruments(),
            "the catalogue is unchanged"
        );
        let tokens: HashSet<u32> = u.instruments().iter().map(|i| i.token).collect();
        let symbols: HashSet<String> = u.instruments().iter().map(Instrument::symbol).collect();
        assert_eq!(tokens.len(), u.len());
        assert_eq!(symbols.len(), u.len());
        for (symbol, exchange_token) in [("NSE:SYN0001", 100_001), ("NSE:SYN3500", 103_500)] {
            let inst = u.get(u.index_of_symbol(symbol).unwrap()).unwrap();
            assert_eq!(inst.exchange_token, exchange_token);
            assert_eq!(inst.token, (exchange_token << 8) | SEG_NSE);
            assert_eq!(u.index_of_token(inst.token), u.index_of_symbol(symbol));
            assert_eq!(inst.base_price % inst.tick_size, 0);
        }
    }

    #[test]
    fn derivative_symbols_follow_the_expiry_month() {
        let u = universe();
        for symbol in [
            "NFO:NIFTY25NOVFUT",
            "NFO:BANKNIFTY25NOVFUT",
            "NFO:NIFTY25NOV24300CE",
            "NFO:NIFTY25NOV24300PE",
            "CDS:USDINR25NOVFUT",
            "BCD:USDINR25NOVFUT",
        ] {
            assert!(u.index_of_symbol(symbol).is_some(), "{symbol}");
        }
    }
}

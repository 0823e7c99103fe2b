//! The public `sym_details` documents: the per-segment symbol masters
//! (`/sym_details/NSE_CM.csv`, `NSE_FO.csv`, `NSE_CD.csv`, `BSE_CM.csv`, … — what a gateway
//! loads its instrument list from) and `index_hsm_mapping.json` (index symbol → topic name).
//! Unauthenticated, like Fyers'.
//!
//! Layout of the masters, as published by Fyers at `https://public.fyers.in/sym_details/` (no
//! header row, 21 columns, no quoted fields; established from third-party parsers and sample
//! rows of the live files, e.g. `10100000003045,STATE BANK OF INDIA,0,1,0.05,INE062A01020,
//! 0915-1530|1815-1915:,2026-10-03,,NSE:SBIN-EQ,10,10,3045,SBIN,3045,-1.0,XX,10100000003045,
//! None,None,None`):
//!
//! | # | column | here |
//! |---|---|---|
//! | 0 | Fytoken | `<segment prefix><000000 or expiry YYMMDD><scrip code>` |
//! | 1 | Symbol Details | company name, index name, or `NIFTY 25 Nov 25 24300 CE` |
//! | 2 | Exchange Instrument type | 0 equity, 10 index, 11 FUTIDX, 13 FUTSTK, 14 OPTIDX, 15 OPTSTK, 16 FUTCUR |
//! | 3 | Minimum lot size | lot size (1 for equities and indices) |
//! | 4 | Tick size | rupees, e.g. `0.05` |
//! | 5 | ISIN | empty (the simulator has none) |
//! | 6 | Trading Session | `0915-1530\|1815-1915:` (currency `0900-1700\|1815-1915:`) |
//! | 7 | Last update date | the simulator's start date (IST), `YYYY-MM-DD` |
//! | 8 | Expiry date | epoch seconds of 15:30 IST on expiry (currency 12:30 IST); empty for cash |
//! | 9 | Symbol ticker | `NSE:SBIN-EQ` |
//! | 10 | Exchange | 10 NSE, 12 BSE |
//! | 11 | Segment | 10 cash, 11 F&O, 12 currency |
//! | 12 | Scrip code | exchange token |
//! | 13 | Underlying symbol | `SBIN`, `NIFTY 50`, `NIFTY`, `USDINR` |
//! | 14 | Underlying scrip code | own code; the underlying index's for derivatives |
//! | 15 | Strike price | `-1.0`, or the strike in rupees |
//! | 16 | Option type | `XX`, `CE`, `PE` |
//! | 17 | Underlying FyToken | own fyToken; the underlying's for derivatives |
//! | 18–20 | reserved | `None` |
//!
//! `BSE_CD.csv` (BSE currency, segment `bcs_fo`) is the simulator's name for the one file whose
//! real name could not be confirmed; segments the universe does not trade (`BSE_FO`, `MCX_COM`,
//! `NSE_COM`) are served empty.

use crate::clock::ist_date;
use crate::decimal;
use crate::fyers::catalog::{FyersCatalog, FyersInstrument};
use crate::shared::Shared;
use crate::universe::{Instrument, InstrumentType, Universe};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Asia::Kolkata;
use feedgate_fyers::Segment;
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::error;

/// The master files served, with the segments each holds.
const FILES: [(&str, &[Segment]); 8] = [
    ("NSE_CM.csv", &[Segment::NseCm]),
    ("NSE_FO.csv", &[Segment::NseFo]),
    ("NSE_CD.csv", &[Segment::CdeFo]),
    ("NSE_COM.csv", &[Segment::NseCom]),
    ("BSE_CM.csv", &[Segment::BseCm]),
    ("BSE_FO.csv", &[Segment::BseFo]),
    ("BSE_CD.csv", &[Segment::BcsFo]),
    ("MCX_COM.csv", &[Segment::McxFo]),
];

/// Underlyings whose derivatives are index derivatives, with their Fyers index code.
const INDEX_UNDERLYINGS: [(&str, u32); 2] = [("NIFTY", 26_000), ("BANKNIFTY", 26_009)];
/// Currency underlyings: Fyers' underlying code and fyToken.
const CURRENCY_UNDERLYINGS: [(&str, u32); 1] = [("USDINR", 1)];

pub(crate) async fn file(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    if name == "index_hsm_mapping.json" {
        return Json(index_mapping(&shared.fyers.catalog)).into_response();
    }
    let Some((_, segments)) = FILES.iter().find(|(file, _)| *file == name) else {
        return (StatusCode::NOT_FOUND, "no such symbol master").into_response();
    };
    let today = ist_date(shared.clock.now());
    match render(&shared.fyers.catalog, &shared.universe, segments, today) {
        Ok(csv) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response(),
        Err(err) => {
            error!(error = %err, file = %name, "cannot render a fyers symbol master");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the symbol master",
            )
                .into_response()
        }
    }
}

/// `{"NSE:NIFTY50-INDEX": "Nifty 50", …}` for the indices the simulator serves.
pub(crate) fn index_mapping(catalog: &FyersCatalog) -> Value {
    let map: Map<String, Value> = catalog
        .instruments()
        .iter()
        .filter_map(|i| Some((i.symbol.clone(), Value::String(i.index_name.clone()?))))
        .collect();
    Value::Object(map)
}

/// The rows of `segments`, in universe order, as headerless CSV.
pub(crate) fn render(
    catalog: &FyersCatalog,
    universe: &Universe,
    segments: &[Segment],
    today: NaiveDate,
) -> Result<String, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for fy in catalog.instruments() {
        if !segments.contains(&fy.segment) {
            continue;
        }
        if let Some(inst) = universe.get(fy.idx) {
            out.write_record(row(fy, inst, catalog, today))?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One master row, columns as in the module's table.
fn row(
    fy: &FyersInstrument,
    inst: &Instrument,
    catalog: &FyersCatalog,
    today: NaiveDate,
) -> [String; 21] {
    let currency = matches!(fy.segment, Segment::CdeFo | Segment::BcsFo);
    let price = |raw: i64| decimal::format(raw, inst.divisor);
    let (underlying, underlying_code, underlying_token) = underlying(fy, inst, catalog);
    let expiry = inst.expiry.map_or_else(String::new, |day| {
        let close = if currency { (12, 30) } else { (15, 30) };
        expiry_epoch(day, close).to_string()
    });
    let strike = if inst.is_option() {
        price(inst.strike)
    } else {
        "-1.0".to_owned()
    };
    [
        fy.fy_token.clone(),
        details(inst),
        instrument_type(inst, currency).to_string(),
        inst.lot_size.max(1).to_string(),
        price(inst.tick_size),
        String::new(),
        trading_session(currency).to_owned(),
        today.format("%Y-%m-%d").to_string(),
        expiry,
        fy.symbol.clone(),
        exchange_code(fy).to_owned(),
        segment_code(fy.segment).to_owned(),
        fy.scrip_code.to_string(),
        underlying,
        underlying_code.to_string(),
        strike,
        option_type(inst).to_owned(),
        underlying_token,
        "None".to_owned(),
        "None".to_owned(),
        "None".to_owned(),
    ]
}

/// Column 6: the day's trading hours and the (empty) evening window.
fn trading_session(currency: bool) -> &'static str {
    if currency {
        "0900-1700|1815-1915:"
    } else {
        "0915-1530|1815-1915:"
    }
}

/// Column 10: Fyers' exchange code.
fn exchange_code(fy: &FyersInstrument) -> &'static str {
    match fy.exchange() {
        "BSE" => "12",
        _ => "10",
    }
}

/// Column 11: Fyers' segment code.
fn segment_code(segment: Segment) -> &'static str {
    match segment {
        Segment::NseCm | Segment::BseCm => "10",
        Segment::NseFo | Segment::BseFo => "11",
        Segment::CdeFo | Segment::BcsFo => "12",
        Segment::NseCom | Segment::McxFo => "20",
    }
}

/// Column 16: `CE`/`PE` for options, `XX` for everything else.
fn option_type(inst: &Instrument) -> &'static str {
    match inst.instrument_type {
        InstrumentType::Ce => "CE",
        InstrumentType::Pe => "PE",
        InstrumentType::Eq | InstrumentType::Fut => "XX",
    }
}

/// "Symbol Details": the name for cash and indices, `NIFTY 25 Nov 25 24300 CE` for derivatives.
fn details(inst: &Instrument) -> String {
    let Some(expiry) = inst.expiry else {
        return if inst.is_index() {
            inst.tradingsymbol.clone()
        } else {
            inst.name.clone()
        };
    };
    let date = expiry.format("%d %b %y");
    match inst.instrument_type {
        InstrumentType::Ce | InstrumentType::Pe => format!(
            "{} {date} {} {}",
            inst.name,
            decimal::format(inst.strike, inst.divisor).trim_end_matches(".0"),
            inst.instrument_type.as_str()
        ),
        _ => format!("{} {date} FUT", inst.name),
    }
}

fn instrument_type(inst: &Instrument, currency: bool) -> u8 {
    let on_index = INDEX_UNDERLYINGS.iter().any(|(n, _)| *n == inst.name);
    match inst.instrument_type {
        _ if inst.is_index() => 10,
        InstrumentType::Eq => 0,
        InstrumentType::Fut if currency => 16,
        InstrumentType::Ce | InstrumentType::Pe if currency => 19,
        InstrumentType::Fut if on_index => 11,
        InstrumentType::Fut => 13,
        InstrumentType::Ce | InstrumentType::Pe if on_index => 14,
        InstrumentType::Ce | InstrumentType::Pe => 15,
    }
}

/// Underlying symbol, scrip code and fyToken.
fn underlying(
    fy: &FyersInstrument,
    inst: &Instrument,
    catalog: &FyersCatalog,
) -> (String, u32, String) {
    if inst.expiry.is_none() {
        // Cash and indices are their own underlying (`SBIN`, `NIFTY 50`).
        return (
            inst.tradingsymbol.clone(),
            fy.scrip_code,
            fy.fy_token.clone(),
        );
    }
    let index = INDEX_UNDERLYINGS.iter().find(|(n, _)| *n == inst.name);
    if let Some((_, code)) = index {
        let token = catalog
            .instruments()
            .iter()
            .find(|i| i.is_index() && i.scrip_code == *code && i.exchange() == "NSE")
            .map_or_else(
                || format!("{}000000{code}", Segment::NseCm.fy_token_prefix()),
                |i| i.fy_token.clone(),
            );
        return (inst.name.clone(), *code, token);
    }
    let currency = CURRENCY_UNDERLYINGS.iter().find(|(n, _)| *n == inst.name);
    let code = currency.map_or(0, |(_, code)| *code);
    (
        inst.name.clone(),
        code,
        format!("{}000000{code}", fy.segment.fy_token_prefix()),
    )
}

/// Epoch seconds of `day` at `hh:mm` IST.
fn expiry_epoch(day: NaiveDate, (hour, minute): (u32, u32)) -> i64 {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default();
    day.and_time(time)
        .and_local_timezone(Kolkata)
        .earliest()
        .map_or(0, |at| at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    fn rows(segment: Segment) -> Vec<Vec<String>> {
        let u = build_universe("2025-11-10".parse().unwrap());
        let c = FyersCatalog::build(&u);
        let text = render(&c, &u, &[segment], "2025-11-10".parse().unwrap()).unwrap();
        text.lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    }

    fn find(rows: &[Vec<String>], ticker: &str) -> Vec<String> {
        rows.iter().find(|r| r[9] == ticker).unwrap().clone()
    }

    #[test]
    fn equity_and_index_rows_match_the_live_layout() {
        let cm = rows(Segment::NseCm);
        assert!(cm.iter().all(|r| r.len() == 21), "21 unquoted columns");
        assert_eq!(
            find(&cm, "NSE:SBIN-EQ").join(","),
            "10100000003045,STATE BANK OF INDIA,0,1,0.05,,0915-1530|1815-1915:,2025-11-10,,\
NSE:SBIN-EQ,10,10,3045,SBIN,3045,-1.0,XX,10100000003045,None,None,None"
        );
        assert_eq!(
            find(&cm, "NSE:NIFTY50-INDEX").join(","),
            "101000000026000,NIFTY 50,10,1,0.05,,0915-1530|1815-1915:,2025-11-10,,\
NSE:NIFTY50-INDEX,10,10,26000,NIFTY 50,26000,-1.0,XX,101000000026000,None,None,None"
        );
        assert_eq!(cm.len(), 52, "50 stocks and 2 NSE indices");
        let bse = rows(Segment::BseCm);
        assert_eq!(bse.len(), 1);
        assert_eq!(bse[0][9], "BSE:SENSEX-INDEX");
        assert_eq!(bse[0][10], "12");
    }

    #[test]
    fn derivative_rows() {
        let fo = rows(Segment::NseFo);
        let fut = find(&fo, "NSE:NIFTY25NOVFUT");
        assert_eq!(fut[0], "101125112552343");
        assert_eq!(fut[1], "NIFTY 25 Nov 25 FUT");
        assert_eq!(&fut[2..5], ["11", "75", "0.1"]);
        // 2025-11-25 15:30 IST.
        assert_eq!(fut[8], "1764064800");
        assert_eq!(
            &fut[10..18],
            [
                "10",
                "11",
                "52343",
                "NIFTY",
                "26000",
                "-1.0",
                "XX",
                "101000000026000"
            ]
        );
        let call = find(&fo, "NSE:NIFTY25NOV24300CE");
        assert_eq!(call[1], "NIFTY 25 Nov 25 24300 CE");
        assert_eq!(
            (call[2].as_str(), call[15].as_str(), call[16].as_str()),
            ("14", "24300.0", "CE")
        );
        let cd = rows(Segment::CdeFo);
        let usd = find(&cd, "NSE:USDINR25NOVFUT");
        assert_eq!(usd[1], "USDINR 26 Nov 25 FUT");
        assert_eq!(&usd[2..5], ["16", "1", "0.0025"]);
        assert_eq!(usd[6], "0900-1700|1815-1915:");
        assert_eq!(&usd[11..15], ["12", "1901", "USDINR", "1"]);
        assert_eq!(usd[17], "10120000001");
    }

    #[test]
    fn index_mapping_lists_the_served_indices() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let c = FyersCatalog::build(&u);
        let map = index_mapping(&c);
        assert_eq!(map["NSE:NIFTY50-INDEX"], "Nifty 50");
        assert_eq!(map["NSE:NIFTYBANK-INDEX"], "Nifty Bank");
        assert_eq!(map["BSE:SENSEX-INDEX"], "SENSEX");
        assert_eq!(map.as_object().unwrap().len(), 3);
    }
}

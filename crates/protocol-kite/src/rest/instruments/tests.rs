//! Instrument dump tests: Zerodha's mock dumps, tolerant parsing, strict writing, gzip.

use std::io::Write as _;

use super::*;

const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/kite-mocks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

#[test]
fn parses_the_official_dumps() {
    let rows = parse_instruments(fixture("instruments_all.csv").as_slice()).unwrap();
    assert_eq!(rows.len(), 99);
    let option = rows
        .iter()
        .find(|r| r.tradingsymbol == "BANKNIFTY18JAN23500CE")
        .unwrap();
    assert_eq!(
        *option,
        InstrumentRow {
            instrument_token: 12_073_986,
            exchange_token: "47164".into(),
            tradingsymbol: "BANKNIFTY18JAN23500CE".into(),
            name: String::new(),
            last_price: 2528.4,
            expiry: NaiveDate::from_ymd_opt(2018, 1, 25),
            strike: 23_500.0,
            tick_size: 0.05,
            lot_size: 40,
            instrument_type: "CE".into(),
            segment: "NFO-OPT".into(),
            exchange: "NFO".into(),
        }
    );
    // kite.md §3.4: every mock row satisfies token == exchange_token << 8 | segment id
    for row in &rows {
        let exchange_token: u32 = row.exchange_token.parse().unwrap();
        assert_eq!(
            row.instrument_token >> 8,
            exchange_token,
            "{}",
            row.tradingsymbol
        );
    }
    let nse = parse_instruments(fixture("instruments_nse.csv").as_slice()).unwrap();
    assert!(!nse.is_empty());
    assert!(nse.iter().all(|r| r.exchange == "NSE"));
}

#[test]
fn write_then_parse_is_identity_and_never_leaves_numbers_empty() {
    let rows = parse_instruments(fixture("instruments_all.csv").as_slice()).unwrap();
    let mut out = Vec::new();
    write_instruments(&rows, &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.lines().next(), Some(HEADER));
    let mut reader = csv::Reader::from_reader(out.as_slice());
    for record in reader.records() {
        let record = record.unwrap();
        for column in [0, 4, 6, 7, 8] {
            assert!(!record[column].is_empty(), "column {column} of {record:?}");
        }
    }
    assert_eq!(parse_instruments(out.as_slice()).unwrap(), rows);
}

#[test]
fn empty_numbers_read_as_zero() {
    let csv = format!("{HEADER}\n256265,1001,NIFTY 50,NIFTY 50,,,,,,EQ,INDICES,NSE\n");
    let rows = parse_instruments(csv.as_bytes()).unwrap();
    let row = &rows[0];
    assert_eq!(
        (row.last_price, row.strike, row.tick_size, row.lot_size),
        (0.0, 0.0, 0.0, 0)
    );
    assert_eq!(row.expiry, None);
    let mut out = Vec::new();
    write_instruments(&rows, &mut out).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE")
    );
}

#[test]
fn column_order_does_not_matter_and_lot_size_may_be_decimal() {
    let csv = "exchange,segment,instrument_type,lot_size,tick_size,strike,expiry,last_price,name,tradingsymbol,exchange_token,instrument_token\nNSE,NSE,EQ,1.0,0.05,0,,10.5,INFOSYS,INFY,1594,408065\n";
    let row = &parse_instruments(csv.as_bytes()).unwrap()[0];
    assert_eq!(row.instrument_token, 408_065);
    assert_eq!(row.lot_size, 1);
    assert_eq!(row.last_price, 10.5);
}

#[test]
fn bad_rows_are_skipped_and_name_their_line() {
    let good = "408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE";
    // (bad row, column named in the error)
    let cases = [
        (
            ",1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",
            "instrument_token",
        ),
        (
            "x,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",
            "instrument_token",
        ),
        (
            "408065,1594,INFY,INFOSYS,abc,,0,0.05,1,EQ,NSE,NSE",
            "last_price",
        ),
        (
            "408065,1594,INFY,INFOSYS,NaN,,0,0.05,1,EQ,NSE,NSE",
            "last_price",
        ),
        (
            "408065,1594,INFY,INFOSYS,0,25-01-2018,0,0.05,1,EQ,NSE,NSE",
            "expiry",
        ),
        (
            "408065,1594,INFY,INFOSYS,0,,0,0.05,1.5,EQ,NSE,NSE",
            "lot_size",
        ),
        (
            "408065,1594,INFY,INFOSYS,0,,0,0.05,-1,EQ,NSE,NSE",
            "lot_size",
        ),
    ];
    for (bad, column) in cases {
        let csv = format!("{HEADER}\n{good}\n{bad}\n{good}\n");
        let parsed = parse_rows(csv.as_bytes()).unwrap();
        assert_eq!((parsed.rows.len(), parsed.skipped), (2, 1), "{bad}");
        match parsed.first_skipped {
            Some(InstrumentsError::BadField {
                line, column: c, ..
            }) => {
                assert_eq!((line, c), (3, column), "{bad}");
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert_eq!(parse_instruments(csv.as_bytes()).unwrap().len(), 2, "{bad}");
        // Only when nothing parses is the dump an error, naming the first bad line.
        let only_bad = format!("{HEADER}\n{bad}\n{bad}\n");
        match parse_instruments(only_bad.as_bytes()) {
            Err(InstrumentsError::BadField {
                line, column: c, ..
            }) => assert_eq!((line, c), (2, column), "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // A short row and a row that is not UTF-8 are skipped too.
    let mut odd = format!("{HEADER}\n{good}\n408065,1594\n").into_bytes();
    odd.extend_from_slice(b"408065,1594,INF\xff,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE\n");
    odd.extend_from_slice(format!("{good}\n").as_bytes());
    let parsed = parse_rows(odd.as_slice()).unwrap();
    assert_eq!((parsed.rows.len(), parsed.skipped), (2, 2));
    assert!(matches!(
        parsed.first_skipped,
        Some(InstrumentsError::Csv { line: 3, .. })
    ));
    let short = format!("{HEADER}\n408065,1594\n");
    assert!(matches!(
        parse_instruments(short.as_bytes()),
        Err(InstrumentsError::Csv { line: 2, .. })
    ));
    // A header-only dump is empty, not an error; a missing column is.
    assert_eq!(parse_instruments(HEADER.as_bytes()).unwrap(), []);
    let missing = "instrument_token,exchange_token\n1,2\n";
    assert!(matches!(
        parse_instruments(missing.as_bytes()),
        Err(InstrumentsError::MissingColumn("tradingsymbol"))
    ));
}

#[test]
fn non_finite_numbers_are_not_written() {
    let mut row = parse_instruments(fixture("instruments_all.csv").as_slice()).unwrap()[0].clone();
    row.tick_size = f64::INFINITY;
    assert!(matches!(
        write_instruments(&[row], Vec::new()),
        Err(InstrumentsError::NonFinite {
            column: "tick_size",
            ..
        })
    ));
}

#[test]
fn gzip_bodies_are_detected() {
    let plain = fixture("instruments_all.csv");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        parse_instruments_body(&gz).unwrap(),
        parse_instruments_body(&plain).unwrap()
    );
    assert!(matches!(
        parse_instruments_body(&[0x1f, 0x8b, 0, 1, 2]),
        Err(InstrumentsError::Gzip(_))
    ));
}

#[test]
fn records_keep_the_prices_as_given_and_read_back() {
    let mut writer = InstrumentWriter::new(Vec::new()).unwrap();
    writer
        .write(&InstrumentRecord {
            instrument_token: 11_174_402,
            exchange_token: "43650",
            tradingsymbol: "NIFTY25NOV24300CE",
            name: "NIFTY",
            last_price: "245.0",
            expiry: NaiveDate::from_ymd_opt(2025, 11, 25),
            strike: "24300.0",
            tick_size: "0.05",
            lot_size: 75,
            instrument_type: "CE",
            segment: "NFO-OPT",
            exchange: "NFO",
        })
        .unwrap();
    let out = writer.finish().unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            HEADER,
            "11174402,43650,NIFTY25NOV24300CE,NIFTY,245.0,2025-11-25,24300.0,0.05,75,CE,NFO-OPT,NFO"
        ]
    );
    let row = &parse_instruments(out.as_slice()).unwrap()[0];
    assert_eq!((row.strike, row.lot_size), (24_300.0, 75));
}

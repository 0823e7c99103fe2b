//! The instrument dump (`GET /instruments`, kite.md §8.5): CSV with a fixed header. Parsing is
//! tolerant of what real dumps contain (empty numeric fields, a gzip body); writing never
//! leaves a numeric field empty, because pykiteconnect converts them unchecked and crashes.

mod write;

pub use write::{InstrumentRecord, InstrumentWriter, write_instruments};

use std::io::Read;

use chrono::NaiveDate;
use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::segment::InstrumentToken;

/// The dump's columns, in Kite's order, with no spaces.
pub const INSTRUMENT_COLUMNS: [&str; 12] = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
];

/// Cap on a decompressed dump. The full real dump is about 10 MB; this bounds a gzip bomb.
const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;

/// One row of the instrument dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentRow {
    pub instrument_token: InstrumentToken,
    /// Kept as text, as pykiteconnect does.
    pub exchange_token: String,
    pub tradingsymbol: String,
    pub name: String,
    /// Not live: the dump is generated once a day.
    pub last_price: f64,
    pub expiry: Option<NaiveDate>,
    pub strike: f64,
    pub tick_size: f64,
    pub lot_size: u32,
    /// `EQ`, `FUT`, `CE` or `PE`.
    pub instrument_type: String,
    /// e.g. `NSE`, `NFO-OPT`, `INDICES`.
    pub segment: String,
    pub exchange: String,
}

/// Why an instrument dump could not be read or written.
#[derive(Debug, Error)]
pub enum InstrumentsError {
    #[error("instrument csv is malformed near line {line}")]
    Csv {
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error("instrument csv has no `{0}` column")]
    MissingColumn(&'static str),
    /// The value is cut to at most 64 characters.
    #[error("instrument csv line {line}: bad {column} {value:?}")]
    BadField {
        line: u64,
        column: &'static str,
        value: String,
    },
    #[error("cannot decompress the instrument dump")]
    Gzip(#[source] std::io::Error),
    #[error("decompressed instrument dump exceeds {max} bytes")]
    TooLarge { max: u64 },
    #[error("instrument {token} has a non-finite {column}")]
    NonFinite {
        token: InstrumentToken,
        column: &'static str,
    },
    #[error("cannot write the instrument csv")]
    Write(#[source] csv::Error),
}

/// Parses a dump from raw response bytes, decompressing it first if it is gzip (detected by
/// its magic bytes, for servers that send a `.csv.gz` without `Content-Encoding`).
pub fn parse_instruments_body(body: &[u8]) -> Result<Vec<InstrumentRow>, InstrumentsError> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return parse_instruments(body);
    }
    let mut csv = Vec::new();
    GzDecoder::new(body)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut csv)
        .map_err(InstrumentsError::Gzip)?;
    if csv.len() as u64 > MAX_DECOMPRESSED {
        return Err(InstrumentsError::TooLarge {
            max: MAX_DECOMPRESSED,
        });
    }
    parse_instruments(csv.as_slice())
}

/// Parses a dump. Columns are found by header name, so their order does not matter; all
/// twelve must be present. Empty `last_price`, `strike`, `tick_size` or `lot_size` fields
/// read as 0. A row that cannot be read (an empty or malformed `instrument_token`, any
/// malformed number or date, the wrong number of fields) is skipped, so one bad row of tens of
/// thousands costs only that instrument; one warning says how many rows were skipped and why
/// the first was. The dump is an error only when it has rows and none of them parse (the
/// first row's error, naming its line), or when it cannot be read at all.
pub fn parse_instruments(reader: impl Read) -> Result<Vec<InstrumentRow>, InstrumentsError> {
    let Parsed {
        rows,
        skipped,
        first_skipped,
    } = parse_rows(reader)?;
    match first_skipped {
        Some(first) if rows.is_empty() => Err(first),
        Some(first) => {
            tracing::warn!(
                skipped,
                parsed = rows.len(),
                first = %first,
                "skipped malformed rows of the instrument dump"
            );
            Ok(rows)
        }
        None => Ok(rows),
    }
}

/// The rows that parsed, and what was skipped.
#[derive(Debug)]
struct Parsed {
    rows: Vec<InstrumentRow>,
    skipped: usize,
    first_skipped: Option<InstrumentsError>,
}

impl Parsed {
    fn skip(&mut self, e: InstrumentsError) {
        self.skipped += 1;
        self.first_skipped.get_or_insert(e);
    }
}

fn parse_rows(reader: impl Read) -> Result<Parsed, InstrumentsError> {
    let mut csv = csv::Reader::from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|source| InstrumentsError::Csv { line: 1, source })?
        .clone();
    let mut index = [0usize; 12];
    for (slot, name) in index.iter_mut().zip(INSTRUMENT_COLUMNS) {
        *slot = headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(InstrumentsError::MissingColumn(name))?;
    }
    let mut parsed = Parsed {
        rows: Vec::new(),
        skipped: 0,
        first_skipped: None,
    };
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(source) => {
                let line = source.position().map_or(0, |p| p.line());
                // A read failure ends the dump; a malformed record (wrong field count, bad
                // UTF-8) has been consumed, and the next one is read.
                if matches!(source.kind(), csv::ErrorKind::Io(_)) {
                    return Err(InstrumentsError::Csv { line, source });
                }
                parsed.skip(InstrumentsError::Csv { line, source });
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let fields = Fields {
            record: &record,
            index: &index,
            line,
        };
        match fields.row() {
            Ok(row) => parsed.rows.push(row),
            Err(e) => parsed.skip(e),
        }
    }
    Ok(parsed)
}

/// One record with the column positions found in the header.
struct Fields<'a> {
    record: &'a csv::StringRecord,
    index: &'a [usize; 12],
    line: u64,
}

impl Fields<'_> {
    fn text(&self, column: usize) -> &str {
        self.index
            .get(column)
            .and_then(|&i| self.record.get(i))
            .unwrap_or_default()
    }

    fn bad(&self, column: usize, value: &str) -> InstrumentsError {
        InstrumentsError::BadField {
            line: self.line,
            column: INSTRUMENT_COLUMNS.get(column).copied().unwrap_or("?"),
            value: value.chars().take(64).collect(),
        }
    }

    fn decimal(&self, column: usize) -> Result<f64, InstrumentsError> {
        let text = self.text(column).trim();
        if text.is_empty() {
            return Ok(0.0);
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(self.bad(column, text)),
        }
    }

    fn whole(&self, column: usize) -> Result<u32, InstrumentsError> {
        let text = self.text(column).trim();
        if text.is_empty() {
            return Ok(0);
        }
        if let Ok(value) = text.parse::<u32>() {
            return Ok(value);
        }
        // Some third-party dumps write `1.0`; accept whole numbers written as decimals.
        match text.parse::<f64>() {
            Ok(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => Ok(v as u32),
            _ => Err(self.bad(column, text)),
        }
    }

    fn row(&self) -> Result<InstrumentRow, InstrumentsError> {
        let token_text = self.text(0).trim();
        let instrument_token = token_text
            .parse::<InstrumentToken>()
            .map_err(|_| self.bad(0, token_text))?;
        let expiry_text = self.text(5).trim();
        let expiry = if expiry_text.is_empty() {
            None
        } else {
            Some(
                NaiveDate::parse_from_str(expiry_text, "%Y-%m-%d")
                    .map_err(|_| self.bad(5, expiry_text))?,
            )
        };
        Ok(InstrumentRow {
            instrument_token,
            exchange_token: self.text(1).to_owned(),
            tradingsymbol: self.text(2).to_owned(),
            name: self.text(3).to_owned(),
            last_price: self.decimal(4)?,
            expiry,
            strike: self.decimal(6)?,
            tick_size: self.decimal(7)?,
            lot_size: self.whole(8)?,
            instrument_type: self.text(9).to_owned(),
            segment: self.text(10).to_owned(),
            exchange: self.text(11).to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;

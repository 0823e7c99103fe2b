//! Writing the instrument dump: the one place that puts a row's fields in Kite's column order.
//! Numbers are never written empty, because pykiteconnect converts them unchecked and crashes.
//!
//! Prices reach the writer as text, so each writer picks its digits: [`write_instruments`]
//! prints `f64`s as Rust does (`1500`), the simulator prints its integer wire units as exact
//! decimals the way Kite's own dump does (`1500.0`).

use std::borrow::Cow;
use std::io::Write;

use chrono::NaiveDate;

use super::{INSTRUMENT_COLUMNS, InstrumentRow, InstrumentsError};
use crate::segment::InstrumentToken;

/// One dump row as it is written, prices already rendered as decimal text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstrumentRecord<'a> {
    pub instrument_token: InstrumentToken,
    pub exchange_token: &'a str,
    pub tradingsymbol: &'a str,
    pub name: &'a str,
    /// Decimal text, never empty.
    pub last_price: &'a str,
    /// Written empty when `None`, as Kite does.
    pub expiry: Option<NaiveDate>,
    /// Decimal text, never empty.
    pub strike: &'a str,
    /// Decimal text, never empty.
    pub tick_size: &'a str,
    pub lot_size: u32,
    pub instrument_type: &'a str,
    pub segment: &'a str,
    pub exchange: &'a str,
}

impl InstrumentRecord<'_> {
    /// The fields in [`INSTRUMENT_COLUMNS`] order.
    fn fields(&self) -> [Cow<'_, str>; INSTRUMENT_COLUMNS.len()] {
        [
            self.instrument_token.to_string().into(),
            self.exchange_token.into(),
            self.tradingsymbol.into(),
            self.name.into(),
            self.last_price.into(),
            self.expiry
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
                .into(),
            self.strike.into(),
            self.tick_size.into(),
            self.lot_size.to_string().into(),
            self.instrument_type.into(),
            self.segment.into(),
            self.exchange.into(),
        ]
    }
}

/// Writes a dump: Kite's header first, then one line per [`InstrumentRecord`].
#[derive(Debug)]
pub struct InstrumentWriter<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> InstrumentWriter<W> {
    /// Starts a dump on `writer` with Kite's header.
    pub fn new(writer: W) -> Result<Self, InstrumentsError> {
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(INSTRUMENT_COLUMNS)
            .map_err(InstrumentsError::Write)?;
        Ok(Self { csv })
    }

    /// Writes one row.
    pub fn write(&mut self, record: &InstrumentRecord<'_>) -> Result<(), InstrumentsError> {
        self.csv
            .write_record(record.fields().iter().map(|field| field.as_bytes()))
            .map_err(InstrumentsError::Write)
    }

    /// Flushes the dump and hands back the underlying writer.
    pub fn finish(self) -> Result<W, InstrumentsError> {
        self.csv
            .into_inner()
            .map_err(|e| InstrumentsError::Write(csv::Error::from(e.into_error())))
    }
}

/// Writes a dump with Kite's header. Numbers are always written (0, never empty); an empty
/// expiry is written empty, as Kite does.
pub fn write_instruments(
    rows: &[InstrumentRow],
    writer: impl Write,
) -> Result<(), InstrumentsError> {
    let mut out = InstrumentWriter::new(writer)?;
    for row in rows {
        let number = |value: f64, column: &'static str| {
            if value.is_finite() {
                Ok(value.to_string())
            } else {
                Err(InstrumentsError::NonFinite {
                    token: row.instrument_token,
                    column,
                })
            }
        };
        out.write(&InstrumentRecord {
            instrument_token: row.instrument_token,
            exchange_token: &row.exchange_token,
            tradingsymbol: &row.tradingsymbol,
            name: &row.name,
            last_price: &number(row.last_price, "last_price")?,
            expiry: row.expiry,
            strike: &number(row.strike, "strike")?,
            tick_size: &number(row.tick_size, "tick_size")?,
            lot_size: row.lot_size,
            instrument_type: &row.instrument_type,
            segment: &row.segment,
            exchange: &row.exchange,
        })?;
    }
    out.finish().map(drop)
}

//! The instrument cache file, `FEEDGATE_DATA_DIR/instruments-<broker>.json`: the broker's
//! instrument list with the IST date of its dump, written atomically. Only the format and its
//! reading and writing; when to fetch or refresh is the instrument loader's job (`rest/`).

use crate::model::instruments::InstrumentSpec;
use crate::store::atomic::write_atomic;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The cache file of one broker.
#[derive(Debug, Clone)]
pub struct InstrumentCache {
    path: PathBuf,
    broker: &'static str,
}

impl InstrumentCache {
    pub fn new(data_dir: &Path, broker: &'static str) -> Self {
        Self {
            path: data_dir.join(format!("instruments-{broker}.json")),
            broker,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached dump date and instruments: `Ok(None)` when there is no file, or it holds
    /// another broker's list or none; `Err` when the file cannot be parsed.
    pub fn read(&self) -> Result<Option<(NaiveDate, Vec<InstrumentSpec>)>, serde_json::Error> {
        let Ok(text) = std::fs::read(&self.path) else {
            return Ok(None);
        };
        let f: CacheFile = serde_json::from_slice(&text)?;
        Ok((f.broker == self.broker && !f.instruments.is_empty())
            .then(|| (f.date, f.instruments.into_iter().map(Into::into).collect())))
    }

    /// Writes the cache atomically (a crash leaves the old file, and a stray temp file that
    /// start-up sweeps). Blocking: serialising and syncing some 20 MB.
    pub fn write(&self, date: NaiveDate, specs: &[InstrumentSpec]) -> std::io::Result<()> {
        let file = CacheFileOut {
            broker: self.broker,
            date,
            instruments: specs.iter().map(CachedSpecOut::from).collect(),
        };
        let body = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &body)
    }
}

#[derive(Deserialize)]
struct CacheFile {
    broker: String,
    /// IST date of the dump.
    date: NaiveDate,
    instruments: Vec<CachedSpec>,
}

/// [`CacheFile`] as written: borrows the specs instead of copying some 20 MB of strings.
#[derive(Serialize)]
struct CacheFileOut<'a> {
    broker: &'a str,
    date: NaiveDate,
    instruments: Vec<CachedSpecOut<'a>>,
}

#[derive(Serialize)]
struct CachedSpecOut<'a> {
    token: u32,
    exchange: &'a str,
    tradingsymbol: &'a str,
    name: &'a str,
    segment: &'a str,
    instrument_type: &'a str,
    tick_size: f64,
    lot_size: u32,
    divisor: u32,
    is_index: bool,
    expiry: Option<NaiveDate>,
    strike: f64,
}

impl<'a> From<&'a InstrumentSpec> for CachedSpecOut<'a> {
    fn from(s: &'a InstrumentSpec) -> Self {
        Self {
            token: s.token,
            exchange: &s.exchange,
            tradingsymbol: &s.tradingsymbol,
            name: &s.name,
            segment: &s.segment,
            instrument_type: &s.instrument_type,
            tick_size: s.tick_size,
            lot_size: s.lot_size,
            divisor: s.divisor,
            is_index: s.is_index,
            expiry: s.expiry,
            strike: s.strike,
        }
    }
}

#[derive(Deserialize)]
struct CachedSpec {
    token: u32,
    exchange: String,
    tradingsymbol: String,
    name: String,
    segment: String,
    instrument_type: String,
    tick_size: f64,
    lot_size: u32,
    divisor: u32,
    is_index: bool,
    /// Absent from caches written before the Kite REST dump needed it.
    #[serde(default)]
    expiry: Option<NaiveDate>,
    #[serde(default)]
    strike: f64,
}

impl From<CachedSpec> for InstrumentSpec {
    fn from(s: CachedSpec) -> Self {
        Self {
            token: s.token,
            exchange: s.exchange,
            tradingsymbol: s.tradingsymbol,
            name: s.name,
            segment: s.segment,
            instrument_type: s.instrument_type,
            tick_size: s.tick_size,
            lot_size: s.lot_size,
            divisor: s.divisor,
            is_index: s.is_index,
            expiry: s.expiry,
            strike: s.strike,
        }
    }
}

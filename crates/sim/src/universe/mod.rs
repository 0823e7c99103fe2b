//! The instrument universe the simulator trades: indices, the NIFTY 50 stocks, a few index
//! futures and options, and currency futures on CDS and BCD. Broker-neutral data (Kite's token
//! scheme is the identity because it is the richest one); the Kite CSV rendering lives in
//! `kite::rest::instruments`.

/// The fixed instrument catalogue.
mod catalog;
/// Contract expiries.
mod expiry;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use catalog::build as build_universe;
pub use catalog::build_with_synthetic as build_universe_with_synthetic;

/// Mean time between two updates of one synthetic instrument (see
/// [`crate::SimConfig::extra_instruments`]), before the market speed is applied.
pub const SYNTHETIC_UPDATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// What kind of contract an instrument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstrumentType {
    /// Equity, and (as in Kite's dump) indices.
    Eq,
    /// Future.
    Fut,
    /// Call option.
    Ce,
    /// Put option.
    Pe,
}

impl InstrumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "EQ",
            Self::Fut => "FUT",
            Self::Ce => "CE",
            Self::Pe => "PE",
        }
    }
}

/// One instrument. Prices (`strike`, `tick_size`, `base_price`) are integers in the segment's
/// smallest unit; divide by `divisor` for rupees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Kite instrument token: `(exchange_token << 8) | segment id`.
    pub token: u32,
    pub exchange_token: u32,
    pub tradingsymbol: String,
    pub name: String,
    /// `NSE`, `BSE`, `NFO`, `CDS` or `BCD`.
    pub exchange: String,
    /// Kite segment name: `NSE`, `BSE`, `INDICES`, `NFO-FUT`, `NFO-OPT`, `CDS-FUT`, `BCD-FUT`.
    pub segment: String,
    pub instrument_type: InstrumentType,
    pub expiry: Option<NaiveDate>,
    /// Strike in wire units; 0 when not an option.
    pub strike: i64,
    /// Price grid step in wire units.
    pub tick_size: i64,
    /// Contract size; 0 for indices (as in Kite's dump).
    pub lot_size: u32,
    /// Wire units per rupee: 100, or 10^7 (CDS) / 10^4 (BCD).
    pub divisor: i64,
    /// Reference previous close in wire units before the seed's perturbation.
    pub base_price: i64,
}

impl Instrument {
    /// Indices carry no volume, depth or OI, and use Kite's 28/32-byte index packets.
    pub fn is_index(&self) -> bool {
        self.segment == "INDICES"
    }

    /// Futures and options carry open interest.
    pub fn is_derivative(&self) -> bool {
        matches!(
            self.instrument_type,
            InstrumentType::Fut | InstrumentType::Ce | InstrumentType::Pe
        )
    }

    pub fn is_option(&self) -> bool {
        matches!(
            self.instrument_type,
            InstrumentType::Ce | InstrumentType::Pe
        )
    }

    /// `EXCHANGE:TRADINGSYMBOL`, the key of Kite's quote endpoints.
    pub fn symbol(&self) -> String {
        format!("{}:{}", self.exchange, self.tradingsymbol)
    }
}

/// The universe with lookups by token and by `EXCHANGE:TRADINGSYMBOL`.
#[derive(Debug, Clone)]
pub struct Universe {
    instruments: Vec<Instrument>,
    by_token: HashMap<u32, usize>,
    by_symbol: HashMap<String, usize>,
    /// Index of the first synthetic instrument (`instruments.len()` when there are none).
    synthetic_from: usize,
}

impl Universe {
    /// Builds the lookups. Later duplicates of a token or symbol are shadowed by earlier ones;
    /// the catalogue has none (a unit test checks).
    pub fn new(instruments: Vec<Instrument>) -> Self {
        let mut by_token = HashMap::with_capacity(instruments.len());
        let mut by_symbol = HashMap::with_capacity(instruments.len());
        for (idx, inst) in instruments.iter().enumerate() {
            by_token.entry(inst.token).or_insert(idx);
            by_symbol.entry(inst.symbol()).or_insert(idx);
        }
        let synthetic_from = instruments.len();
        Self {
            instruments,
            by_token,
            by_symbol,
            synthetic_from,
        }
    }

    /// The catalogue followed by `synthetic` instruments, which the market updates rarely.
    pub fn with_synthetic(catalogue: Vec<Instrument>, synthetic: Vec<Instrument>) -> Self {
        let synthetic_from = catalogue.len();
        let mut all = catalogue;
        all.extend(synthetic);
        Self {
            synthetic_from,
            ..Self::new(all)
        }
    }

    /// Index of the first synthetic instrument; equal to [`Self::len`] when there are none.
    pub fn synthetic_from(&self) -> usize {
        self.synthetic_from
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    pub fn get(&self, idx: usize) -> Option<&Instrument> {
        self.instruments.get(idx)
    }

    pub fn index_of_token(&self, token: u32) -> Option<usize> {
        self.by_token.get(&token).copied()
    }

    pub fn index_of_symbol(&self, symbol: &str) -> Option<usize> {
        self.by_symbol.get(symbol).copied()
    }
}

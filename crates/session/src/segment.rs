//! Market segment identifiers (`NSE_CM`, `NSE_FO`, …) and their parsing from the CLI's exchange codes.
//!
//! Holidays and session templates attach to segments, not exchanges: NSE equity cash, NSE currency
//! and MCX commodities have different holiday lists and hours. This module only names segments;
//! what a segment trades and when lives in the calendar data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One market segment of one exchange. Serialised as its segment id (`"NSE_CM"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Segment {
    /// NSE equity cash (capital market). CLI code `NSE`.
    #[serde(rename = "NSE_CM")]
    NseCm,
    /// NSE equity derivatives (F&O). CLI code `NFO`.
    #[serde(rename = "NSE_FO")]
    NseFo,
    /// BSE equity cash. CLI code `BSE`.
    #[serde(rename = "BSE_CM")]
    BseCm,
    /// BSE equity derivatives. CLI code `BFO`.
    #[serde(rename = "BSE_FO")]
    BseFo,
    /// NSE currency derivatives. CLI code `CDS`.
    #[serde(rename = "NSE_CD")]
    NseCd,
    /// MCX commodity derivatives. CLI code `MCX`.
    #[serde(rename = "MCX_COM")]
    McxCom,
}

impl Segment {
    /// Every segment, in a stable order.
    pub const ALL: [Segment; 6] = [
        Segment::NseCm,
        Segment::NseFo,
        Segment::BseCm,
        Segment::BseFo,
        Segment::NseCd,
        Segment::McxCom,
    ];

    /// The segment id used in calendar files and JSON (`"NSE_CM"`).
    pub fn id(self) -> &'static str {
        match self {
            Segment::NseCm => "NSE_CM",
            Segment::NseFo => "NSE_FO",
            Segment::BseCm => "BSE_CM",
            Segment::BseFo => "BSE_FO",
            Segment::NseCd => "NSE_CD",
            Segment::McxCom => "MCX_COM",
        }
    }

    /// The exchange-segment code brokers use (Kite's `exchange` field: `NSE`, `NFO`, …).
    pub fn code(self) -> &'static str {
        match self {
            Segment::NseCm => "NSE",
            Segment::NseFo => "NFO",
            Segment::BseCm => "BSE",
            Segment::BseFo => "BFO",
            Segment::NseCd => "CDS",
            Segment::McxCom => "MCX",
        }
    }

    /// The exchange operating the segment (`NSE`, `BSE`, `MCX`).
    pub fn exchange(self) -> &'static str {
        match self {
            Segment::NseCm | Segment::NseFo | Segment::NseCd => "NSE",
            Segment::BseCm | Segment::BseFo => "BSE",
            Segment::McxCom => "MCX",
        }
    }

    /// Looks a segment up by its id (`"NSE_CM"`), exactly as written in calendar files.
    pub fn from_id(id: &str) -> Option<Segment> {
        Segment::ALL.into_iter().find(|s| s.id() == id)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The CLI's `--exchange` value was neither an exchange code nor a segment id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown exchange {input:?}: expected one of NSE, BSE, NFO, BFO, CDS, MCX \
     (or a segment id: NSE_CM, NSE_FO, BSE_CM, BSE_FO, NSE_CD, MCX_COM)"
)]
pub struct ParseSegmentError {
    /// The rejected input, verbatim.
    pub input: String,
}

impl FromStr for Segment {
    type Err = ParseSegmentError;

    /// Accepts the broker exchange codes (`NSE`, `NFO`, …) and the segment ids (`NSE_CM`, …),
    /// case-insensitively and ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase();
        Segment::ALL
            .into_iter()
            .find(|seg| seg.code() == wanted || seg.id() == wanted)
            .ok_or_else(|| ParseSegmentError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_codes_and_ids() {
        let table = [
            ("NSE", Segment::NseCm),
            ("nse", Segment::NseCm),
            (" BSE ", Segment::BseCm),
            ("NFO", Segment::NseFo),
            ("BFO", Segment::BseFo),
            ("CDS", Segment::NseCd),
            ("MCX", Segment::McxCom),
            ("NSE_CM", Segment::NseCm),
            ("nse_fo", Segment::NseFo),
            ("BSE_FO", Segment::BseFo),
            ("NSE_CD", Segment::NseCd),
            ("MCX_COM", Segment::McxCom),
        ];
        for (input, want) in table {
            assert_eq!(input.parse::<Segment>(), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_unknown_with_a_helpful_message() {
        for input in ["", "NCDEX", "NSE_EQ", "N SE"] {
            let err = input.parse::<Segment>().unwrap_err();
            assert_eq!(err.input, input);
            let msg = err.to_string();
            assert!(msg.contains("NSE, BSE, NFO, BFO, CDS, MCX"), "{msg}");
        }
    }

    #[test]
    fn id_round_trips_through_serde_and_from_id() {
        for seg in Segment::ALL {
            let json = serde_json::to_string(&seg).unwrap();
            assert_eq!(json, format!("\"{}\"", seg.id()));
            assert_eq!(serde_json::from_str::<Segment>(&json).unwrap(), seg);
            assert_eq!(Segment::from_id(seg.id()), Some(seg));
            assert_eq!(seg.to_string(), seg.id());
        }
    }
}

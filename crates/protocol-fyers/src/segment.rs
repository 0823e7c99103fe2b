//! Fyers exchange segments: the HSM segment codes used in topic strings (`nse_cm`, …) and the
//! four-digit fyToken prefixes that select them (spec §2.2, `exch_seg_dict` in the official
//! client's `map.json`). The table is closed: the official client silently skips a fyToken
//! whose prefix is not listed, and so do we (as a typed error, see [`crate::symbol`]).

use std::fmt;
use std::str::FromStr;

/// An exchange segment as it appears in HSM topic strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// NSE cash market (`nse_cm`, fyToken prefix 1010).
    NseCm,
    /// NSE futures and options (`nse_fo`, 1011).
    NseFo,
    /// NSE currency derivatives (`cde_fo`, 1012).
    CdeFo,
    /// NSE commodities (`nse_com`, 1020).
    NseCom,
    /// MCX futures and options (`mcx_fo`, 1120).
    McxFo,
    /// BSE cash market (`bse_cm`, 1210).
    BseCm,
    /// BSE futures and options (`bse_fo`, 1211).
    BseFo,
    /// BSE currency derivatives (`bcs_fo`, 1212).
    BcsFo,
}

/// The segment code is not one of the eight known to the official client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fyers segment code {0:?}")]
pub struct UnknownSegment(pub String);

impl Segment {
    /// Every segment, in table order.
    pub const ALL: [Segment; 8] = [
        Segment::NseCm,
        Segment::NseFo,
        Segment::CdeFo,
        Segment::NseCom,
        Segment::McxFo,
        Segment::BseCm,
        Segment::BseFo,
        Segment::BcsFo,
    ];

    /// The topic-string code, e.g. `nse_cm`.
    pub const fn code(self) -> &'static str {
        match self {
            Segment::NseCm => "nse_cm",
            Segment::NseFo => "nse_fo",
            Segment::CdeFo => "cde_fo",
            Segment::NseCom => "nse_com",
            Segment::McxFo => "mcx_fo",
            Segment::BseCm => "bse_cm",
            Segment::BseFo => "bse_fo",
            Segment::BcsFo => "bcs_fo",
        }
    }

    /// The first four characters of a fyToken in this segment, e.g. `1010`.
    pub const fn fy_token_prefix(self) -> &'static str {
        match self {
            Segment::NseCm => "1010",
            Segment::NseFo => "1011",
            Segment::CdeFo => "1012",
            Segment::NseCom => "1020",
            Segment::McxFo => "1120",
            Segment::BseCm => "1210",
            Segment::BseFo => "1211",
            Segment::BcsFo => "1212",
        }
    }

    /// The segment for a fyToken prefix (exactly four characters), if known.
    pub fn from_fy_token_prefix(prefix: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|segment| segment.fy_token_prefix() == prefix)
    }

    /// The segment for a topic-string code, if known.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|segment| segment.code() == code)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Segment {
    type Err = UnknownSegment;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code).ok_or_else(|| UnknownSegment(code.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_spec() {
        let spec = [
            ("1010", "nse_cm"),
            ("1011", "nse_fo"),
            ("1012", "cde_fo"),
            ("1020", "nse_com"),
            ("1120", "mcx_fo"),
            ("1210", "bse_cm"),
            ("1211", "bse_fo"),
            ("1212", "bcs_fo"),
        ];
        for (prefix, code) in spec {
            let segment = Segment::from_fy_token_prefix(prefix).unwrap();
            assert_eq!(segment.code(), code);
            assert_eq!(code.parse::<Segment>().unwrap(), segment);
            assert_eq!(segment.to_string(), code);
        }
        assert_eq!(Segment::from_fy_token_prefix("1013"), None);
        assert_eq!(Segment::from_fy_token_prefix("101"), None);
        assert!("NSE_CM".parse::<Segment>().is_err());
    }
}

//! Kite's historical candles (`GET /instruments/historical/{token}/{interval}`): the `data` of
//! the success envelope is `{"candles":[[time, open, high, low, close, volume(, oi)], …]}` with
//! the time as `yyyy-mm-ddThh:mm:ss+0530` (pykiteconnect's `_format_historical` reads the same
//! rows). Pure decoding; the request lives in the client.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::Value;

/// One candle as Kite sends it (decimal prices).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoricalCandle {
    /// Start of the interval, with Kite's offset (+05:30).
    pub time: DateTime<FixedOffset>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    /// Open interest, when asked for (`oi=1`).
    pub oi: Option<u64>,
}

/// The `data` object of a historical response.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHistorical {
    #[serde(default)]
    pub(crate) candles: Vec<Vec<Value>>,
}

/// Why a candle row could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("candle row {index}: {reason}")]
pub struct CandleRowError {
    pub index: usize,
    pub reason: String,
}

/// Decodes every row; the first malformed one fails the whole answer (a series with a hole in
/// it is worse than a retry).
pub(crate) fn decode_candles(raw: RawHistorical) -> Result<Vec<HistoricalCandle>, CandleRowError> {
    raw.candles
        .iter()
        .enumerate()
        .map(|(index, row)| {
            decode_row(row).map_err(|reason| CandleRowError {
                index,
                reason: reason.to_owned(),
            })
        })
        .collect()
}

fn decode_row(row: &[Value]) -> Result<HistoricalCandle, &'static str> {
    let [time, open, high, low, close, volume, rest @ ..] = row else {
        return Err("fewer than six fields");
    };
    let time = time.as_str().ok_or("time is not a string")?;
    let time = DateTime::parse_from_str(time, "%Y-%m-%dT%H:%M:%S%z")
        .map_err(|_| "time is not yyyy-mm-ddThh:mm:ss+hhmm")?;
    let price = |v: &Value| {
        v.as_f64()
            .filter(|p| p.is_finite())
            .ok_or("price is not a number")
    };
    Ok(HistoricalCandle {
        time,
        open: price(open)?,
        high: price(high)?,
        low: price(low)?,
        close: price(close)?,
        volume: count(volume).ok_or("volume is not a count")?,
        oi: rest.first().and_then(count),
    })
}

/// A non-negative integer, also when sent as a float with no fraction (`1234.0`).
fn count(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Result<Vec<HistoricalCandle>, CandleRowError> {
        decode_candles(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn decodes_kites_rows_with_and_without_oi() {
        let c = decode(json!({"candles": [
            ["2026-11-23T09:15:00+0530", 598.7, 600.85, 585, 590.5, 1234],
            ["2026-11-23T09:16:00+0530", 590.5, 591, 590, 590.95, 20.0, 13500],
        ]}))
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].time.timestamp(), 1_795_405_500);
        assert_eq!(
            (c[0].open, c[0].low, c[0].volume, c[0].oi),
            (598.7, 585.0, 1234, None)
        );
        assert_eq!((c[1].volume, c[1].oi), (20, Some(13_500)));
        assert!(decode(json!({"candles": []})).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_row_fails_the_answer() {
        let bad = [
            json!({"candles": [["2026-11-23 09:15:00", 1, 1, 1, 1, 1]]}),
            json!({"candles": [["2026-11-23T09:15:00+0530", 1, 1, 1, 1]]}),
            json!({"candles": [["2026-11-23T09:15:00+0530", "1", 1, 1, 1, 1]]}),
            json!({"candles": [["2026-11-23T09:15:00+0530", 1, 1, 1, 1, -5]]}),
        ];
        for b in bad {
            assert!(decode(b.clone()).is_err(), "{b}");
        }
    }
}

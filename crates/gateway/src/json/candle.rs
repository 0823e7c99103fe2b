//! The `candle` message (DESIGN.md §6) and the JSON form of candles for `/api/candles`.

use crate::model::candle::Candle;
use crate::model::ist::write_ist;
use crate::model::price::{TextBuf, write_price};

/// Appends the fields of one candle: `"t":…,"open":…,"high":…,"low":…,"close":…,"volume":…`.
fn write_fields(out: &mut impl TextBuf, c: &Candle, divisor: u32) {
    out.push_str("\"t\":\"");
    write_ist(out, c.t);
    out.push_ascii(b'"');
    for (name, v) in [
        (",\"open\":", c.open),
        (",\"high\":", c.high),
        (",\"low\":", c.low),
        (",\"close\":", c.close),
    ] {
        out.push_str(name);
        write_price(out, v, divisor);
    }
    out.push_str(",\"volume\":");
    out.push_str(itoa::Buffer::new().format(c.volume));
}

/// `{"type":"candle","symbol":…,"interval":"1m","t":…,…}`.
pub fn write_candle_message(
    out: &mut impl TextBuf,
    symbol_json: &str,
    interval: &str,
    c: &Candle,
    divisor: u32,
) {
    out.push_str("{\"type\":\"candle\",\"symbol\":");
    out.push_str(symbol_json);
    out.push_str(",\"interval\":\"");
    out.push_str(interval);
    out.push_str("\",");
    write_fields(out, c, divisor);
    out.push_ascii(b'}');
}

/// A JSON array of candles, oldest first.
pub fn write_candle_array(out: &mut impl TextBuf, candles: &[Candle], divisor: u32) {
    out.push_ascii(b'[');
    for (i, c) in candles.iter().enumerate() {
        if i > 0 {
            out.push_ascii(b',');
        }
        out.push_ascii(b'{');
        write_fields(out, c, divisor);
        out.push_ascii(b'}');
    }
    out.push_ascii(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn candle_message_matches_the_protocol() {
        let c = Candle {
            t: 1_795_409_100,
            open: 81_100,
            high: 81_250,
            low: 81_090,
            close: 81_240,
            volume: 12_345,
        };
        let mut v = Vec::new();
        write_candle_message(&mut v, "\"NSE:SBIN\"", "1m", &c, 100);
        let got: Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(
            got,
            json!({"type":"candle","symbol":"NSE:SBIN","interval":"1m","t":"2026-11-23T10:15:00+05:30",
                   "open":811,"high":812.5,"low":810.9,"close":812.4,"volume":12345})
        );
        let mut a = Vec::new();
        write_candle_array(&mut a, &[c, c], 100);
        let arr: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(arr.as_array().unwrap().len(), 2);
        let mut e = Vec::new();
        write_candle_array(&mut e, &[], 100);
        assert_eq!(e, b"[]");
    }
}

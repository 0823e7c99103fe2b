//! The `candle` message (DESIGN.md §6) and the JSON form of candles for `/api/candles`.

use crate::candles::Candle;
use crate::price::write_price;
use crate::protocol::ist::write_ist;

/// Appends the fields of one candle: `"t":…,"open":…,"high":…,"low":…,"close":…,"volume":…`.
fn write_fields(out: &mut Vec<u8>, c: &Candle, divisor: u32) {
    out.extend_from_slice(b"\"t\":\"");
    write_ist(out, c.t);
    out.push(b'"');
    for (name, v) in [
        (&b",\"open\":"[..], c.open),
        (b",\"high\":", c.high),
        (b",\"low\":", c.low),
        (b",\"close\":", c.close),
    ] {
        out.extend_from_slice(name);
        write_price(out, v, divisor);
    }
    out.extend_from_slice(b",\"volume\":");
    out.extend_from_slice(itoa::Buffer::new().format(c.volume).as_bytes());
}

/// `{"type":"candle","symbol":…,"interval":"1m","t":…,…}`.
pub fn write_candle_message(
    out: &mut Vec<u8>,
    symbol_json: &str,
    interval: &str,
    c: &Candle,
    divisor: u32,
) {
    out.extend_from_slice(b"{\"type\":\"candle\",\"symbol\":");
    out.extend_from_slice(symbol_json.as_bytes());
    out.extend_from_slice(b",\"interval\":\"");
    out.extend_from_slice(interval.as_bytes());
    out.extend_from_slice(b"\",");
    write_fields(out, c, divisor);
    out.push(b'}');
}

/// A JSON array of candles, oldest first.
pub fn write_candle_array(out: &mut Vec<u8>, candles: &[Candle], divisor: u32) {
    out.push(b'[');
    for (i, c) in candles.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        write_fields(out, c, divisor);
        out.push(b'}');
    }
    out.push(b']');
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

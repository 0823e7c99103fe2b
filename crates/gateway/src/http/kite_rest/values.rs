//! One instrument's value in Kite's quote shapes (kite.md §8.4, Zerodha's `quote.json`,
//! `ltp.json`, `ohlc.json` mocks), written as JSON text from a hub [`Tick`]: prices as exact
//! decimals of the tick's wire units (`157370 / 100` → `1573.7`), times as Kite's IST
//! `"YYYY-MM-DD HH:MM:SS"`. What a tick does not carry is written as Kite writes an empty
//! field: zero counts, a zero book, `null` for an unknown trade time. Pure.

use crate::model::ist::IST_OFFSET_SECS;
use crate::model::price::write_price;
use crate::model::tick::{Full, Level, Tick};

/// Which endpoint: what a value holds, and how many instruments one call may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `GET /quote`.
    Full,
    /// `GET /quote/ltp`.
    Ltp,
    /// `GET /quote/ohlc`.
    Ohlc,
}

impl Shape {
    /// Kite's per-call cap.
    pub fn cap(self) -> usize {
        match self {
            Self::Full => feedgate_kite::MAX_QUOTE_INSTRUMENTS,
            Self::Ltp | Self::Ohlc => feedgate_kite::MAX_LTP_OHLC_INSTRUMENTS,
        }
    }
}

/// Appends `tick` as a `shape` value.
pub fn write_value(out: &mut String, tick: &Tick, shape: Shape) {
    out.push_str(r#"{"instrument_token":"#);
    out.push_str(itoa::Buffer::new().format(tick.token));
    out.push_str(r#","last_price":"#);
    write_price(out, tick.ltp, tick.divisor);
    match shape {
        Shape::Ltp => {}
        Shape::Ohlc => {
            out.push(',');
            write_ohlc(out, tick);
        }
        Shape::Full => write_full(out, tick),
    }
    out.push('}');
}

fn write_ohlc(out: &mut String, tick: &Tick) {
    let q = tick.quote.unwrap_or_default();
    out.push_str(r#""ohlc":{"open":"#);
    write_price(out, q.open, tick.divisor);
    out.push_str(r#","high":"#);
    write_price(out, q.high, tick.divisor);
    out.push_str(r#","low":"#);
    write_price(out, q.low, tick.divisor);
    out.push_str(r#","close":"#);
    write_price(out, q.close, tick.divisor);
    out.push('}');
}

/// The rest of a `/quote` value, in the order of Zerodha's mock.
fn write_full(out: &mut String, tick: &Tick) {
    let q = tick.quote.unwrap_or_default();
    let f = tick.full.unwrap_or_default();
    let div = tick.divisor;
    let count = |out: &mut String, name: &str, v: Option<u64>| {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        out.push_str(itoa::Buffer::new().format(v.unwrap_or(0)));
    };
    // `timestamp` is the exchange's time of the value; a value without one (an index tick in
    // quote mode, a REST poll) is stamped with when feedgate received it.
    let ts = f.exchange_ts.unwrap_or(tick.received_ms.div_euclid(1000));
    out.push_str(r#","timestamp":"#);
    write_time(out, Some(ts));
    out.push_str(r#","last_trade_time":"#);
    write_time(out, f.last_trade_ts);
    count(out, "last_quantity", q.last_qty);
    count(out, "buy_quantity", q.buy_qty);
    count(out, "sell_quantity", q.sell_qty);
    count(out, "volume", q.volume);
    out.push_str(r#","average_price":"#);
    write_price(out, q.avg_price.unwrap_or(0), div);
    count(out, "oi", f.oi);
    let (oi_high, oi_low) = oi_day_range(&f);
    count(out, "oi_day_high", Some(oi_high));
    count(out, "oi_day_low", Some(oi_low));
    out.push_str(r#","net_change":"#);
    let net = if tick.quote.is_some() {
        tick.ltp - q.close
    } else {
        0
    };
    write_price(out, net, div);
    // Circuit limits are not in the ticker feed feedgate holds: 0, as Kite writes an unknown
    // limit.
    out.push_str(r#","lower_circuit_limit":0,"upper_circuit_limit":0,"#);
    write_ohlc(out, tick);
    let depth = f.depth.unwrap_or_default();
    out.push_str(r#","depth":{"buy":"#);
    write_levels(out, &depth.buy, div);
    out.push_str(r#","sell":"#);
    write_levels(out, &depth.sell, div);
    out.push('}');
}

/// The day's open-interest range; Kite's zero where the broker reported none (Fyers).
fn oi_day_range(full: &Full) -> (u64, u64) {
    (full.oi_day_high.unwrap_or(0), full.oi_day_low.unwrap_or(0))
}

fn write_levels(out: &mut String, levels: &[Level; 5], divisor: u32) {
    out.push('[');
    for (n, l) in levels.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(r#"{"price":"#);
        write_price(out, l.price, divisor);
        out.push_str(r#","quantity":"#);
        out.push_str(itoa::Buffer::new().format(l.quantity));
        out.push_str(r#","orders":"#);
        out.push_str(itoa::Buffer::new().format(l.orders));
        out.push('}');
    }
    out.push(']');
}

/// `"YYYY-MM-DD HH:MM:SS"` in IST for Unix seconds, or `null`.
fn write_time(out: &mut String, unix_secs: Option<i64>) {
    let text = unix_secs
        .filter(|s| *s > 0)
        .and_then(|s| chrono::DateTime::from_timestamp(s + IST_OFFSET_SECS, 0))
        .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string());
    match text {
        Some(t) => {
            out.push('"');
            out.push_str(&t);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tick::{Depth, Quote, Source};
    use serde_json::{Value, json};

    /// Zerodha's `quote.json` mock as a tick (2021-06-08 15:45:56 IST).
    fn infy() -> Tick {
        let mut sell = [Level::default(); 5];
        sell[0] = Level {
            price: 141_295,
            quantity: 5191,
            orders: 13,
        };
        Tick {
            token: 408_065,
            divisor: 100,
            ltp: 141_295,
            quote: Some(Quote {
                open: 139_600,
                high: 142_175,
                low: 139_555,
                close: 138_965,
                volume: Some(7_360_198),
                last_qty: Some(5),
                avg_price: Some(141_247),
                buy_qty: Some(0),
                sell_qty: Some(5191),
            }),
            full: Some(Full {
                exchange_ts: Some(1_623_147_356),
                last_trade_ts: Some(1_623_147_352),
                oi: Some(0),
                oi_day_high: Some(0),
                oi_day_low: Some(0),
                depth: Some(Depth {
                    buy: [Level::default(); 5],
                    sell,
                }),
            }),
            received_ms: 1_623_147_357_000,
            src: Source::Ws,
        }
    }

    fn render(tick: &Tick, shape: Shape) -> Value {
        let mut s = String::new();
        write_value(&mut s, tick, shape);
        serde_json::from_str(&s).unwrap()
    }

    fn mock(name: &str) -> Value {
        let path = format!(
            "{}/../protocol-kite/tests/fixtures/kite-mocks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["data"]["NSE:INFY"].clone()
    }

    fn keys(v: &Value) -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn a_full_quote_matches_zerodhas_mock_field_for_field() {
        let want = mock("quote.json");
        let got = render(&infy(), Shape::Full);
        let mut want_keys = keys(&want);
        let mut got_keys = keys(&got);
        want_keys.sort();
        got_keys.sort();
        assert_eq!(got_keys, want_keys);
        for k in [
            "instrument_token",
            "timestamp",
            "last_trade_time",
            "last_price",
            "last_quantity",
            "buy_quantity",
            "sell_quantity",
            "volume",
            "average_price",
            "oi",
            "ohlc",
            "depth",
        ] {
            assert_eq!(got[k], want[k], "{k}");
        }
        assert_eq!(got["net_change"], json!(23.3), "ltp − close");
    }

    #[test]
    fn ltp_and_ohlc_have_the_mocks_fields() {
        let got = render(&infy(), Shape::Ltp);
        assert_eq!(keys(&got), keys(&mock("ltp.json")));
        assert_eq!(got["last_price"], json!(1412.95));
        let got = render(&infy(), Shape::Ohlc);
        assert_eq!(keys(&got), keys(&mock("ohlc.json")));
        assert_eq!(got["ohlc"]["close"], json!(1389.65));
    }

    /// An ltp-only index tick: zero counts and book, a receive-time timestamp, no trade time.
    #[test]
    fn missing_parts_are_written_as_kite_writes_empty_fields() {
        let tick = Tick {
            token: 256_265,
            divisor: 100,
            ltp: 2_575_050,
            quote: None,
            full: None,
            received_ms: 1_795_400_000_900,
            src: Source::Rest,
        };
        let v = render(&tick, Shape::Full);
        assert_eq!(v["last_price"], json!(25750.5));
        assert_eq!(v["timestamp"], "2026-11-23 07:43:20");
        assert_eq!(v["last_trade_time"], Value::Null);
        assert_eq!(v["volume"], 0);
        assert_eq!(v["net_change"], 0);
        assert_eq!(v["depth"]["buy"].as_array().unwrap().len(), 5);
        assert_eq!(
            v["depth"]["sell"][4],
            json!({"price": 0, "quantity": 0, "orders": 0})
        );
    }

    #[test]
    fn currency_prices_keep_their_decimals() {
        let tick = Tick {
            token: 1_000 << 8 | 3,
            divisor: 10_000_000,
            ltp: 885_025_000,
            quote: None,
            full: None,
            received_ms: 0,
            src: Source::Ws,
        };
        let mut s = String::new();
        write_value(&mut s, &tick, Shape::Ltp);
        assert_eq!(s, r#"{"instrument_token":256003,"last_price":88.5025}"#);
    }
}

//! Test-side helpers: fixture loading and a converter from decoded packets to the JSON tick
//! shapes of the official clients, so decodes can be compared field for field.

// Each test binary uses a different subset; helpers may unwrap (a panic is a failed test).
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, FixedOffset};
use feedgate_kite::{Depth, Ohlc, Packet, Segment};
use serde_json::{Map, Value, json};

/// Reads a file from `tests/fixtures/kite-mocks/` (see its README for the source).
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/kite-mocks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// Which official tick dict to reproduce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// pykiteconnect 5.2.2: new field names, `change` in percent, naive IST timestamps.
    Python,
    /// `kiteconnect-mocks` `ticker_*.json`: old field names, absolute `change`, RFC 3339 IST.
    Mocks,
}

impl Style {
    fn name(self, new: &'static str) -> &'static str {
        if self == Style::Python {
            return new;
        }
        match new {
            "last_traded_quantity" => "last_quantity",
            "average_traded_price" => "average_price",
            "volume_traded" => "volume",
            "total_buy_quantity" => "buy_quantity",
            "total_sell_quantity" => "sell_quantity",
            "exchange_timestamp" => "timestamp",
            other => other,
        }
    }

    fn time(self, epoch: u32) -> Value {
        let ist = FixedOffset::east_opt(19_800).unwrap();
        let t = DateTime::from_timestamp(i64::from(epoch), 0)
            .unwrap()
            .with_timezone(&ist);
        match self {
            Style::Python => Value::from(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            Style::Mocks => Value::from(t.to_rfc3339()),
        }
    }

    fn change(self, last: f64, close: f64) -> f64 {
        match self {
            Style::Mocks => last - close,
            Style::Python if close != 0.0 => (last - close) * 100.0 / close,
            Style::Python => 0.0,
        }
    }
}

/// The tick dict an official client builds from `packet`.
pub fn tick_json(packet: &Packet, style: Style) -> Value {
    let token = packet.token();
    let divisor = f64::from(Segment::of_token(token).price_divisor());
    let price = |raw: i32| f64::from(raw) / divisor;
    let mut m = Map::new();
    let mut put = |k: &'static str, v: Value| {
        m.insert(style.name(k).to_owned(), v);
    };
    put(
        "tradable",
        Value::from(!Segment::of_token(token).is_index()),
    );
    put("mode", Value::from(packet.mode().as_str()));
    put("instrument_token", Value::from(token));
    put("last_price", Value::from(price(packet.last_price())));
    let ohlc = |o: &Ohlc| json!({"open": price(o.open), "high": price(o.high), "low": price(o.low), "close": price(o.close)});
    match packet {
        Packet::Ltp(_) => {}
        Packet::IndexQuote(q)
        | Packet::IndexFull(feedgate_kite::IndexFullPacket { quote: q, .. }) => {
            put("ohlc", ohlc(&q.ohlc));
            put(
                "change",
                Value::from(style.change(price(q.last_price), price(q.ohlc.close))),
            );
            if let Packet::IndexFull(f) = packet {
                put("exchange_timestamp", style.time(f.exchange_timestamp));
            }
        }
        Packet::Quote(q) | Packet::Full(feedgate_kite::FullPacket { quote: q, .. }) => {
            put("last_traded_quantity", Value::from(q.last_traded_quantity));
            put(
                "average_traded_price",
                Value::from(price(q.average_traded_price)),
            );
            put("volume_traded", Value::from(q.volume_traded));
            put("total_buy_quantity", Value::from(q.total_buy_quantity));
            put("total_sell_quantity", Value::from(q.total_sell_quantity));
            put("ohlc", ohlc(&q.ohlc));
            put(
                "change",
                Value::from(style.change(price(q.last_price), price(q.ohlc.close))),
            );
            if let Packet::Full(f) = packet {
                put("last_trade_time", style.time(f.last_trade_time));
                put("oi", Value::from(f.oi));
                put("oi_day_high", Value::from(f.oi_day_high));
                put("oi_day_low", Value::from(f.oi_day_low));
                put("exchange_timestamp", style.time(f.exchange_timestamp));
                put("depth", depth_json(&f.depth, price));
            }
        }
    }
    Value::Object(m)
}

fn depth_json(depth: &Depth, price: impl Fn(i32) -> f64) -> Value {
    let side = |levels: &[feedgate_kite::DepthLevel; 5]| {
        levels
            .iter()
            .map(|l| json!({"quantity": l.quantity, "price": price(l.price), "orders": l.orders}))
            .collect::<Vec<_>>()
    };
    json!({"buy": side(&depth.buy), "sell": side(&depth.sell)})
}

/// Makes every JSON number an `f64`, so `1575` and `1575.0` compare equal (the fixtures mix
/// both spellings) while any difference in value still fails.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Number(n), Value::from),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

/// Asserts equality of two JSON values after [`normalize`], naming the first differing key.
pub fn assert_json_eq(actual: Value, expected: Value, what: &str) {
    let (actual, expected) = (normalize(actual), normalize(expected));
    if let (Value::Object(a), Value::Object(e)) = (&actual, &expected) {
        for (key, value) in e {
            assert_eq!(a.get(key), Some(value), "{what}: field {key}");
        }
        for key in a.keys() {
            assert!(e.contains_key(key), "{what}: unexpected field {key}");
        }
    }
    assert_eq!(actual, expected, "{what}");
}

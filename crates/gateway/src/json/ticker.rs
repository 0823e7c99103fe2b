//! The `ticker` message, hand-encoded: this is the hot path (one encoding per tick per mode,
//! shared by every subscriber), so it writes text directly instead of building a
//! `serde_json::Value`, into a `String` so the message needs no second UTF-8 check. Field set
//! per DESIGN.md §6; fields a mode does not carry are omitted.
//!
//! - `ltp`: `symbol, token, ltp, ts, src`
//! - `quote`: adds `ch, chp, open, high, low, close`, and `volume` for tradable instruments
//! - `full`: adds `bid, ask, oi, depth`, and for tradable instruments `ltq, atp, buy_qty,
//!   sell_qty, ltt`
//!
//! A value that did not arrive over the feed as it flows now (a cached one from disk, one from
//! before an outage that has not ticked since, a closed-hours REST quote) carries
//! `"stale": true` and `age_s`, so a client can tell a last-known value from a live one; a
//! live REST value (bridge or fallback) carries its `age_s` too (it is as old as the poll).

use crate::model::instruments::Instrument;
use crate::model::ist::write_ist;
use crate::model::live::FeedLive;
use crate::model::price::{percent_hundredths, write_price};
use crate::model::tick::{Depth, Full, Level, Mode, Quote, Source, Tick};

/// How the value is presented: live, live but polled, or a last-known value of its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Live,
    /// Live, from a REST poll `age_s` seconds ago.
    Polled {
        age_s: u64,
    },
    /// Not live; `age_s` seconds old.
    Stale {
        age_s: u64,
    },
}

impl Freshness {
    /// The one rule for every place a value leaves feedgate (hub fan-out and snapshots,
    /// `/api/quotes`): a value is live only if it arrived over the feed during its current
    /// live period (WebSocket, REST bridge or fallback) and is not a persisted one from disk;
    /// anything else (closed market, login needed, an outage, a value that has not ticked
    /// since the feed came back) is a last-known one of its age. `now_ms` is wall-clock Unix ms.
    #[inline]
    pub fn of(tick: &Tick, feed: FeedLive, now_ms: i64) -> Self {
        let age_s = || ((now_ms - tick.received_ms).max(0) / 1000) as u64;
        if tick.src == Source::Cache || !feed.delivered(tick.received_ms) {
            Self::Stale { age_s: age_s() }
        } else if tick.src == Source::Rest {
            Self::Polled { age_s: age_s() }
        } else {
            Self::Live
        }
    }
}

/// Where a tick stands in the gateway's stream (DESIGN.md §12): its number among this
/// instrument's ticks of the day, and the gateway run (`epoch`, new at every start) that
/// numbered it. A client that reconnects resumes from the last `seq` it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub epoch: u64,
}

/// Appends the full `{"type":"ticker","data":{…}}` message: the fields every mode carries,
/// the quote and full sections the mode asks for (and the tick has), then time, source and
/// freshness, and the depth book last (the bulk of a full message). Without a stamp (a REST
/// answer, not part of the stream) it carries no `seq`/`epoch`.
pub fn write_ticker(
    out: &mut String,
    tick: &Tick,
    inst: &Instrument,
    mode: Mode,
    freshness: Freshness,
) {
    write_stamped(out, tick, inst, mode, freshness, None);
}

/// [`write_ticker`] with the tick's place in the stream.
pub fn write_stamped(
    out: &mut String,
    tick: &Tick,
    inst: &Instrument,
    mode: Mode,
    freshness: Freshness,
    stamp: Option<Stamp>,
) {
    let div = tick.divisor;
    write_head(out, tick, inst);
    // Each section's condition is computed where it is used: computed up front, they stay
    // live across the calls above and cost spills on every message.
    let quote = if mode >= Mode::Quote {
        tick.quote.as_ref()
    } else {
        None
    };
    if let Some(q) = quote {
        write_quote(out, q, tick.ltp, div);
    }
    let full = if mode == Mode::Full {
        tick.full.as_ref()
    } else {
        None
    };
    if let Some(f) = full {
        write_full(out, f, quote, inst, div);
    }
    write_time_and_source(out, tick, freshness);
    if let Some(s) = stamp {
        out.push_str(",\"seq\":");
        out.push_str(itoa::Buffer::new().format(s.seq));
        out.push_str(",\"epoch\":");
        out.push_str(itoa::Buffer::new().format(s.epoch));
    }
    if let Some(depth) = full.and_then(|f| f.depth.as_ref()) {
        write_depth(out, depth, div);
    }
    out.push_str("}}");
}

/// The envelope and the fields of every mode but the trailing ones: `symbol`, `token`, `ltp`.
fn write_head(out: &mut String, tick: &Tick, inst: &Instrument) {
    out.push_str("{\"type\":\"ticker\",\"data\":{\"symbol\":");
    out.push_str(&inst.symbol_json);
    out.push_str(",\"token\":");
    out.push_str(itoa::Buffer::new().format(tick.token));
    out.push_str(",\"ltp\":");
    write_price(out, tick.ltp, tick.divisor);
}

/// Quote mode's fields: change against the previous close, the day's OHLC, and volume for
/// tradable instruments (an index has none).
fn write_quote(out: &mut String, q: &Quote, ltp: i64, div: u32) {
    let delta = ltp - q.close;
    out.push_str(",\"ch\":");
    if q.close == 0 {
        out.push('0');
    } else {
        write_price(out, delta, div);
    }
    out.push_str(",\"chp\":");
    match percent_hundredths(delta, q.close) {
        Some(h) => write_price(out, h, 100),
        None => out.push('0'),
    }
    for (name, v) in [
        (",\"open\":", q.open),
        (",\"high\":", q.high),
        (",\"low\":", q.low),
        (",\"close\":", q.close),
    ] {
        out.push_str(name);
        write_price(out, v, div);
    }
    if let Some(v) = q.volume {
        out.push_str(",\"volume\":");
        out.push_str(itoa::Buffer::new().format(v));
    }
}

/// Full mode's fields before the time: best bid and ask, open interest (null where the
/// instrument has none), the trade fields of the quote part, and the last trade time.
fn write_full(out: &mut String, f: &Full, quote: Option<&Quote>, inst: &Instrument, div: u32) {
    if let Some(depth) = &f.depth {
        out.push_str(",\"bid\":");
        write_opt_price(out, depth.buy[0], div);
        out.push_str(",\"ask\":");
        write_opt_price(out, depth.sell[0], div);
    }
    out.push_str(",\"oi\":");
    match f.oi {
        Some(oi) if inst.has_oi => out.push_str(itoa::Buffer::new().format(oi)),
        _ => out.push_str("null"),
    }
    if let Some(q) = quote {
        write_trade_fields(out, q, div);
    }
    if let Some(ltt) = f.last_trade_ts {
        out.push_str(",\"ltt\":\"");
        write_ist(out, ltt);
        out.push('"');
    }
}

/// `ltq`, `atp`, `buy_qty`, `sell_qty`: each only when the broker sent it.
fn write_trade_fields(out: &mut String, q: &Quote, div: u32) {
    let mut num = itoa::Buffer::new();
    if let Some(v) = q.last_qty {
        out.push_str(",\"ltq\":");
        out.push_str(num.format(v));
    }
    if let Some(v) = q.avg_price {
        out.push_str(",\"atp\":");
        write_price(out, v, div);
    }
    if let Some(v) = q.buy_qty {
        out.push_str(",\"buy_qty\":");
        out.push_str(num.format(v));
    }
    if let Some(v) = q.sell_qty {
        out.push_str(",\"sell_qty\":");
        out.push_str(num.format(v));
    }
}

/// `ts` (the exchange time, else the receive time), `src`, and for a last-known value
/// `stale` and `age_s`.
#[inline(always)]
fn write_time_and_source(out: &mut String, tick: &Tick, freshness: Freshness) {
    out.push_str(",\"ts\":\"");
    let ts = tick
        .exchange_ts()
        .filter(|s| *s > 0)
        .unwrap_or(tick.received_ms.div_euclid(1000));
    write_ist(out, ts);
    out.push_str("\",\"src\":\"");
    out.push_str(tick.src.as_str());
    out.push('"');
    match freshness {
        Freshness::Live => {}
        Freshness::Polled { age_s } => {
            out.push_str(",\"age_s\":");
            out.push_str(itoa::Buffer::new().format(age_s));
        }
        Freshness::Stale { age_s } => {
            out.push_str(",\"stale\":true,\"age_s\":");
            out.push_str(itoa::Buffer::new().format(age_s));
        }
    }
}

/// A best bid or ask; `null` for an empty side (no price, no quantity).
fn write_opt_price(out: &mut String, level: Level, div: u32) {
    if level.quantity == 0 && level.price == 0 {
        out.push_str("null");
    } else {
        write_price(out, level.price, div);
    }
}

/// `depth`: every level of both sides, buy first.
fn write_depth(out: &mut String, depth: &Depth, div: u32) {
    let mut num = itoa::Buffer::new();
    out.push_str(",\"depth\":{");
    for (i, (name, side)) in [("buy", &depth.buy), ("sell", &depth.sell)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":[");
        for (j, l) in side.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"price\":");
            write_price(out, l.price, div);
            out.push_str(",\"quantity\":");
            out.push_str(num.format(l.quantity));
            out.push_str(",\"orders\":");
            out.push_str(num.format(l.orders));
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::{InstrumentSpec, Registry};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn inst(token: u32, sym: &str, segment: &str, is_index: bool) -> Arc<Instrument> {
        let (ex, ts) = sym.split_once(':').unwrap();
        let reg = Registry::new([InstrumentSpec {
            token,
            exchange: ex.into(),
            tradingsymbol: ts.into(),
            name: ts.into(),
            segment: segment.into(),
            instrument_type: "EQ".into(),
            tick_size: 0.05,
            lot_size: 1,
            divisor: 100,
            is_index,
            expiry: None,
            strike: 0.0,
        }]);
        reg.by_token(token).unwrap().clone()
    }

    fn full_tick() -> Tick {
        let mut depth = Depth::default();
        for i in 0..5 {
            depth.buy[i] = Level {
                price: 81_235 - 5 * i as i64,
                quantity: 10 + i as u64,
                orders: 1,
            };
            depth.sell[i] = Level {
                price: 81_240 + 5 * i as i64,
                quantity: 20 + i as u64,
                orders: 2,
            };
        }
        Tick {
            token: 779_521,
            divisor: 100,
            ltp: 81_240,
            quote: Some(Quote {
                open: 80_900,
                high: 81_500,
                low: 80_650,
                close: 80_930,
                volume: Some(1_234_567),
                last_qty: Some(5),
                avg_price: Some(81_010),
                buy_qty: Some(1000),
                sell_qty: Some(2000),
            }),
            full: Some(Full {
                exchange_ts: Some(1_795_409_102),
                last_trade_ts: Some(1_795_409_101),
                oi: Some(0),
                oi_day_high: None,
                oi_day_low: None,
                depth: Some(depth),
            }),
            received_ms: 1_795_409_102_500,
            src: Source::Ws,
        }
    }

    fn encode(t: &Tick, i: &Instrument, m: Mode, f: Freshness) -> Value {
        let mut v = String::new();
        write_ticker(&mut v, t, i, m, f);
        serde_json::from_str(&v).expect("valid JSON")
    }

    #[test]
    fn quote_mode_matches_the_design_example() {
        let sbin = inst(779_521, "NSE:SBIN", "NSE", false);
        let got = encode(&full_tick(), &sbin, Mode::Quote, Freshness::Live);
        assert_eq!(
            got,
            json!({"type":"ticker","data":{"symbol":"NSE:SBIN","token":779_521,"ltp":812.4,
                "ch":3.1,"chp":0.38,"open":809,"high":815,"low":806.5,"close":809.3,
                "volume":1_234_567,"ts":"2026-11-23T10:15:02+05:30","src":"ws"}})
        );
    }

    /// The exact bytes of a full message, field order included: clients see the text, and the
    /// encoder is hand-written, so a reordering would show up nowhere else.
    #[test]
    fn full_mode_bytes_are_pinned() {
        let sbin = inst(779_521, "NSE:SBIN", "NSE", false);
        let mut got = String::new();
        write_ticker(&mut got, &full_tick(), &sbin, Mode::Full, Freshness::Live);
        let depth = concat!(
            r#""depth":{"buy":[{"price":812.35,"quantity":10,"orders":1},"#,
            r#"{"price":812.3,"quantity":11,"orders":1},{"price":812.25,"quantity":12,"orders":1},"#,
            r#"{"price":812.2,"quantity":13,"orders":1},{"price":812.15,"quantity":14,"orders":1}],"#,
            r#""sell":[{"price":812.4,"quantity":20,"orders":2},{"price":812.45,"quantity":21,"orders":2},"#,
            r#"{"price":812.5,"quantity":22,"orders":2},{"price":812.55,"quantity":23,"orders":2},"#,
            r#"{"price":812.6,"quantity":24,"orders":2}]}"#,
        );
        let want = format!(
            "{}{}{}",
            concat!(
                r#"{"type":"ticker","data":{"symbol":"NSE:SBIN","token":779521,"ltp":812.4,"#,
                r#""ch":3.1,"chp":0.38,"open":809,"high":815,"low":806.5,"close":809.3,"#,
                r#""volume":1234567,"bid":812.35,"ask":812.4,"oi":null,"ltq":5,"atp":810.1,"#,
                r#""buy_qty":1000,"sell_qty":2000,"ltt":"2026-11-23T10:15:01+05:30","#,
                r#""ts":"2026-11-23T10:15:02+05:30","src":"ws","stale":true,"age_s":7,"#,
            ),
            depth,
            "}}"
        );
        let mut stale = String::new();
        let aged = Freshness::Stale { age_s: 7 };
        write_ticker(&mut stale, &full_tick(), &sbin, Mode::Full, aged);
        assert_eq!(stale, want);
        assert_eq!(got, want.replace(r#","stale":true,"age_s":7"#, ""));
    }

    #[test]
    fn ltp_mode_carries_only_the_minimum() {
        let sbin = inst(779_521, "NSE:SBIN", "NSE", false);
        let got = encode(&full_tick(), &sbin, Mode::Ltp, Freshness::Live);
        let keys: Vec<_> = got["data"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        for k in ["symbol", "token", "ltp", "ts", "src"] {
            assert!(got["data"].get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn full_mode_adds_depth_bid_ask_and_null_oi_for_cash() {
        let sbin = inst(779_521, "NSE:SBIN", "NSE", false);
        let got = encode(&full_tick(), &sbin, Mode::Full, Freshness::Live);
        let d = &got["data"];
        assert_eq!(d["bid"], json!(812.35));
        assert_eq!(d["ask"], json!(812.4));
        assert_eq!(d["oi"], Value::Null);
        assert_eq!(d["depth"]["buy"].as_array().unwrap().len(), 5);
        assert_eq!(
            d["depth"]["sell"][4],
            json!({"price":812.6,"quantity":24,"orders":2})
        );
        assert_eq!(d["ltt"], json!("2026-11-23T10:15:01+05:30"));
    }

    #[test]
    fn stale_values_say_so() {
        let sbin = inst(779_521, "NSE:SBIN", "NSE", false);
        let mut t = full_tick();
        t.src = Source::Cache;
        let got = encode(&t, &sbin, Mode::Ltp, Freshness::Stale { age_s: 3600 });
        assert_eq!(got["data"]["src"], json!("cache"));
        assert_eq!(got["data"]["stale"], json!(true));
        assert_eq!(got["data"]["age_s"], json!(3600));
    }

    #[test]
    fn symbols_with_specials_are_escaped() {
        let mm = inst(519_937, "NSE:M&M", "NSE", false);
        let weird = inst(1, "NSE:A\"B", "NSE", false);
        for i in [mm, weird] {
            let got = encode(&full_tick(), &i, Mode::Full, Freshness::Live);
            assert_eq!(got["data"]["symbol"].as_str(), Some(&*i.symbol));
        }
    }

    #[test]
    fn index_without_volume_or_timestamp_uses_receive_time() {
        let nifty = inst(256_265, "NSE:NIFTY 50", "INDICES", true);
        let t = Tick {
            token: 256_265,
            divisor: 100,
            ltp: 2_400_055,
            quote: Some(Quote {
                open: 2_390_000,
                high: 2_401_000,
                low: 2_389_000,
                close: 2_395_000,
                ..Quote::default()
            }),
            full: None,
            received_ms: 1_795_409_102_999,
            src: Source::Ws,
        };
        let got = encode(&t, &nifty, Mode::Full, Freshness::Live);
        assert!(got["data"].get("volume").is_none());
        assert!(got["data"].get("depth").is_none());
        assert_eq!(got["data"]["ts"], json!("2026-11-23T10:15:02+05:30"));
        assert_eq!(got["data"]["chp"], json!(0.21));
    }

    #[test]
    fn freshness_rule() {
        let mut t = full_tick();
        let now = t.received_ms + 61_500;
        let live = FeedLive::since(t.received_ms - 1);
        assert_eq!(Freshness::of(&t, live, now), Freshness::Live);
        t.src = Source::Rest;
        assert_eq!(
            Freshness::of(&t, live, now),
            Freshness::Polled { age_s: 61 },
            "a REST value over a live feed says its age"
        );
        for src in [Source::Ws, Source::Rest] {
            t.src = src;
            assert_eq!(
                Freshness::of(&t, FeedLive::DOWN, now),
                Freshness::Stale { age_s: 61 },
                "feed not live: last-known"
            );
            assert_eq!(
                Freshness::of(&t, FeedLive::since(t.received_ms + 1), now),
                Freshness::Stale { age_s: 61 },
                "from before the feed came back (issue 18): last-known"
            );
        }
        t.src = Source::Cache;
        assert_eq!(
            Freshness::of(&t, live, now),
            Freshness::Stale { age_s: 61 },
            "a value from disk is never live"
        );
        assert_eq!(
            Freshness::of(&t, FeedLive::DOWN, t.received_ms - 5),
            Freshness::Stale { age_s: 0 },
            "clock behind the value: age 0, not negative"
        );
        let mut polled = String::new();
        t.src = Source::Rest;
        write_ticker(
            &mut polled,
            &t,
            &inst(408_065, "NSE:INFY", "EQ", false),
            Mode::Ltp,
            Freshness::Polled { age_s: 3 },
        );
        assert!(polled.contains(r#""src":"rest","age_s":3"#), "{polled}");
        assert!(!polled.contains("stale"), "{polled}");
    }
}

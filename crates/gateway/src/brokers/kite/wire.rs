//! The Kite ticker as a [`Wire`]: URL with the credentials, subscribe/unsubscribe/mode
//! requests in batches, conversion of binary packets into normalised [`Tick`]s, and order
//! postbacks carried as their text frame. Its REST partner (tokens, quotes, the instrument
//! dump) is [`super::rest`].

use crate::brokers::wire::{Inbound, Wire};
use crate::model::demand::Demand;
use crate::model::order::OrderUpdate;
use crate::model::tick::{Depth, Full, Level, Mode, Quote, Source, Tick};
use feedgate_kite::{Message as KiteMessage, Packet, Request, Segment, TextMessage, parse_message};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::Message;

/// Tokens per subscribe/unsubscribe/mode request. Kite documents no per-message limit; small
/// batches keep each frame far from any server-side message cap.
pub const BATCH: usize = 200;

#[derive(Debug, Clone)]
pub struct KiteWire {
    base_url: String,
    api_key: String,
}

impl KiteWire {
    pub fn new(ws_url: &str, api_key: &str) -> Self {
        Self {
            base_url: ws_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
        }
    }
}

/// The tokens of `a` that `b` does not have, in token order.
fn only_in(a: &Demand, b: &Demand) -> Vec<u32> {
    a.keys().filter(|t| !b.contains_key(t)).copied().collect()
}

fn text(req: &Request) -> Message {
    Message::text(req.to_json())
}

impl Wire for KiteWire {
    fn url(&self, access_token: &str) -> String {
        // Query values are URL-encoded (Go does the same); Kite keys and tokens are
        // alphanumeric in practice, but a pasted token with a stray character must not break
        // the URL.
        let q = url_encode(&self.api_key);
        let t = url_encode(access_token);
        format!("{}/?api_key={q}&access_token={t}", self.base_url)
    }

    fn diff(&self, from: &Demand, to: &Demand, out: &mut Vec<Message>) {
        for chunk in only_in(from, to).chunks(BATCH) {
            out.push(text(&Request::Unsubscribe(chunk.to_vec())));
        }
        for chunk in only_in(to, from).chunks(BATCH) {
            out.push(text(&Request::Subscribe(chunk.to_vec())));
        }
        // Mode for every new token (even `quote`, the server default, so the intent is explicit
        // and does not rest on an undocumented default), and for tokens whose mode changed.
        let mut by_mode: BTreeMap<Mode, Vec<u32>> = BTreeMap::new();
        for (token, mode) in to {
            if from.get(token) != Some(mode) {
                by_mode.entry(*mode).or_default().push(*token);
            }
        }
        for (mode, tokens) in by_mode {
            for chunk in tokens.chunks(BATCH) {
                out.push(text(&Request::Mode(mode, chunk.to_vec())));
            }
        }
    }

    fn decode(&mut self, msg: &Message, received_ms: i64, ticks: &mut Vec<Tick>) -> Inbound {
        match msg {
            Message::Binary(bytes) => match parse_message(bytes) {
                Ok(KiteMessage::Heartbeat) => Inbound::Heartbeat,
                Ok(KiteMessage::Packets(mut packets)) => {
                    let mut error = None;
                    for p in packets.by_ref() {
                        match p {
                            Ok(p) => ticks.push(tick_from_packet(&p, received_ms)),
                            Err(e) => error = Some(e.to_string()),
                        }
                    }
                    match error {
                        Some(detail) => Inbound::Malformed { detail },
                        None => Inbound::Data {
                            skipped: usize::from(packets.skipped()),
                        },
                    }
                }
                Err(e) => Inbound::Malformed {
                    detail: e.to_string(),
                },
            },
            Message::Text(t) => match TextMessage::parse(t.as_str()) {
                Ok(TextMessage::Error(e)) => Inbound::Notice {
                    error: true,
                    text: e,
                },
                Ok(TextMessage::Message(m)) => Inbound::Notice {
                    error: false,
                    text: m,
                },
                Ok(TextMessage::Order(data)) => order_update(t, &data),
                Err(e) => Inbound::Malformed {
                    detail: format!("text frame: {e}"),
                },
            },
            _ => Inbound::Ignored,
        }
    }
}

/// An order postback as received: the frame's text unchanged (it is relayed as is), its order
/// id and status for the log.
fn order_update(text: &tokio_tungstenite::tungstenite::Utf8Bytes, data: &Value) -> Inbound {
    let field = |name: &str| match data.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    // Shares the frame's buffer; the UTF-8 check cannot fail on what was a text frame.
    match axum::extract::ws::Utf8Bytes::try_from(bytes::Bytes::from(text.clone())) {
        Ok(text) => Inbound::Order(OrderUpdate {
            text,
            order_id: field("order_id"),
            status: field("status"),
        }),
        Err(e) => Inbound::Malformed {
            detail: format!("order text frame: {e}"),
        },
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A quote with only the day's open, high, low and previous close (all an index has).
fn ohlc_quote(o: &feedgate_kite::Ohlc) -> Quote {
    Quote {
        open: i64::from(o.open),
        high: i64::from(o.high),
        low: i64::from(o.low),
        close: i64::from(o.close),
        ..Quote::default()
    }
}

fn ts(secs: u32) -> Option<i64> {
    (secs != 0).then_some(i64::from(secs))
}

fn level(l: feedgate_kite::DepthLevel) -> Level {
    Level {
        price: i64::from(l.price),
        quantity: u64::from(l.quantity),
        orders: u32::from(l.orders),
    }
}

/// Converts one Kite packet into a normalised tick (prices stay integers; the divisor comes
/// from the token's segment).
pub fn tick_from_packet(p: &Packet, received_ms: i64) -> Tick {
    let token = p.token();
    let (quote, full) = match p {
        Packet::Ltp(_) => (None, None),
        Packet::IndexQuote(q) => (Some(ohlc_quote(&q.ohlc)), None),
        Packet::IndexFull(f) => (
            Some(ohlc_quote(&f.quote.ohlc)),
            Some(Full {
                exchange_ts: ts(f.exchange_timestamp),
                ..Full::default()
            }),
        ),
        Packet::Quote(q) => (Some(tradable_quote(q)), None),
        Packet::Full(f) => (Some(tradable_quote(&f.quote)), Some(tradable_full(f))),
    };
    Tick {
        token,
        divisor: Segment::of_token(token).price_divisor(),
        ltp: i64::from(p.last_price()),
        quote,
        full,
        received_ms,
        src: Source::Ws,
    }
}

fn tradable_quote(q: &feedgate_kite::QuotePacket) -> Quote {
    Quote {
        volume: Some(u64::from(q.volume_traded)),
        last_qty: Some(u64::from(q.last_traded_quantity)),
        avg_price: Some(i64::from(q.average_traded_price)),
        buy_qty: Some(u64::from(q.total_buy_quantity)),
        sell_qty: Some(u64::from(q.total_sell_quantity)),
        ..ohlc_quote(&q.ohlc)
    }
}

fn tradable_full(f: &feedgate_kite::FullPacket) -> Full {
    Full {
        exchange_ts: ts(f.exchange_timestamp),
        last_trade_ts: ts(f.last_trade_time),
        oi: Some(u64::from(f.oi)),
        oi_day_high: Some(u64::from(f.oi_day_high)),
        oi_day_low: Some(u64::from(f.oi_day_low)),
        depth: Some(Depth {
            buy: f.depth.buy.map(level),
            sell: f.depth.sell.map(level),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(items: &[(u32, Mode)]) -> Demand {
        items.iter().copied().collect()
    }

    fn texts(msgs: &[Message]) -> Vec<String> {
        msgs.iter()
            .map(|m| m.to_text().unwrap().to_string())
            .collect()
    }

    #[test]
    fn url_carries_the_credentials() {
        let w = KiteWire::new("ws://127.0.0.1:9/", "key");
        assert_eq!(
            w.url("a b"),
            "ws://127.0.0.1:9/?api_key=key&access_token=a%20b"
        );
    }

    #[test]
    fn fresh_socket_subscribes_then_sets_modes() {
        let w = KiteWire::new("ws://x", "k");
        let mut out = Vec::new();
        w.diff(
            &Demand::new(),
            &demand(&[(1, Mode::Full), (2, Mode::Quote), (3, Mode::Full)]),
            &mut out,
        );
        assert_eq!(
            texts(&out),
            [
                r#"{"a":"subscribe","v":[1,2,3]}"#,
                r#"{"a":"mode","v":["quote",[2]]}"#,
                r#"{"a":"mode","v":["full",[1,3]]}"#,
            ]
        );
    }

    #[test]
    fn incremental_changes_send_only_the_difference() {
        let w = KiteWire::new("ws://x", "k");
        let mut out = Vec::new();
        let from = demand(&[(1, Mode::Quote), (2, Mode::Quote)]);
        let to = demand(&[(2, Mode::Ltp), (4, Mode::Quote)]);
        w.diff(&from, &to, &mut out);
        assert_eq!(
            texts(&out),
            [
                r#"{"a":"unsubscribe","v":[1]}"#,
                r#"{"a":"subscribe","v":[4]}"#,
                r#"{"a":"mode","v":["ltp",[2]]}"#,
                r#"{"a":"mode","v":["quote",[4]]}"#,
            ]
        );
        out.clear();
        w.diff(&to, &to, &mut out);
        assert!(out.is_empty(), "no change, no frames");
    }

    #[test]
    fn large_demand_is_batched_by_200() {
        let w = KiteWire::new("ws://x", "k");
        let to: Demand = (1..=450).map(|t| (t, Mode::Quote)).collect();
        let mut out = Vec::new();
        w.diff(&Demand::new(), &to, &mut out);
        let subs: Vec<_> = texts(&out)
            .into_iter()
            .filter(|t| t.contains("subscribe"))
            .collect();
        assert_eq!(subs.len(), 3);
        let modes = texts(&out)
            .into_iter()
            .filter(|t| t.contains("mode"))
            .count();
        assert_eq!(modes, 3);
    }

    #[test]
    fn decodes_frames_heartbeats_and_text() {
        use bytes::BytesMut;
        let mut w = KiteWire::new("ws://x", "k");
        let mut buf = BytesMut::new();
        let packets = [Packet::Ltp(feedgate_kite::LtpPacket {
            token: (1000 << 8) | 3,
            last_price: 832_500_000,
        })];
        feedgate_kite::encode_frame(&packets, &mut buf);
        let mut ticks = Vec::new();
        let got = w.decode(&Message::Binary(buf.freeze()), 5, &mut ticks);
        assert_eq!(got, Inbound::Data { skipped: 0 });
        assert_eq!(ticks[0].divisor, 10_000_000, "CDS divisor");
        assert_eq!(ticks[0].ltp, 832_500_000);

        let hb = w.decode(&Message::Binary(vec![0u8].into()), 5, &mut ticks);
        assert_eq!(hb, Inbound::Heartbeat);
        let bad = w.decode(&Message::Binary(vec![0, 3, 0, 8, 1].into()), 5, &mut ticks);
        assert!(matches!(bad, Inbound::Malformed { .. }));
        let err = w.decode(
            &Message::text(r#"{"type":"error","data":"boom"}"#),
            5,
            &mut ticks,
        );
        assert_eq!(
            err,
            Inbound::Notice {
                error: true,
                text: "boom".into()
            }
        );
    }

    #[test]
    fn an_order_postback_is_carried_as_received() {
        let mut w = KiteWire::new("ws://x", "k");
        let raw = r#"{"type":"order","data":{"order_id":"261207000000001","status":"COMPLETE","quantity":5}}"#;
        let mut ticks = Vec::new();
        let got = w.decode(&Message::text(raw), 5, &mut ticks);
        let Inbound::Order(update) = got else {
            panic!("{got:?}");
        };
        assert_eq!(update.text.as_str(), raw, "unchanged, byte for byte");
        assert_eq!(update.order_id, "261207000000001");
        assert_eq!(update.status, "COMPLETE");
        assert!(ticks.is_empty());
        let bare = w.decode(
            &Message::text(r#"{"type":"order","data":{"x":1}}"#),
            5,
            &mut ticks,
        );
        assert!(
            matches!(&bare, Inbound::Order(u) if u.order_id.is_empty() && u.status.is_empty()),
            "{bare:?}"
        );
    }

    #[test]
    fn full_packet_becomes_a_full_tick() {
        let f = feedgate_kite::FullPacket {
            quote: feedgate_kite::QuotePacket {
                token: 408_065,
                last_price: 157_370,
                last_traded_quantity: 7,
                average_traded_price: 157_037,
                volume_traded: 1_192_471,
                total_buy_quantity: 256_443,
                total_sell_quantity: 363_009,
                ohlc: feedgate_kite::Ohlc {
                    open: 156_915,
                    high: 157_500,
                    low: 156_105,
                    close: 156_780,
                },
            },
            last_trade_time: 1_625_461_887,
            oi: 0,
            oi_day_high: 0,
            oi_day_low: 0,
            exchange_timestamp: 1_625_461_887,
            depth: feedgate_kite::Depth::default(),
        };
        let t = tick_from_packet(&Packet::Full(f), 1);
        assert_eq!(t.mode(), Mode::Full);
        assert_eq!(t.volume(), Some(1_192_471));
        assert_eq!(t.exchange_ts(), Some(1_625_461_887));
        assert_eq!(t.quote.unwrap().close, 156_780);
    }
}

//! Normalised ticks back into Kite ticker packets (kite.md §3), for the `/kite` endpoint: the
//! inverse of `brokers::kite::wire::tick_from_packet`, so a packet that came from Kite goes out
//! byte for byte as it came in.
//!
//! A subscriber's mode picks the layout, but never more than the tick carries: a quote-mode
//! tick for a full-mode subscriber goes out as a quote packet rather than a full one padded with
//! zeros, which a Kite app would read as an empty order book and a zero open interest.
//!
//! Prices are rescaled to the divisor Kite clients derive from the token's segment when the
//! tick's own divisor differs (a Fyers instrument served under its Kite-compatible token).

use crate::model::tick::{Mode, Tick};
use bytes::{Bytes, BytesMut};
use feedgate_kite::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Ohlc, Packet,
    QuotePacket, Segment, encode_packet,
};
use feedgate_market::Level;

/// The packet body (without its length prefix) of `tick` for a subscriber in `mode`.
pub fn encode(tick: &Tick, mode: Mode) -> Bytes {
    let packet = packet_of(tick, mode);
    let mut out = BytesMut::with_capacity(packet.wire_len());
    encode_packet(&packet, &mut out);
    out.freeze()
}

/// The Kite packet of `tick` in `mode`, or in the richest mode below it that the tick carries.
pub fn packet_of(tick: &Tick, mode: Mode) -> Packet {
    let segment = Segment::of_token(tick.token);
    let px = Rescale::new(tick.divisor, segment.price_divisor());
    let token = tick.token;
    let last_price = px.price(tick.ltp);
    let ltp = Packet::Ltp(LtpPacket { token, last_price });
    let Some(q) = tick.quote.filter(|_| mode >= Mode::Quote) else {
        return ltp;
    };
    let full = tick.full.filter(|_| mode == Mode::Full);
    if segment.is_index() {
        let quote = IndexQuotePacket {
            token,
            last_price,
            ohlc: px.ohlc(q.open, q.high, q.low, q.close),
            change: px.price(tick.ltp.saturating_sub(q.close)),
        };
        return match full {
            Some(f) => Packet::IndexFull(IndexFullPacket {
                quote,
                exchange_timestamp: secs(f.exchange_ts),
            }),
            None => Packet::IndexQuote(quote),
        };
    }
    let quote = QuotePacket {
        token,
        last_price,
        last_traded_quantity: qty(q.last_qty),
        average_traded_price: q.avg_price.map_or(0, |p| px.price(p)),
        volume_traded: qty(q.volume),
        total_buy_quantity: qty(q.buy_qty),
        total_sell_quantity: qty(q.sell_qty),
        ohlc: px.ohlc(q.open, q.high, q.low, q.close),
    };
    let Some(f) = full else {
        return Packet::Quote(quote);
    };
    let depth = f.depth.unwrap_or_default();
    Packet::Full(FullPacket {
        quote,
        last_trade_time: secs(f.last_trade_ts),
        oi: qty(f.oi),
        oi_day_high: qty(f.oi_day_high),
        oi_day_low: qty(f.oi_day_low),
        exchange_timestamp: secs(f.exchange_ts),
        depth: Depth {
            buy: depth.buy.map(|l| px.level(l)),
            sell: depth.sell.map(|l| px.level(l)),
        },
    })
}

/// Converts prices from the tick's divisor to the segment's.
#[derive(Debug, Clone, Copy)]
struct Rescale {
    from: i64,
    to: i64,
}

impl Rescale {
    fn new(from: u32, to: u32) -> Self {
        Self {
            from: i64::from(from.max(1)),
            to: i64::from(to.max(1)),
        }
    }

    /// Rounded half away from zero, then clamped into the wire's `i32`.
    fn price(self, raw: i64) -> i32 {
        let scaled = if self.from == self.to {
            raw
        } else {
            let num = i128::from(raw) * i128::from(self.to);
            let den = i128::from(self.from);
            let half = den / 2;
            let r = if num >= 0 {
                (num + half) / den
            } else {
                (num - half) / den
            };
            i64::try_from(r).unwrap_or(if r < 0 { i64::MIN } else { i64::MAX })
        };
        i32::try_from(scaled).unwrap_or(if scaled < 0 { i32::MIN } else { i32::MAX })
    }

    fn ohlc(self, open: i64, high: i64, low: i64, close: i64) -> Ohlc {
        Ohlc {
            open: self.price(open),
            high: self.price(high),
            low: self.price(low),
            close: self.price(close),
        }
    }

    fn level(self, l: Level) -> DepthLevel {
        DepthLevel {
            quantity: u32::try_from(l.quantity).unwrap_or(u32::MAX),
            price: self.price(l.price),
            orders: u16::try_from(l.orders).unwrap_or(u16::MAX),
        }
    }
}

fn qty(v: Option<u64>) -> u32 {
    v.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// Unix seconds as the wire's `u32`; unknown (or out of range) is 0, as Kite sends it.
fn secs(ts: Option<i64>) -> u32 {
    ts.and_then(|t| u32::try_from(t).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brokers::kite::wire::tick_from_packet;
    use crate::model::tick::{Full, Quote, Source};
    use feedgate_kite::decode_packet;
    use proptest::prelude::*;

    fn arb_ohlc() -> impl Strategy<Value = Ohlc> {
        (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()).prop_map(
            |(open, high, low, close)| Ohlc {
                open,
                high,
                low,
                close,
            },
        )
    }

    fn arb_level() -> impl Strategy<Value = DepthLevel> {
        (any::<u32>(), any::<i32>(), any::<u16>()).prop_map(|(quantity, price, orders)| {
            DepthLevel {
                quantity,
                price,
                orders,
            }
        })
    }

    fn arb_quote(token: u32) -> impl Strategy<Value = QuotePacket> {
        (any::<i32>(), any::<[u32; 5]>(), any::<i32>(), arb_ohlc()).prop_map(
            move |(last_price, q, average_traded_price, ohlc)| QuotePacket {
                token,
                last_price,
                last_traded_quantity: q[0],
                average_traded_price,
                volume_traded: q[1],
                total_buy_quantity: q[2],
                total_sell_quantity: q[3],
                ohlc,
            },
        )
    }

    /// Tradable tokens (segment 1 = NSE, 3 = CDS, 6 = BCD) and index tokens (segment 9).
    fn arb_packet() -> impl Strategy<Value = Packet> {
        let tradable = prop_oneof![Just(1u32), Just(3), Just(6), Just(2)]
            .prop_flat_map(|seg| (1u32..0x00ff_ffff).prop_map(move |t| (t << 8) | seg));
        let index = (1u32..0x00ff_ffff).prop_map(|t| (t << 8) | 9);
        prop_oneof![
            (tradable.clone(), any::<i32>())
                .prop_map(|(token, last_price)| Packet::Ltp(LtpPacket { token, last_price })),
            tradable
                .clone()
                .prop_flat_map(arb_quote)
                .prop_map(Packet::Quote),
            (
                tradable.prop_flat_map(arb_quote),
                any::<[u32; 5]>(),
                proptest::array::uniform5(arb_level()),
                proptest::array::uniform5(arb_level()),
            )
                .prop_map(|(quote, n, buy, sell)| Packet::Full(FullPacket {
                    quote,
                    last_trade_time: n[0],
                    oi: n[1],
                    oi_day_high: n[2],
                    oi_day_low: n[3],
                    exchange_timestamp: n[4],
                    depth: Depth { buy, sell },
                })),
            (index.clone(), any::<i32>(), arb_ohlc()).prop_map(|(token, last_price, ohlc)| {
                Packet::IndexQuote(IndexQuotePacket {
                    token,
                    last_price,
                    ohlc,
                    change: change(last_price, ohlc.close),
                })
            }),
            (index, any::<i32>(), arb_ohlc(), any::<u32>()).prop_map(
                |(token, last_price, ohlc, exchange_timestamp)| {
                    Packet::IndexFull(IndexFullPacket {
                        quote: IndexQuotePacket {
                            token,
                            last_price,
                            ohlc,
                            change: change(last_price, ohlc.close),
                        },
                        exchange_timestamp,
                    })
                }
            ),
        ]
    }

    /// What the simulator (and, as far as anyone can tell, Kite) puts in the index packet's
    /// change field: last minus close, clamped like our encoder clamps it.
    fn change(last: i32, close: i32) -> i32 {
        let d = i64::from(last) - i64::from(close);
        i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX })
    }

    proptest! {
        /// A Kite packet decoded into a tick and encoded again in its own mode is the same
        /// packet, byte for byte: nothing the Kite feed sent is lost on the way through.
        #[test]
        fn a_kite_packet_survives_the_round_trip(p in arb_packet()) {
            let tick = tick_from_packet(&p, 1);
            let bytes = encode(&tick, p.mode());
            let mut want = BytesMut::new();
            encode_packet(&p, &mut want);
            prop_assert_eq!(&bytes[..], &want[..]);
            prop_assert_eq!(decode_packet(&bytes), Some(p));
        }

        /// A lower mode is the prefix Kite would send for it.
        #[test]
        fn a_lower_mode_is_the_smaller_packet(p in arb_packet()) {
            let tick = tick_from_packet(&p, 1);
            for mode in Mode::ALL.into_iter().filter(|m| *m <= p.mode()) {
                let got = packet_of(&tick, mode);
                prop_assert_eq!(got.mode(), mode);
                prop_assert_eq!(got.token(), p.token());
                prop_assert_eq!(got.last_price(), p.last_price());
            }
        }
    }

    #[test]
    fn a_tick_without_the_mode_s_fields_goes_out_in_the_mode_it_has() {
        let tick = Tick {
            token: 408_065,
            divisor: 100,
            ltp: 157_370,
            quote: None,
            full: None,
            received_ms: 0,
            src: Source::Ws,
        };
        assert_eq!(packet_of(&tick, Mode::Full).mode(), Mode::Ltp);
        let quoted = Tick {
            quote: Some(Quote::default()),
            ..tick
        };
        assert_eq!(packet_of(&quoted, Mode::Full).mode(), Mode::Quote);
        let full = Tick {
            full: Some(Full::default()),
            ..quoted
        };
        assert_eq!(packet_of(&full, Mode::Quote).mode(), Mode::Quote);
        assert_eq!(encode(&full, Mode::Full).len(), Packet::FULL_LEN);
    }

    #[test]
    fn prices_follow_the_segment_divisor() {
        // A CDS instrument (segment 3, divisor 10^7) whose tick came in paise-like units of
        // 10^4: 83.5 becomes 835_000_000 on the wire.
        let tick = Tick {
            token: (1000 << 8) | 3,
            divisor: 10_000,
            ltp: 835_000,
            quote: None,
            full: None,
            received_ms: 0,
            src: Source::Rest,
        };
        assert_eq!(packet_of(&tick, Mode::Ltp).last_price(), 835_000_000);
        // And down: 10^4 → 10^2 rounds half away from zero.
        let r = Rescale::new(10_000, 100);
        assert_eq!(r.price(1_234_550), 12_346);
        assert_eq!(r.price(-1_234_550), -12_346);
        assert_eq!(r.price(i64::MAX), i32::MAX, "clamped, never wrapped");
    }
}

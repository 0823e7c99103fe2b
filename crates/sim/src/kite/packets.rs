//! Conversion of the broker-neutral market state into Kite ticker packets for a mode: the
//! 8-byte LTP packet for any instrument, 28/32-byte index packets, 44/184-byte tradable packets.
//! Encoding itself is `feedgate_kite`'s.

use crate::market::{Level, Quote};
use crate::universe::Instrument;
use feedgate_kite::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Mode, Ohlc,
    Packet, QuotePacket,
};

/// The packet Kite sends for `inst` in `mode`.
pub(crate) fn packet(inst: &Instrument, q: &Quote, mode: Mode) -> Packet {
    let token = inst.token;
    let ohlc = Ohlc {
        open: price(q.open),
        high: price(q.high),
        low: price(q.low),
        close: price(q.close),
    };
    if mode == Mode::Ltp {
        return Packet::Ltp(LtpPacket {
            token,
            last_price: price(q.last_price),
        });
    }
    if inst.is_index() {
        let quote = IndexQuotePacket {
            token,
            last_price: price(q.last_price),
            ohlc,
            // Bytes 24..28: we send ltp − close in wire units, as kite.md §3.3 suggests.
            change: price(q.last_price - q.close),
        };
        return match mode {
            Mode::Full => Packet::IndexFull(IndexFullPacket {
                quote,
                exchange_timestamp: secs(q.exchange_time),
            }),
            _ => Packet::IndexQuote(quote),
        };
    }
    let quote = QuotePacket {
        token,
        last_price: price(q.last_price),
        last_traded_quantity: qty(q.last_quantity),
        average_traded_price: price(q.average_price),
        volume_traded: qty(q.volume),
        total_buy_quantity: qty(q.buy_quantity),
        total_sell_quantity: qty(q.sell_quantity),
        ohlc,
    };
    match mode {
        Mode::Full => Packet::Full(FullPacket {
            quote,
            last_trade_time: secs(q.last_trade_time),
            oi: qty(q.oi),
            oi_day_high: qty(q.oi_day_high),
            oi_day_low: qty(q.oi_day_low),
            exchange_timestamp: secs(q.exchange_time),
            depth: Depth {
                buy: q.bids.map(level),
                sell: q.asks.map(level),
            },
        }),
        _ => Packet::Quote(quote),
    }
}

fn level(l: Level) -> DepthLevel {
    DepthLevel {
        quantity: qty(l.quantity),
        price: price(l.price),
        orders: u16::try_from(l.orders).unwrap_or(u16::MAX),
    }
}

// The universe keeps every price inside i32 (the largest is CDS at ~10^9 wire units with a 3 %
// band), so saturation below never triggers in practice; it only keeps the conversion total.
fn price(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// Kite's quantities are u32 on the wire. Cumulative volume could only pass u32::MAX after
/// hours at benchmark rates; it then saturates (see the crate documentation).
fn qty(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn secs(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    fn quote() -> Quote {
        let mut q = Quote {
            last_price: 157_370,
            last_quantity: 7,
            average_price: 157_037,
            volume: 1_192_471,
            buy_quantity: 256_443,
            sell_quantity: 363_009,
            open: 156_915,
            high: 157_500,
            low: 156_105,
            close: 156_780,
            oi: 10,
            oi_day_high: 12,
            oi_day_low: 9,
            last_trade_time: 1_625_461_887,
            exchange_time: 1_625_461_887,
            ..Quote::default()
        };
        q.bids[0] = Level {
            price: 157_340,
            quantity: 5,
            orders: 1,
        };
        q.asks[0] = Level {
            price: 157_370,
            quantity: 172,
            orders: 3,
        };
        q
    }

    #[test]
    fn packet_kind_follows_mode_and_segment() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let infy = u.get(u.index_of_symbol("NSE:INFY").unwrap()).unwrap();
        let nifty = u.get(u.index_of_symbol("NSE:NIFTY 50").unwrap()).unwrap();
        let cases = [
            (infy, Mode::Ltp, Packet::LTP_LEN),
            (infy, Mode::Quote, Packet::QUOTE_LEN),
            (infy, Mode::Full, Packet::FULL_LEN),
            (nifty, Mode::Ltp, Packet::LTP_LEN),
            (nifty, Mode::Quote, Packet::INDEX_QUOTE_LEN),
            (nifty, Mode::Full, Packet::INDEX_FULL_LEN),
        ];
        for (inst, mode, len) in cases {
            let p = packet(inst, &quote(), mode);
            assert_eq!(p.wire_len(), len, "{} {mode:?}", inst.tradingsymbol);
            assert_eq!(p.token(), inst.token);
            assert_eq!(p.last_price(), 157_370);
        }
    }

    #[test]
    fn full_packet_carries_every_field() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let infy = u.get(u.index_of_symbol("NSE:INFY").unwrap()).unwrap();
        let Packet::Full(p) = packet(infy, &quote(), Mode::Full) else {
            panic!("not a full packet");
        };
        assert_eq!(p.quote.volume_traded, 1_192_471);
        assert_eq!(p.quote.ohlc.open, 156_915);
        assert_eq!(p.quote.ohlc.close, 156_780);
        assert_eq!(p.oi_day_high, 12);
        assert_eq!(p.exchange_timestamp, 1_625_461_887);
        assert_eq!(
            p.depth.sell[0],
            DepthLevel {
                quantity: 172,
                price: 157_370,
                orders: 3
            }
        );
    }

    #[test]
    fn index_change_is_ltp_minus_close() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let nifty = u.get(u.index_of_symbol("NSE:NIFTY 50").unwrap()).unwrap();
        let Packet::IndexQuote(p) = packet(nifty, &quote(), Mode::Quote) else {
            panic!("not an index quote");
        };
        assert_eq!(p.change, 157_370 - 156_780);
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(price(i64::MAX), i32::MAX);
        assert_eq!(price(i64::MIN), i32::MIN);
        assert_eq!(qty(u64::MAX), u32::MAX);
        assert_eq!(secs(-1), 0);
    }
}
